// Package redisstore is a rooms.Store on Redis, shared by every node of a
// multi-node deployment, plus the node liveness registry those nodes use to
// find each other's dead sockets (Heartbeat, ReapDeadNodes, RemoveNode). It
// runs on one Redis server (redis://, with or without replicas) or on a
// Redis Cluster (redis-cluster://): every script touches the keys of one
// hash slot only, which a cluster requires.
//
// # Atomicity
//
// Every operation that touches more than one key of a room or a session,
// or reads a key and writes based on it, is one Lua script, and Redis runs
// a script with nothing else interleaved: CreateRoom (check and create),
// CloseRoom (the room, its history, its participants and its held sets go
// together),
// AppendMessage (existence check and RPUSH, whose new list length is the
// message's order, so order k is always list index k-1 and orders are
// gapless under any concurrency), Messages, LastOrder and Participants (the
// existence check and the read see one state), UpsertParticipant (with the
// list bounds: prune, evict or refuse, then add, in one step, so nodes
// joining at once never overfill a room), DisconnectParticipant,
// ReclaimParticipant, and the claim of dead nodes. GetRoom is a single
// HMGET. What spans slots (a node's own sets, the index of departed
// sessions) is kept from Go around the scripts, written before the script
// that needs it, so that it is a superset of the truth, never a subset
// (see nodeIndex and the reaper in nodes.go).
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
// Replication is asynchronous: a failover (Sentinel's, or a cluster's
// promoting a replica) may lose the writes its master acknowledged last.
// WithWaitReplicas makes AppendMessage wait (Redis WAIT) until that many
// replicas have the message before it returns, so an acknowledged message
// survives the loss of its master.
//
// When a call fails with rooms.ErrUnavailable the outcome of a write is
// unknown: the server may have applied it before the connection broke or
// the deadline passed. Commands are therefore never retried by the client
// (a retried AppendMessage could store the message twice). On a cluster,
// go-redis re-sends a command whose reply was lost whatever its retry
// settings; NoRetryAfterSend stops that, and only the answers that say a
// command did not run (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) are followed.
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
// With the key prefix P (DefaultKeyPrefix, "chat:"), room id R, node id N
// and session key K:
//
//	P{R}:room       hash   creator, createdAt (RFC 3339, nanoseconds), participantRank
//	P{R}:messages   list   JSON {username, content, createdAt}; order k at index k-1
//	P{R}:members    zset   username -> list position (participantRank when added)
//	P{R}:avatars    hash   username -> avatar
//	P{R}:holds      hash   username -> "1" or "0" (connected), len(N) ":" N, then the holding socket id (may be empty)
//	P{R}:holders    hash   socket id -> the username whose entry it holds
//	P{R}:gone       zset   16-digit list position + username of each disconnected entry -> when (Unix ms)
//	P{R}:held:N     set    usernames whose entries node N holds connected in R
//	Psession:{K}    hash   a session (see sessions.go)
//	Pnodes          zset   node id -> expiry, Redis server time in Unix milliseconds
//	P{Pnodes}:reaping zset node id -> end of its reaper's lease (same slot as Pnodes)
//	Pnode:{N}:rooms    set rooms where N may hold connected entries (a superset)
//	Pnode:{N}:sessions set sessions that may be live on N (a superset)
//	Psessions:departed zset session key -> when it departed (candidates for pruning)
//
// The gone set's members start with the position so that entries which
// disconnected in the same millisecond are pruned and evicted in list order.
//
// The braces are Redis Cluster hash tags: all keys of one room hash to one
// slot, all keys of one node to another, each session to its own. The room
// keys can never collide with each other or with the node keys, whatever
// characters the ids contain. A prefix should not contain braces, or the
// hash tags no longer work.
//
// Upgrading from earlier layouts: participant lists keyed by socket id
// (parts people, joined and state) are not read, so an upgraded deployment
// starts with empty participant lists (presence only: rooms and history
// stay); their keys are deleted when the room is closed or created again.
// The node indexes touched from room scripts (Pnode:{N}:sockets and
// Pnode:{N}:entries), which a cluster refuses, are not read either: a node
// still running the previous version is not reaped in full by one running
// this one, so stop every node before upgrading; the old indexes are
// deleted when their node is reaped or removed.
//
// # Node liveness
//
// Each node calls Heartbeat periodically; its entry in Pnodes then expires
// at the server's TIME plus the ttl, so node clocks do not matter. A join
// or reclaim for node N lists the room in N's room set before the room's
// script holds the entry for N (and puts the name in the room's held set
// for N, in the same script); N's session writes list the session in N's
// session set likewise. N takes a room or session off its set once a write
// of its own says it holds nothing more there, under a lock that its
// additions take too (nodeIndex). ReapDeadNodes claims expired nodes by
// moving them from Pnodes to the reaping set in one script, so across any
// number of concurrent callers exactly one gets each dead node; it then
// visits the node's rooms (one script per room: the names of its held set
// are marked disconnected at the server's time) and sessions (one script
// per session: departed if still live on N), deletes N's sets and ends the
// claim. A reaper that dies half-way loses its lease and another one
// repeats the visit, which changes nothing twice.
package redisstore
