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
	// partHeld + node id: the usernames whose entries that node holds
	// connected in the room, in the room's slot.
	partHeld = "held:"
	keyNodes = "nodes"
	// The reaping set shares the node set's slot: see Store.reapingKey.
	keyReaping = "reaping"
	// A node's own keys, in the node's slot: the rooms where it may hold
	// connected entries, and the sessions that may be live on it.
	nodeRoomsFmt    = "node:{%s}:rooms"
	nodeSessionsFmt = "node:{%s}:sessions"
	// The room hash field counting the list positions handed out.
	fieldRank = "participantRank"
)

// Keys of earlier layouts. Nothing reads them; creating or closing a room
// deletes a room's, reaping or removing a node deletes the node's.
const (
	// Participants keyed by socket (before one entry per username).
	legacyPartPeople = "people"
	legacyPartJoined = "joined"
	legacyPartState  = "state"
	// Node indexes touched from room scripts, which a cluster refuses.
	legacyNodeSocketsFmt = "node:{%s}:sockets"
	legacyNodeEntriesFmt = "node:{%s}:entries"
)

// noRoomReply is the error reply a script returns when the room does not
// exist; the Go side turns it into rooms.RoomNotFound.
const noRoomReply = "NOROOM"

// luaPrelude holds the helpers every script may use. Every key a script
// touches is in the hash slot of its KEYS (a cluster refuses anything
// else): the held sets of a room are built here from the room's prefix,
// in ARGV[1], exactly as heldKey builds them in Go.
const luaPrelude = `
local function roomKey(prefix, room, part)
  return prefix .. '{' .. room .. '}:' .. part
end
local function heldKey(prefix, room, node)
  return roomKey(prefix, room, '` + partHeld + `' .. node)
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
local function noRoom()
  return redis.error_reply('` + noRoomReply + `')
end
-- Server time in Unix milliseconds: every node shares this clock.
local function nowMillis()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
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

	// ARGV: prefix, roomID. Returns 1, or NOROOM. The held sets go with
	// the room; the nodes' room sets keep the id until the node leaves
	// them, which is harmless: a visit finds nothing held.
	closeRoomScript = newScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return noRoom() end
local seen = {}
for _, h in ipairs(redis.call('HVALS', KEYS[5])) do
  local _, node = parseHold(h)
  if not seen[node] then
    seen[node] = true
    redis.call('DEL', heldKey(ARGV[1], ARGV[2], node))
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

// Node registry scripts: KEYS[1] is the node set, KEYS[2] the reaping set
// (one slot).
var (
	// ARGV: nodeID, ttl in milliseconds. Returns {expiry, 1 when the node
	// was not registered}: a node that finds itself missing after its
	// first beat was reaped (or removed) meanwhile.
	heartbeatScript = newScript(`
local expiry = nowMillis() + tonumber(ARGV[2])
local added = redis.call('ZADD', KEYS[1], string.format('%d', expiry), ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {expiry, added}
`)

	// ARGV: batch, lease (ms). Claims up to batch nodes: those whose lease
	// in the node set ended, then those whose reaper's lease in the
	// reaping set ended (it died mid-way; visits can be repeated). A
	// claimed node is in the reaping set until its visit is finished.
	// Returns the claimed node ids. The claim is atomic: a node another
	// reaper claimed is no longer due.
	claimDeadNodesScript = newScript(`
local now, batch = nowMillis(), tonumber(ARGV[1])
local until_ = string.format('%d', now + tonumber(ARGV[2]))
local out = {}
for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now), 'LIMIT', 0, batch)) do
  redis.call('ZREM', KEYS[1], node)
  redis.call('ZADD', KEYS[2], until_, node)
  out[#out + 1] = node
end
if #out < batch then
  for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', string.format('%d', now), 'LIMIT', 0, batch - #out)) do
    redis.call('ZADD', KEYS[2], until_, node)
    out[#out + 1] = node
  end
end
return out
`)

	// ARGV: nodeID. Ends the node's visit.
	finishReapScript = newScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

	// ARGV: nodeID, lease (ms). Takes a node leaving on purpose out of the
	// node set and puts it in the reaping set, so its visit is finished by
	// a reaper should this process die before it finishes it itself.
	leaveScript = newScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], string.format('%d', nowMillis() + tonumber(ARGV[2])), ARGV[1])
return 1
`)
)

// disconnectNodeScript marks every entry of the room that a node holds
// connected disconnected now, in one step on the room's keys (KEYS as in
// roomKeys.all). ARGV: prefix, roomID, nodeID. Returns how many entries
// changed.
var disconnectNodeScript = newScript(`
local held = heldKey(ARGV[1], ARGV[2], ARGV[3])
local changed, now = 0, nowMillis()
for _, name in ipairs(redis.call('SMEMBERS', held)) do
  local h = redis.call('HGET', KEYS[5], name)
  if h then
    local connected, node, socket = parseHold(h)
    if connected and node == ARGV[3] then
      redis.call('HSET', KEYS[5], name, hold('0', node, socket))
      redis.call('ZADD', KEYS[7], now, goneMember(redis.call('ZSCORE', KEYS[3], name), name))
      changed = changed + 1
    end
  end
end
redis.call('DEL', held)
return changed
`)
