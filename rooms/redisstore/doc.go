// Package redisstore is a rooms.Store on Redis, shared by every node of a
// multi-node deployment, plus the node liveness registry those nodes use to
// find each other's dead sockets (Heartbeat, ReapDeadNodes, RemoveNode).
//
// # Atomicity
//
// Every operation that touches more than one key, or reads a key and writes
// based on it, is one Lua script, and Redis runs a script with nothing else
// interleaved: CreateRoom (check and create), CloseRoom (the room, its
// history, its participants and their node-index entries go together),
// AppendMessage (existence check and RPUSH, whose new list length is the
// message's order, so order k is always list index k-1 and orders are
// gapless under any concurrency), Messages, LastOrder and Participants (the
// existence check and the read see one state), UpsertParticipant (with the
// list bounds: prune, evict or refuse, then add, in one step, so nodes
// joining at once never overfill a room), DisconnectParticipant,
// ReclaimParticipant, and the node operations. GetRoom is a single HMGET.
//
// Scripts run with EVALSHA and fall back to EVAL when the server lost its
// script cache (a restart), which go-redis's Script.Run does.
//
// # Durability
//
// The store is exactly as durable as the Redis server is configured to be.
// With appendonly yes and appendfsync always an acknowledged write survives
// a crash of the server or of its machine; with appendfsync everysec (the
// Redis default once AOF is on) a machine crash may lose the last second;
// with AOF off and only RDB snapshots, everything since the last snapshot
// may be lost, and with neither, everything. The store cannot check this,
// so it is the deployment's job: see redistest for a durable configuration.
//
// When a call fails with rooms.ErrUnavailable the outcome of a write is
// unknown: the server may have applied it before the connection broke or
// the deadline passed. Commands are therefore never retried by the client
// (a retried AppendMessage could store the message twice).
//
// # Failure behaviour
//
// Every error from the connection or the server (refused, timed out, server
// error, context ended) is wrapped with rooms.Unavailable, so errors.Is(err,
// rooms.ErrUnavailable) holds and the cause stays visible to errors.Is/As.
// Open sets short dial, read, write and pool timeouts (see the Default
// constants) and makes the client honour context deadlines, so a call never
// outlives its context's deadline by more than the scheduling slack, and
// without a deadline it fails within about DefaultDialTimeout or
// DefaultReadTimeout when Redis is gone or hung. After Redis comes back the
// same Store works again; go-redis re-dials on its own (its dial circuit
// breaker probes once a second after repeated dial failures).
//
// # Key layout
//
// With the key prefix P (DefaultKeyPrefix, "chat:") and room id R:
//
//	P{R}:room      hash   creator, createdAt (RFC 3339, nanoseconds), participantRank
//	P{R}:messages  list   JSON {username, content, createdAt}; order k at index k-1
//	P{R}:members   zset   username -> list position (participantRank when added)
//	P{R}:avatars   hash   username -> avatar
//	P{R}:holds     hash   username -> "1" or "0" (connected), len(N) ":" N, then the holding socket id (may be empty)
//	P{R}:holders   hash   socket id -> the username whose entry it holds
//	P{R}:gone      zset   16-digit list position + username of each disconnected entry -> when (Unix ms)
//	Pnodes         zset   node id -> expiry, Redis server time in Unix milliseconds
//	Pnode:{N}:entries set members "len(R):R" + username of node N's connected entries
//
// The gone set's members start with the position so that entries which
// disconnected in the same millisecond are pruned and evicted in list order.
//
// Upgrading from the layout that keyed participants by socket id (parts
// people, joined and state, node index Pnode:{N}:sockets): those lists are
// not read, so an upgraded deployment starts with empty participant lists
// (presence only: rooms and history stay). Their keys are deleted when the
// room is closed or created again, and a node's old index when it is
// reaped or removed.
//
// The braces are Redis Cluster hash tags: all keys of one room hash to one
// slot. The room keys can never collide with each other or with the node
// keys, whatever characters the ids contain. A prefix should not contain
// braces, or the hash tags no longer work.
//
// Cluster is not supported, only made easier: CloseRoom, the participant
// writes and the node operations reach keys of several slots from one
// script, which a standalone server (or a primary with replicas) allows and
// a cluster does not.
//
// # Node liveness
//
// Each node calls Heartbeat periodically; its entry in Pnodes then expires
// at the server's TIME plus the ttl, so node clocks do not matter. An entry
// joined or reclaimed with a NodeID is indexed under that node while it is
// connected there; every participant write and CloseRoom keep the index in
// step. ReapDeadNodes claims expired nodes with ZREM inside the script, so
// across any number of concurrent callers exactly one gets each dead node,
// marks the node's indexed entries disconnected (at the server's time, for
// pruning and eviction) and learns which rooms changed.
package redisstore
