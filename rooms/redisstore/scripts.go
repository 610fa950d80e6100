package redisstore

import "github.com/redis/go-redis/v9"

// Key parts, shared by the Go key builders (redisstore.go) and the Lua
// prelude. Changing one changes the stored layout.
const (
	partRoom     = "room"
	partMessages = "messages"
	// A room's participant list, one entry per username (see doc.go).
	partMembers = "members"
	partAvatars = "avatars"
	partHolds   = "holds"
	partHolders = "holders"
	partGone    = "gone"
	keyNodes    = "nodes"
	// The room hash field counting the list positions handed out.
	fieldRank = "participantRank"
)

// Parts of the layout before one entry per username (participants keyed by
// socket). Nothing reads them; creating or closing a room deletes them, so
// an upgraded deployment drops those lists (presence only) as rooms go.
const (
	legacyPartPeople   = "people"
	legacyPartJoined   = "joined"
	legacyPartState    = "state"
	legacyNodeIndexFmt = "node:{%s}:sockets"
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
  return prefix .. 'node:{' .. node .. '}:entries'
end
-- A node index member names (room, username) unambiguously: the room id's
-- byte length, a colon, the room id, then the username.
local function indexMember(room, name)
  return string.len(room) .. ':' .. room .. name
end
local function parseIndexMember(m)
  local colon = string.find(m, ':', 1, true)
  local n = tonumber(string.sub(m, 1, colon - 1))
  return string.sub(m, colon + 1, colon + n), string.sub(m, colon + n + 1)
end
-- An entry's hold: "1" (connected) or "0", the node id's byte length, a
-- colon, the node id, then the holding socket id ("" for none).
local function hold(connected, node, socket)
  return connected .. string.len(node) .. ':' .. node .. socket
end
local function parseHold(h)
  local colon = string.find(h, ':', 2, true)
  local n = tonumber(string.sub(h, 2, colon - 1))
  return string.sub(h, 1, 1) == '1', string.sub(h, colon + 1, colon + n), string.sub(h, colon + n + 1)
end
-- A disconnected entry's member of the room's gone set: its list position
-- first, fixed width, so entries that disconnected at the same millisecond
-- go in list order.
local function goneMember(rank, name)
  return string.format('%016d', tonumber(rank)) .. name
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
-- Marks every entry indexed under node disconnected now (unless it moved to
-- another node or was disconnected meanwhile), drops the index and returns
-- the ids of the rooms whose lists changed.
local function disconnectNode(prefix, node)
  local idx = nodeKey(prefix, node)
  local rooms, seen, now = {}, {}, nowMillis()
  for _, m in ipairs(redis.call('SMEMBERS', idx)) do
    local room, name = parseIndexMember(m)
    local holds = roomKey(prefix, room, '` + partHolds + `')
    local h = redis.call('HGET', holds, name)
    if h then
      local connected, holder, socket = parseHold(h)
      if connected and holder == node then
        redis.call('HSET', holds, name, hold('0', node, socket))
        local rank = redis.call('ZSCORE', roomKey(prefix, room, '` + partMembers + `'), name)
        redis.call('ZADD', roomKey(prefix, room, '` + partGone + `'), now, goneMember(rank, name))
        if not seen[room] then
          seen[room] = true
          rooms[#rooms + 1] = room
        end
      end
    end
  end
  redis.call('DEL', idx, prefix .. string.format('` + legacyNodeIndexFmt + `', node))
  return rooms
end
`

func newScript(body string) *redis.Script { return redis.NewScript(luaPrelude + body) }

// Room scripts take the room's keys in the order of roomKeys.all: KEYS[1]
// room, KEYS[2] messages, then the participant list: KEYS[3] members,
// KEYS[4] avatars, KEYS[5] holds, KEYS[6] holders, KEYS[7] gone. Creating
// and closing a room also get the legacy keys, KEYS[8] to KEYS[10].
var (
	// ARGV: creator, createdAt. Returns 1, or 0 when the id is taken.
	createRoomScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
-- Nothing else of the room can exist without its hash; clear it anyway so a
-- new room never inherits stray history.
redis.call('DEL', unpack(KEYS, 2))
redis.call('HSET', KEYS[1], 'creator', ARGV[1], 'createdAt', ARGV[2])
return 1
`)

	// ARGV: prefix, roomID. Returns 1, or NOROOM.
	closeRoomScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
for _, name in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local h = redis.call('HGET', KEYS[5], name)
  if h then
    local connected, node = parseHold(h)
    if connected and node ~= '' then
      redis.call('SREM', nodeKey(ARGV[1], node), indexMember(ARGV[2], name))
    end
  end
end
redis.call('DEL', unpack(KEYS))
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
