package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/rooms"
)

// A session is one hash, in the session key's own hash slot:
//
//	socket, node, live ("1"/"0"), departed (Unix ms, "0" while live),
//	tainted, consumed ("1" when set), claimant, log,
//	room:<roomID> (JSON of the membership), pos:<roomID> (its join rank).
//
// Every session script touches that hash only. Two indexes live elsewhere,
// kept from Go around the scripts: the sessions that may be live on a node
// (a nodeIndex, so a dead node's sessions can be departed when it is
// reaped), and the departed ones by departure time (so pruning never
// scans). The departure index is written before the departure: it holds
// every departed session, and candidates that turned out live or gone,
// which the prune drops.

const (
	partSession       = "session"
	keySessionsByAge  = "sessions:departed"
	sessionRoomPrefix = "room:"
	sessionPosPrefix  = "pos:"
	pruneBatch        = 1000
)

func (s *Store) sessionKey(key string) string {
	return s.prefix + partSession + ":{" + key + "}"
}

func (s *Store) sessionsByAgeKey() string { return s.prefix + keySessionsByAge }

// storedSessionRoom is a membership as kept in the session hash.
type storedSessionRoom struct {
	Username string `json:"u"`
	Avatar   string `json:"a"`
	Since    int64  `json:"s"`
}

// Session scripts: KEYS[1] is the session hash.
var (
	// ARGV: socket, node.
	openSessionScript = newScript(`
redis.call('HSET', KEYS[1], 'socket', ARGV[1], 'node', ARGV[2], 'live', '1', 'departed', '0')
return 1
`)

	// ARGV: socket, node, roomID, membership JSON. A departed session stays
	// departed.
	addSessionRoomScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'socket', ARGV[1], 'node', ARGV[2], 'live', '1', 'departed', '0')
end
if redis.call('HEXISTS', KEYS[1], '` + sessionPosPrefix + `' .. ARGV[3]) == 0 then
  redis.call('HSET', KEYS[1], '` + sessionPosPrefix + `' .. ARGV[3], redis.call('HINCRBY', KEYS[1], 'npos', 1))
end
redis.call('HSET', KEYS[1], '` + sessionRoomPrefix + `' .. ARGV[3], ARGV[4])
return 1
`)

	// ARGV: node, departed (ms), log. Returns 1 when it departed the
	// session.
	departSessionScript = newScript(`
if redis.call('HGET', KEYS[1], 'live') ~= '1' or redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'live', '0', 'departed', ARGV[2], 'log', ARGV[3])
return 1
`)

	// ARGV: node. Departs the session at the server's time if it is live
	// on node (which died): its clients may claim it from any other node.
	departDeadNodeSessionScript = newScript(`
if redis.call('HGET', KEYS[1], 'live') ~= '1' or redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'live', '0', 'departed', tostring(nowMillis()))
return 1
`)

	// ARGV: node.
	endSessionScript = newScript(`
if redis.call('HGET', KEYS[1], 'live') ~= '1' or redis.call('HGET', KEYS[1], 'node') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`)

	// ARGV: claimant, now (ms), grace (ms). Returns {outcome, field, value,
	// ...}.
	claimSessionScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'refused'} end
local h = redis.call('HMGET', KEYS[1], 'live', 'departed', 'tainted', 'consumed', 'claimant')
if h[3] == '1' or h[4] == '1' then return {'refused'} end
if h[5] and h[5] ~= '' and h[5] ~= ARGV[1] then
  redis.call('HSET', KEYS[1], 'tainted', '1')
  return {'refused'}
end
local outcome = 'granted'
if h[1] == '1' then
  redis.call('HSET', KEYS[1], 'claimant', ARGV[1])
  outcome = 'pending'
elseif tonumber(ARGV[2]) > tonumber(h[2]) + tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  return {'refused'}
else
  redis.call('HSET', KEYS[1], 'consumed', '1', 'claimant', '')
end
local out = {outcome}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
`)

	// ARGV: claimant.
	withdrawClaimScript = newScript(`
if redis.call('HGET', KEYS[1], 'claimant') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'claimant', '')
end
return 1
`)

	taintSessionScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'tainted', '1') end
return 1
`)

	// ARGV: node, now (ms), window (ms). Returns the session's fields
	// before the take-over, or nothing.
	takeOverSessionScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local h = redis.call('HMGET', KEYS[1], 'live', 'departed')
if h[1] ~= '1' and tonumber(ARGV[2]) > tonumber(h[2]) + tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  return {}
end
local out = redis.call('HGETALL', KEYS[1])
redis.call('HSET', KEYS[1], 'live', '1', 'node', ARGV[1], 'departed', '0')
redis.call('HDEL', KEYS[1], 'log')
return out
`)

	// ARGV: before (ms). Deletes the session if it departed before
	// `before`. Returns 1 when deleted, 0 when there is no such session
	// any more, -1 when it is live, else its departure time (a later
	// departure than the index said).
	pruneSessionScript = newScript(`
local h = redis.call('HMGET', KEYS[1], 'live', 'departed')
if not h[1] then return 0 end
if h[1] == '1' then return -1 end
if tonumber(h[2]) < tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return tonumber(h[2])
`)

	// KEYS[1] is the departure index. ARGV: key, score, newScore, ... for
	// the candidates a prune visited: each is dropped (newScore "") or
	// moved to newScore, unless its score changed meanwhile (it departed
	// again, and the index was written for that departure).
	settleCandidatesScript = newScript(`
for i = 1, #ARGV, 3 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    if ARGV[i + 2] == '' then
      redis.call('ZREM', KEYS[1], ARGV[i])
    else
      redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i])
    end
  end
end
return 1
`)
)

