package redisstore

import "github.com/redis/go-redis/v9"

// Key parts, shared by the Go key builders (keys.go) and the Lua prelude.
// Changing one changes the on-disk layout.
const (
	partRoom     = "room"
	partMessages = "messages"
	partPeople   = "people"
	partJoined   = "joined"
	partState    = "state"
	keyNodes     = "nodes"
)

// noRoomReply is the error reply a script returns when the room does not
// exist; the Go side turns it into rooms.RoomNotFound.
const noRoomReply = "NOROOM"

// luaPrelude holds the helpers every script may use. Node index keys and the
// keys of rooms found through the node index are built here, from the prefix
// in ARGV[1], exactly like roomKey and nodeKey build them in Go.
const luaPrelude = `
local function roomKey(prefix, room, part)
  return prefix .. '{' .. room .. '}:' .. part
end
local function nodeKey(prefix, node)
  return prefix .. 'node:{' .. node .. '}:sockets'
end
-- A node index member names (room, socket) unambiguously: the room id's
-- byte length, a colon, the room id, then the socket id.
local function indexMember(room, socket)
  return string.len(room) .. ':' .. room .. socket
end
local function parseIndexMember(m)
  local colon = string.find(m, ':', 1, true)
  local n = tonumber(string.sub(m, 1, colon - 1))
  return string.sub(m, colon + 1, colon + n), string.sub(m, colon + n + 1)
end
local function sessionsOfNode(prefix, node)
  return prefix .. 'node:{' .. node .. '}:sessions'
end
local function sessionKey(prefix, key)
  return prefix .. '` + partSession + `:{' .. key .. '}'
end
-- Marks every session still live on node departed now: the node is gone,
-- so its clients may claim them from any other node.
local function departNodeSessions(prefix, node, now)
  local idx = sessionsOfNode(prefix, node)
  for _, k in ipairs(redis.call('SMEMBERS', idx)) do
    local key = sessionKey(prefix, k)
    if redis.call('HGET', key, 'live') == '1' and redis.call('HGET', key, 'node') == node then
      redis.call('HSET', key, 'live', '0', 'departed', tostring(now))
      redis.call('ZADD', prefix .. '` + keySessionsByAge + `', now, k)
    end
  end
  redis.call('DEL', idx)
end
local function noRoom()
  return redis.error_reply('` + noRoomReply + `')
end
-- Server time in Unix milliseconds: every node shares this clock.
local function nowMillis()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- Marks every participant indexed under node disconnected (unless it moved
-- to another node or was disconnected meanwhile), drops the index and
-- returns the ids of the rooms whose lists changed.
local function disconnectNode(prefix, node)
  local idx = nodeKey(prefix, node)
  local rooms, seen = {}, {}
  for _, m in ipairs(redis.call('SMEMBERS', idx)) do
    local room, socket = parseIndexMember(m)
    local stateKey = roomKey(prefix, room, '` + partState + `')
    if redis.call('HGET', stateKey, socket) == '1' .. node then
      redis.call('HSET', stateKey, socket, '0' .. node)
      if not seen[room] then
        seen[room] = true
        rooms[#rooms + 1] = room
      end
    end
  end
  redis.call('DEL', idx)
  return rooms
end
`

func newScript(body string) *redis.Script { return redis.NewScript(luaPrelude + body) }

// Room scripts take the room's keys in the order of roomKeys.all:
// KEYS[1] room, KEYS[2] messages, KEYS[3] people, KEYS[4] joined, KEYS[5] state.
var (
	// ARGV: creator, createdAt. Returns 1, or 0 when the id is taken.
	createRoomScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
-- Nothing else of the room can exist without its hash; clear it anyway so a
-- new room never inherits stray history.
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
redis.call('HSET', KEYS[1], 'creator', ARGV[1], 'createdAt', ARGV[2])
return 1
`)

	// ARGV: prefix, roomID. Returns 1, or NOROOM.
	closeRoomScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
for _, socket in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
  local state = redis.call('HGET', KEYS[5], socket)
  if state and string.len(state) > 1 then
    redis.call('SREM', nodeKey(ARGV[1], string.sub(state, 2)), indexMember(ARGV[2], socket))
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
`)

	// ARGV: message JSON. Returns the message's order, or NOROOM.
	appendMessageScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
return redis.call('RPUSH', KEYS[2], ARGV[1])
`)

	// ARGV: first index, last index (0-based, both >= 0). Returns the JSON
	// messages, or NOROOM.
	messagesScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
return redis.call('LRANGE', KEYS[2], ARGV[1], ARGV[2])
`)

	// Returns the room's createdAt and the history length, or NOROOM: what
	// a range read is fixed by when it opens.
	openRangeScript = newScript(`
local createdAt = redis.call('HGET', KEYS[1], 'createdAt')
if not createdAt then return noRoom() end
return {createdAt, redis.call('LLEN', KEYS[2])}
`)

	// ARGV: createdAt, first index, last index (0-based). Returns the JSON
	// messages, or NOROOM when the room is gone or is not the one created
	// at createdAt any more.
	rangePageScript = newScript(`
if redis.call('HGET', KEYS[1], 'createdAt') ~= ARGV[1] then return noRoom() end
return redis.call('LRANGE', KEYS[2], ARGV[2], ARGV[3])
`)

	// Returns the history length, or NOROOM.
	lastOrderScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
