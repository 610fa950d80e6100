package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"chatgateway/rooms"
)

// A session is one hash, in the session key's own hash slot:
//
//	socket, node, live ("1"/"0"), departed (Unix ms, "0" while live),
//	tainted, consumed ("1" when set), claimant, log,
//	room:<roomID> (JSON of the membership), pos:<roomID> (its join rank).
//
// Live sessions are indexed under their node (so a dead node's sessions
// can be departed when it is reaped) and departed ones in one sorted set by
// departure time (so pruning never scans).

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

// Session scripts: KEYS[1] is the session hash, ARGV[1] the prefix and
// ARGV[2] the session key.
var (
	// ARGV: prefix, key, socket, node.
	openSessionScript = newScript(`
local old = redis.call('HGET', KEYS[1], 'node')
if old and old ~= ARGV[4] then
  redis.call('SREM', sessionsOfNode(ARGV[1], old), ARGV[2])
end
redis.call('HSET', KEYS[1], 'socket', ARGV[3], 'node', ARGV[4], 'live', '1', 'departed', '0')
redis.call('SADD', sessionsOfNode(ARGV[1], ARGV[4]), ARGV[2])
redis.call('ZREM', ARGV[1] .. '` + keySessionsByAge + `', ARGV[2])
return 1
`)

	// ARGV: prefix, key, socket, node, roomID, membership JSON. A departed
	// session stays departed.
	addSessionRoomScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'socket', ARGV[3], 'node', ARGV[4], 'live', '1', 'departed', '0')
  redis.call('SADD', sessionsOfNode(ARGV[1], ARGV[4]), ARGV[2])
end
if redis.call('HEXISTS', KEYS[1], '` + sessionPosPrefix + `' .. ARGV[5]) == 0 then
  redis.call('HSET', KEYS[1], '` + sessionPosPrefix + `' .. ARGV[5], redis.call('HINCRBY', KEYS[1], 'npos', 1))
end
redis.call('HSET', KEYS[1], '` + sessionRoomPrefix + `' .. ARGV[5], ARGV[6])
return 1
`)

	// ARGV: prefix, key, node, departed (ms), log.
	departSessionScript = newScript(`
if redis.call('HGET', KEYS[1], 'live') ~= '1' or redis.call('HGET', KEYS[1], 'node') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'live', '0', 'departed', ARGV[4], 'log', ARGV[5])
redis.call('SREM', sessionsOfNode(ARGV[1], ARGV[3]), ARGV[2])
redis.call('ZADD', ARGV[1] .. '` + keySessionsByAge + `', ARGV[4], ARGV[2])
return 1
`)

	// ARGV: prefix, key, node.
	endSessionScript = newScript(`
if redis.call('HGET', KEYS[1], 'live') ~= '1' or redis.call('HGET', KEYS[1], 'node') ~= ARGV[3] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', sessionsOfNode(ARGV[1], ARGV[3]), ARGV[2])
return 1
`)

	// ARGV: prefix, key, claimant, now (ms), grace (ms). Returns
	// {outcome, field, value, ...}.
	claimSessionScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {'refused'} end
local h = redis.call('HMGET', KEYS[1], 'live', 'departed', 'tainted', 'consumed', 'claimant')
if h[3] == '1' or h[4] == '1' then return {'refused'} end
if h[5] and h[5] ~= '' and h[5] ~= ARGV[3] then
  redis.call('HSET', KEYS[1], 'tainted', '1')
  return {'refused'}
end
local outcome = 'granted'
if h[1] == '1' then
  redis.call('HSET', KEYS[1], 'claimant', ARGV[3])
  outcome = 'pending'
elseif tonumber(ARGV[4]) > tonumber(h[2]) + tonumber(ARGV[5]) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', ARGV[1] .. '` + keySessionsByAge + `', ARGV[2])
  return {'refused'}
else
  redis.call('HSET', KEYS[1], 'consumed', '1', 'claimant', '')
end
local out = {outcome}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do out[#out + 1] = v end
return out
`)

	// ARGV: prefix, key, claimant.
	withdrawClaimScript = newScript(`
if redis.call('HGET', KEYS[1], 'claimant') == ARGV[3] then
  redis.call('HSET', KEYS[1], 'claimant', '')
end
return 1
`)

	// ARGV: prefix, key.
	taintSessionScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'tainted', '1') end