// OpenSession implements rooms.SessionStore.
func (s *Store) OpenSession(ctx context.Context, key, socketID, nodeID string) error {
	return s.nodeSessions.add(ctx, nodeID, key, func() error {
		if err := openSessionScript.Run(ctx, s.client, []string{s.sessionKey(key)}, socketID, nodeID).Err(); err != nil {
			return unavailable("open session", err)
		}
		return nil
	})
}

// AddSessionRoom implements rooms.SessionStore.
func (s *Store) AddSessionRoom(ctx context.Context, key, socketID, nodeID string, room rooms.SessionRoom) error {
	payload, err := json.Marshal(storedSessionRoom{Username: room.Username, Avatar: room.Avatar, Since: room.Since})
	if err != nil {
		return fmt.Errorf("redisstore: add session room: %w", err)
	}
	return s.nodeSessions.add(ctx, nodeID, key, func() error {
		if err := addSessionRoomScript.Run(ctx, s.client, []string{s.sessionKey(key)},
			socketID, nodeID, room.RoomID, payload).Err(); err != nil {
			return unavailable("add session room", err)
		}
		return nil
	})
}

// DepartSession implements rooms.SessionStore.
func (s *Store) DepartSession(ctx context.Context, key, nodeID string, at time.Time, log []byte) error {
	if err := s.client.ZAdd(ctx, s.sessionsByAgeKey(), redis.Z{Score: float64(at.UnixMilli()), Member: key}).Err(); err != nil {
		return unavailable("depart session", err)
	}
	return s.nodeSessions.remove(ctx, nodeID, key, func() (bool, error) {
		if err := departSessionScript.Run(ctx, s.client, []string{s.sessionKey(key)}, nodeID, at.UnixMilli(), log).Err(); err != nil {
			return false, unavailable("depart session", err)
		}
		return true, nil // not live on nodeID any more, whatever it was
	})
}

// EndSession implements rooms.SessionStore.
func (s *Store) EndSession(ctx context.Context, key, nodeID string) error {
	return s.nodeSessions.remove(ctx, nodeID, key, func() (bool, error) {
		if err := endSessionScript.Run(ctx, s.client, []string{s.sessionKey(key)}, nodeID).Err(); err != nil {
			return false, unavailable("end session", err)
		}
		return true, nil
	})
}

// ClaimSession implements rooms.SessionStore.
func (s *Store) ClaimSession(ctx context.Context, c rooms.SessionClaim) (rooms.ClaimOutcome, rooms.Session, error) {
	raw, err := claimSessionScript.Run(ctx, s.client, []string{s.sessionKey(c.Key)},
		c.Claimant, c.Now.UnixMilli(), c.Grace.Milliseconds()).StringSlice()
	if err != nil {
		return rooms.ClaimRefused, rooms.Session{}, unavailable("claim session", err)
	}
	if len(raw) == 0 {
		return rooms.ClaimRefused, rooms.Session{}, fmt.Errorf("redisstore: claim session: empty reply")
	}
	var outcome rooms.ClaimOutcome
	switch raw[0] {
	case "granted":
		outcome = rooms.ClaimGranted
	case "pending":
		outcome = rooms.ClaimPending
	default:
		return rooms.ClaimRefused, rooms.Session{}, nil
	}
	sess, err := parseSession(c.Key, raw[1:])
	if err != nil {
		return rooms.ClaimRefused, rooms.Session{}, err
	}
	return outcome, sess, nil
}

// WithdrawClaim implements rooms.SessionStore.
func (s *Store) WithdrawClaim(ctx context.Context, key, claimant string) error {
	if err := withdrawClaimScript.Run(ctx, s.client, []string{s.sessionKey(key)}, claimant).Err(); err != nil {
		return unavailable("withdraw claim", err)
	}
	return nil
}

// TaintSessions implements rooms.SessionStore. Each session is in its own
// hash slot, so each is one call.
func (s *Store) TaintSessions(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := taintSessionScript.Run(ctx, s.client, []string{s.sessionKey(k)}).Err(); err != nil {
			return unavailable("taint session", err)
		}
	}
	return nil
}

