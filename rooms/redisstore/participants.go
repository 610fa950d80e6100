package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/rooms"
)

// roomFullReply is the error reply of a join refused by the room's bound.
const roomFullReply = "ROOMFULL"

// The participant scripts. Each runs in one step on the room's keys (KEYS
// as in roomKeys.all) and keeps its invariants: an entry is in members,
// avatars and holds; its holder, if any, maps back to it in holders; it is
// in gone exactly while disconnected, and in its node's held set exactly
// while connected on one.
var (
	// ARGV: prefix, roomID, socket, username, avatar, node, now (Unix ms),
	// retention (ms, 0: none), max (0: none). Returns 1, NOROOM or
	// ROOMFULL.
	upsertParticipantScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
local prefix, room, socket, name, avatar, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local now, retention, max = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])

-- Deletes a disconnected entry (pruned or evicted).
local function remove(n)
  local _, _, holdSocket = parseHold(redis.call('HGET', KEYS[5], n))
  if holdSocket ~= '' then
    redis.call('HDEL', KEYS[6], holdSocket)
  end
  redis.call('ZREM', KEYS[7], goneMember(redis.call('ZSCORE', KEYS[3], n), n))
  redis.call('ZREM', KEYS[3], n)
  redis.call('HDEL', KEYS[4], n)
  redis.call('HDEL', KEYS[5], n)
end

local held = redis.call('HGET', KEYS[6], socket)
if held == name then held = false end
local rank = redis.call('ZSCORE', KEYS[3], name)
-- Refuse before changing anything: every disconnected entry can make room,
-- the socket's previous one too.
if not rank and max > 0 then
  local connected = redis.call('ZCARD', KEYS[3]) - redis.call('ZCARD', KEYS[7])
  if held and parseHold(redis.call('HGET', KEYS[5], held)) then connected = connected - 1 end
  if connected >= max then return redis.error_reply('` + roomFullReply + `') end
end
if held then
  -- Released: disconnected now, held by nobody.
  local connected, holder = parseHold(redis.call('HGET', KEYS[5], held))
  if connected then
    if holder ~= '' then
      redis.call('SREM', heldKey(prefix, room, holder), held)
    end
    redis.call('ZADD', KEYS[7], now, goneMember(redis.call('ZSCORE', KEYS[3], held), held))
  end
  redis.call('HSET', KEYS[5], held, hold('0', holder, ''))
  redis.call('HDEL', KEYS[6], socket)
end
if rank then
  local connected, holder, holdSocket = parseHold(redis.call('HGET', KEYS[5], name))
  if not connected then
    redis.call('ZREM', KEYS[7], goneMember(rank, name))
  elseif holder ~= '' then
    redis.call('SREM', heldKey(prefix, room, holder), name)
  end
  if holdSocket ~= '' and holdSocket ~= socket then
    redis.call('HDEL', KEYS[6], holdSocket)
  end
else
  if retention > 0 then
    local cutoff = string.format('(%d', now - retention)
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', cutoff)) do
      remove(string.sub(m, 17))
    end
  end
  while max > 0 and redis.call('ZCARD', KEYS[3]) >= max do
    local oldest = redis.call('ZRANGE', KEYS[7], 0, 0)
    if #oldest == 0 then break end
    remove(string.sub(oldest[1], 17))
  end
  rank = redis.call('HINCRBY', KEYS[1], '` + fieldRank + `', 1)
  redis.call('ZADD', KEYS[3], rank, name)
end
redis.call('HSET', KEYS[4], name, avatar)
redis.call('HSET', KEYS[5], name, hold('1', node, socket))
redis.call('HSET', KEYS[6], socket, name)
if node ~= '' then
  redis.call('SADD', heldKey(prefix, room, node), name)
end
return 1
`)

	// ARGV: prefix, roomID, socketID, nodeID ("" for any), now (Unix ms).
	// Returns {1 when it disconnected the entry the socket holds, else 0
	// (a missing room included); how many entries nodeID still holds
	// connected in the room (0 for "")}.
	disconnectParticipantScript = newScript(`
local function remaining()
  if ARGV[4] == '' then return 0 end
  return redis.call('SCARD', heldKey(ARGV[1], ARGV[2], ARGV[4]))
end
if redis.call('EXISTS', KEYS[1]) == 0 then return {0, remaining()} end
local name = redis.call('HGET', KEYS[6], ARGV[3])
if not name then return {0, remaining()} end
local connected, node, socket = parseHold(redis.call('HGET', KEYS[5], name))
if not connected or (ARGV[4] ~= '' and node ~= ARGV[4]) then return {0, remaining()} end
redis.call('HSET', KEYS[5], name, hold('0', node, socket))
redis.call('ZADD', KEYS[7], ARGV[5], goneMember(redis.call('ZSCORE', KEYS[3], name), name))
if node ~= '' then
  redis.call('SREM', heldKey(ARGV[1], ARGV[2], node), name)