return redis.call('LLEN', KEYS[2])
`)

	// ARGV: prefix, roomID, socketID, participant JSON, "1"/"0", nodeID.
	// Returns 1, or NOROOM.
	upsertParticipantScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
local prefix, room, socket, node = ARGV[1], ARGV[2], ARGV[3], ARGV[6]
local member = indexMember(room, socket)
local old = redis.call('HGET', KEYS[5], socket)
if old then
  if string.len(old) > 1 then
    redis.call('SREM', nodeKey(prefix, string.sub(old, 2)), member)
  end
else
  redis.call('RPUSH', KEYS[4], socket)
end
redis.call('HSET', KEYS[3], socket, ARGV[4])
redis.call('HSET', KEYS[5], socket, ARGV[5] .. node)
if ARGV[5] == '1' and node ~= '' then
  redis.call('SADD', nodeKey(prefix, node), member)
end
return 1
`)

	// ARGV: prefix, roomID, socketID, "1"/"0", nodeID ("" for any).
	// Returns 1 when the entry exists (held by nodeID), else 0 (a missing
	// room included).
	setConnectedScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[5], ARGV[3])
if not old then return 0 end
local node = string.sub(old, 2)
if ARGV[5] ~= '' and node ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[5], ARGV[3], ARGV[4] .. node)
if node ~= '' then
  local idx, member = nodeKey(ARGV[1], node), indexMember(ARGV[2], ARGV[3])
  if ARGV[4] == '1' then
    redis.call('SADD', idx, member)
  else
    redis.call('SREM', idx, member)
  end
end
return 1
`)

	// ARGV: prefix, roomID, old socketID, new socketID, nodeID. Gives the
	// old socket's entry, in its place, to the new socket, connected.
	// Returns 1, or 0 when the room or entry is missing or the new socket
	// has an entry already.
	reclaimParticipantScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local prefix, room, old, new, node = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local state = redis.call('HGET', KEYS[5], old)
if not state or (old ~= new and redis.call('HEXISTS', KEYS[5], new) == 1) then return 0 end
if string.len(state) > 1 then
  redis.call('SREM', nodeKey(prefix, string.sub(state, 2)), indexMember(room, old))
end
local payload = redis.call('HGET', KEYS[3], old)
redis.call('HDEL', KEYS[3], old)
redis.call('HDEL', KEYS[5], old)
redis.call('HSET', KEYS[3], new, payload)
redis.call('HSET', KEYS[5], new, '1' .. node)
redis.call('LSET', KEYS[4], redis.call('LPOS', KEYS[4], old), new)
if node ~= '' then
  redis.call('SADD', nodeKey(prefix, node), indexMember(room, new))
end
return 1
`)

	// Returns socket, participant JSON, state, socket, ... in insertion
	// order, or NOROOM.
	participantsScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
local out = {}
for _, socket in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do
  out[#out + 1] = socket
  out[#out + 1] = redis.call('HGET', KEYS[3], socket) or ''
  out[#out + 1] = redis.call('HGET', KEYS[5], socket) or ''
end
return out
`)
)

// Node scripts: KEYS[1] is the node set, ARGV[1] the prefix.
var (
	// ARGV: prefix, nodeID, ttl in milliseconds. Returns the expiry.
	heartbeatScript = newScript(`
local expiry = nowMillis() + tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], string.format('%d', expiry), ARGV[2])
return expiry
`)

	// ARGV: prefix, batch. Claims up to batch expired nodes; returns
	// {{node, {room, ...}}, ...}. The claim is the ZREM: a node that
	// another reaper already claimed is no longer in the set.
	reapDeadNodesScript = newScript(`
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', nowMillis()), 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, node in ipairs(dead) do
  if redis.call('ZREM', KEYS[1], node) == 1 then
    out[#out + 1] = {node, disconnectNode(ARGV[1], node)}
    departNodeSessions(ARGV[1], node, nowMillis())
  end
end
return out
`)

	// ARGV: prefix, nodeID. Drops the node and disconnects whatever is
	// still indexed under it. Returns the number of rooms that changed.
	removeNodeScript = newScript(`
redis.call('ZREM', KEYS[1], ARGV[2])
departNodeSessions(ARGV[1], ARGV[2], nowMillis())
return #disconnectNode(ARGV[1], ARGV[2])
`)
)