// TakeOverSession implements rooms.SessionStore.
func (s *Store) TakeOverSession(ctx context.Context, key, nodeID string, now time.Time, window time.Duration) (rooms.Session, bool, error) {
	var raw []string
	err := s.nodeSessions.add(ctx, nodeID, key, func() error {
		var err error
		raw, err = takeOverSessionScript.Run(ctx, s.client, []string{s.sessionKey(key)},
			nodeID, now.UnixMilli(), window.Milliseconds()).StringSlice()
		if err != nil {
			return unavailable("take over session", err)
		}
		return nil
	})
	if err != nil || len(raw) == 0 {
		return rooms.Session{}, false, err
	}
	sess, err := parseSession(key, raw)
	if err != nil {
		return rooms.Session{}, false, err
	}
	return sess, true, nil
}

// PruneSessions implements rooms.SessionStore: it visits the departure
// index's candidates older than before, a batch at a time, each with one
// script on its session's slot (pipelined: one round trip per shard).
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (int, error) {
	total := 0
	cutoff := before.UnixMilli()
	for {
		cands, err := s.client.ZRangeByScoreWithScores(ctx, s.sessionsByAgeKey(), &redis.ZRangeBy{
			Min: "-inf", Max: "(" + strconv.FormatInt(cutoff, 10), Count: pruneBatch,
		}).Result()
		if err != nil {
			return total, unavailable("prune sessions", err)
		}
		if len(cands) == 0 {
			return total, nil
		}
		pipe := s.client.Pipeline()
		cmds := make([]*redis.Cmd, len(cands))
		for i, c := range cands {
			cmds[i] = pruneSessionScript.Run(ctx, pipe, []string{s.sessionKey(c.Member.(string))}, cutoff)
		}
		if _, err := pipe.Exec(ctx); err != nil && !isNoScript(err) {
			return total, unavailable("prune sessions", err)
		}
		settle := make([]any, 0, 3*len(cands))
		for i, c := range cands {
			n, err := runAgainIfNoScript(ctx, s, cmds[i], pruneSessionScript, []string{s.sessionKey(c.Member.(string))}, cutoff)
			if err != nil {
				return total, unavailable("prune sessions", err)
			}
			next := ""
			switch {
			case n == 1:
				total++
			case n > 1:
				next = strconv.FormatInt(n, 10)
			}
			settle = append(settle, c.Member, strconv.FormatInt(int64(c.Score), 10), next)
		}
		if err := settleCandidatesScript.Run(ctx, s.client, []string{s.sessionsByAgeKey()}, settle...).Err(); err != nil {
			return total, unavailable("prune sessions", err)
		}
		if len(cands) < pruneBatch {
			return total, nil
		}
	}
}

// parseSession reads a session hash given as field, value, field, value...
func parseSession(key string, fields []string) (rooms.Session, error) {
	if len(fields)%2 != 0 {
		return rooms.Session{}, fmt.Errorf("redisstore: session %q: %d fields, not pairs", key, len(fields))
	}
	sess := rooms.Session{Key: key}
	type ranked struct {
		room rooms.SessionRoom
		pos  int64
	}
	byRoom := map[string]*ranked{}
	entry := func(roomID string) *ranked {
		r := byRoom[roomID]
		if r == nil {
			r = &ranked{room: rooms.SessionRoom{RoomID: roomID}}
			byRoom[roomID] = r
		}
		return r
	}
	for i := 0; i < len(fields); i += 2 {
		f, v := fields[i], fields[i+1]
		switch {
		case f == "socket":
			sess.SocketID = v
		case f == "node":
			sess.NodeID = v
		case f == "live":
			sess.Live = v == "1"
		case f == "departed":
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return rooms.Session{}, fmt.Errorf("redisstore: session %q: departed %q: %w", key, v, err)
			}
			if ms != 0 {
				sess.DepartedAt = time.UnixMilli(ms).UTC()
			}
		case f == "log":
			if v != "" {
				sess.Log = []byte(v)
			}
		case strings.HasPrefix(f, sessionRoomPrefix):
			var sr storedSessionRoom
			if err := json.Unmarshal([]byte(v), &sr); err != nil {
				return rooms.Session{}, fmt.Errorf("redisstore: session %q: room %q: %w", key, f, err)
			}
			r := entry(strings.TrimPrefix(f, sessionRoomPrefix))
			r.room.Username, r.room.Avatar, r.room.Since = sr.Username, sr.Avatar, sr.Since
		case strings.HasPrefix(f, sessionPosPrefix):
			pos, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return rooms.Session{}, fmt.Errorf("redisstore: session %q: %s %q: %w", key, f, v, err)
			}
			entry(strings.TrimPrefix(f, sessionPosPrefix)).pos = pos
		}
	}
	list := make([]*ranked, 0, len(byRoom))
	for _, r := range byRoom {
		list = append(list, r)
	}
	slices.SortFunc(list, func(a, b *ranked) int { return int(a.pos - b.pos) })
	for _, r := range list {
		sess.Rooms = append(sess.Rooms, r.room)
	}
	return sess, nil
}