end
return {1, remaining()}
`)

	// ARGV: prefix, roomID, old socketID, new socketID, nodeID. Returns 1,
	// or 0 when the room is missing, the old socket holds no entry or the
	// new one holds one already.
	reclaimParticipantScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local prefix, room, old, new, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local name = redis.call('HGET', KEYS[6], old)
if not name or (old ~= new and redis.call('HEXISTS', KEYS[6], new) == 1) then return 0 end
local connected, holder = parseHold(redis.call('HGET', KEYS[5], name))
if connected then
  if holder ~= '' then
    redis.call('SREM', heldKey(prefix, room, holder), name)
  end
else
  redis.call('ZREM', KEYS[7], goneMember(redis.call('ZSCORE', KEYS[3], name), name))
end
redis.call('HDEL', KEYS[6], old)
redis.call('HSET', KEYS[6], new, name)
redis.call('HSET', KEYS[5], name, hold('1', node, new))
if node ~= '' then
  redis.call('SADD', heldKey(prefix, room, node), name)
end
return 1
`)

	// Returns username, avatar, hold, username, ... in list order, or
	// NOROOM.
	participantsScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
local out = {}
for _, name in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  out[#out + 1] = name
  out[#out + 1] = redis.call('HGET', KEYS[4], name) or ''
  out[#out + 1] = redis.call('HGET', KEYS[5], name) or ''
end
return out
`)
)

// UpsertParticipant implements rooms.Store. The room is listed under
// p.NodeID, when set, before the entry is held there: see nodeIndex.
func (s *Store) UpsertParticipant(ctx context.Context, p rooms.Participant, limits rooms.ParticipantLimits) error {
	// Times are whole milliseconds; a retention is rounded up, so that a
	// positive one never reads as none (0).
	retention := int64(0)
	if limits.Retention > 0 {
		retention = int64((limits.Retention + time.Millisecond - 1) / time.Millisecond)
	}
	return s.nodeRooms.add(ctx, p.NodeID, p.RoomID, func() error {
		err := upsertParticipantScript.Run(ctx, s.client, s.roomKeys(p.RoomID).all(),
			s.prefix, p.RoomID, p.SocketID, p.Username, p.Avatar, p.NodeID,
			limits.Now.UnixMilli(), retention, max(limits.Max, 0)).Err()
		switch {
		case isNoRoom(err):
			return rooms.RoomNotFound(p.RoomID)
		case redis.HasErrorPrefix(err, roomFullReply):
			return rooms.RoomFull(p.RoomID, limits.Max)
		case err != nil:
			return unavailable("upsert participant", err)
		}
		return nil
	})
}

// DisconnectParticipant implements rooms.Store. When nodeID then holds
// nothing more in the room, the room leaves the node's set.
func (s *Store) DisconnectParticipant(ctx context.Context, roomID, socketID, nodeID string, at time.Time) (bool, error) {
	var changed bool
	err := s.nodeRooms.remove(ctx, nodeID, roomID, func() (bool, error) {
		reply, err := disconnectParticipantScript.Run(ctx, s.client, s.roomKeys(roomID).all(),
			s.prefix, roomID, socketID, nodeID, at.UnixMilli()).Int64Slice()
		if err != nil {
			return false, unavailable("disconnect participant", err)
		}
		if len(reply) != 2 {
			return false, corrupt("disconnect participant", roomID, "reply", fmt.Errorf("%v", reply))
		}
		changed = reply[0] == 1
		return reply[1] == 0, nil
	})
	return changed, err
}

// ReclaimParticipant implements rooms.Store.
func (s *Store) ReclaimParticipant(ctx context.Context, roomID, oldSocketID, newSocketID, nodeID string) (bool, error) {
	var found bool
	err := s.nodeRooms.add(ctx, nodeID, roomID, func() error {
		n, err := reclaimParticipantScript.Run(ctx, s.client, s.roomKeys(roomID).all(),
			s.prefix, roomID, oldSocketID, newSocketID, nodeID).Int64()
		if err != nil {
			return unavailable("reclaim participant", err)
		}
		found = n == 1
		return nil
	})
	return found, err
}

// Participants implements rooms.Store.
func (s *Store) Participants(ctx context.Context, roomID string) ([]rooms.Participant, error) {
	raw, err := participantsScript.Run(ctx, s.client, s.roomKeys(roomID).all()).StringSlice()
	switch {
	case isNoRoom(err):
		return nil, rooms.RoomNotFound(roomID)
	case err != nil:
		return nil, unavailable("list participants", err)
	}
	if len(raw)%3 != 0 {
		return nil, corrupt("list participants", roomID, "reply", fmt.Errorf("%d fields, not username/avatar/hold triples", len(raw)))
	}
	out := make([]rooms.Participant, 0, len(raw)/3)
	for i := 0; i < len(raw); i += 3 {
		name, avatar := raw[i], raw[i+1]
		connected, node, socket, err := parseHold(raw[i+2])
		if err != nil {
			return nil, corrupt("list participants", roomID, "hold of "+name, err)
		}
		out = append(out, rooms.Participant{
			RoomID:    roomID,
			Username:  name,
			Avatar:    avatar,
			Connected: connected,
			SocketID:  socket,
			NodeID:    node,
		})
	}
	return out, nil
}

// parseHold reads an entry's hold as the Lua prelude's hold writes it.
func parseHold(h string) (connected bool, node, socket string, err error) {
	if len(h) < 3 || (h[0] != '0' && h[0] != '1') {
		return false, "", "", fmt.Errorf("%q: not a hold", h)
	}
	length, rest, ok := strings.Cut(h[1:], ":")
	n, convErr := strconv.Atoi(length)
	if !ok || convErr != nil || n < 0 || n > len(rest) {
		return false, "", "", errors.Join(fmt.Errorf("%q: not a hold", h), convErr)
	}
	return h[0] == '1', rest[:n], rest[n:], nil
}