return 1
`)

	// ARGV: prefix, key, node, now (ms), window (ms). Returns the session's
	// fields before the take-over, or nothing.
	takeOverSessionScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local h = redis.call('HMGET', KEYS[1], 'live', 'departed', 'node')
local byAge = ARGV[1] .. '` + keySessionsByAge + `'
if h[1] ~= '1' and tonumber(ARGV[4]) > tonumber(h[2]) + tonumber(ARGV[5]) then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', byAge, ARGV[2])
  return {}
end
local out = redis.call('HGETALL', KEYS[1])
if h[3] then redis.call('SREM', sessionsOfNode(ARGV[1], h[3]), ARGV[2]) end
redis.call('HSET', KEYS[1], 'live', '1', 'node', ARGV[3], 'departed', '0')
redis.call('HDEL', KEYS[1], 'log')
redis.call('SADD', sessionsOfNode(ARGV[1], ARGV[3]), ARGV[2])
redis.call('ZREM', byAge, ARGV[2])
return out
`)

	// KEYS[1] is the departure index. ARGV: prefix, before (ms), batch.
	// Returns how many sessions it deleted.
	pruneSessionsScript = newScript(`
local keys = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
for _, k in ipairs(keys) do
  redis.call('DEL', sessionKey(ARGV[1], k))
  redis.call('ZREM', KEYS[1], k)
end
return #keys
`)
)

// OpenSession implements rooms.SessionStore.
func (s *Store) OpenSession(ctx context.Context, key, socketID, nodeID string) error {
	if err := openSessionScript.Run(ctx, s.client, []string{s.sessionKey(key)}, s.prefix, key, socketID, nodeID).Err(); err != nil {
		return unavailable("open session", err)
	}
	return nil
}

// AddSessionRoom implements rooms.SessionStore.
func (s *Store) AddSessionRoom(ctx context.Context, key, socketID, nodeID string, room rooms.SessionRoom) error {
	payload, err := json.Marshal(storedSessionRoom{Username: room.Username, Avatar: room.Avatar, Since: room.Since})
	if err != nil {
		return fmt.Errorf("redisstore: add session room: %w", err)
	}
	if err := addSessionRoomScript.Run(ctx, s.client, []string{s.sessionKey(key)},
		s.prefix, key, socketID, nodeID, room.RoomID, payload).Err(); err != nil {
		return unavailable("add session room", err)
	}
	return nil
}

// DepartSession implements rooms.SessionStore.
func (s *Store) DepartSession(ctx context.Context, key, nodeID string, at time.Time, log []byte) error {
	if err := departSessionScript.Run(ctx, s.client, []string{s.sessionKey(key)},
		s.prefix, key, nodeID, at.UnixMilli(), log).Err(); err != nil {
		return unavailable("depart session", err)
	}
	return nil
}

// EndSession implements rooms.SessionStore.
func (s *Store) EndSession(ctx context.Context, key, nodeID string) error {
	if err := endSessionScript.Run(ctx, s.client, []string{s.sessionKey(key)}, s.prefix, key, nodeID).Err(); err != nil {
		return unavailable("end session", err)
	}
	return nil
}

// ClaimSession implements rooms.SessionStore.
func (s *Store) ClaimSession(ctx context.Context, c rooms.SessionClaim) (rooms.ClaimOutcome, rooms.Session, error) {
	raw, err := claimSessionScript.Run(ctx, s.client, []string{s.sessionKey(c.Key)},
		s.prefix, c.Key, c.Claimant, c.Now.UnixMilli(), c.Grace.Milliseconds()).StringSlice()
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
	if err := withdrawClaimScript.Run(ctx, s.client, []string{s.sessionKey(key)}, s.prefix, key, claimant).Err(); err != nil {
		return unavailable("withdraw claim", err)
	}
	return nil
}

// TaintSessions implements rooms.SessionStore. Each session is in its own
// hash slot, so each is one call.
func (s *Store) TaintSessions(ctx context.Context, keys ...string) error {
	for _, k := range keys {
		if err := taintSessionScript.Run(ctx, s.client, []string{s.sessionKey(k)}, s.prefix, k).Err(); err != nil {
			return unavailable("taint session", err)
		}
	}
	return nil
}

// TakeOverSession implements rooms.SessionStore.
func (s *Store) TakeOverSession(ctx context.Context, key, nodeID string, now time.Time, window time.Duration) (rooms.Session, bool, error) {
	raw, err := takeOverSessionScript.Run(ctx, s.client, []string{s.sessionKey(key)},
		s.prefix, key, nodeID, now.UnixMilli(), window.Milliseconds()).StringSlice()
	if err != nil {
		return rooms.Session{}, false, unavailable("take over session", err)
	}
	if len(raw) == 0 {
		return rooms.Session{}, false, nil
	}
	sess, err := parseSession(key, raw)
	if err != nil {
		return rooms.Session{}, false, err
	}
	return sess, true, nil
}

// PruneSessions implements rooms.SessionStore.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (int, error) {
	total := 0
	for {
		n, err := pruneSessionsScript.Run(ctx, s.client, []string{s.sessionsByAgeKey()}, s.prefix, before.UnixMilli(), pruneBatch).Int()
		if err != nil {
			return total, unavailable("prune sessions", err)
		}
		total += n
		if n < pruneBatch {
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
