// Package sqlitestore is a durable rooms.Store in one SQLite file, for a
// single-node deployment that must keep its rooms, history and participants
// across restarts and crashes. It uses modernc.org/sqlite (pure Go, no cgo).
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL. When a write method
// (CreateRoom, CloseRoom, AppendMessage, UpsertParticipant,
// DisconnectParticipant, ReclaimParticipant, the session writes) returns
// without error, the transaction holding that write has committed
// and its WAL frames have been fsync'ed: the write survives a crash of the
// process and a power loss or kernel crash (as far as the disk honours
// fsync). Nothing is acknowledged before that fsync. A write answered with
// an error wrapping rooms.ErrUnavailable (I/O error, disk full, failed
// transaction) was rolled back; the one exception is a COMMIT that fails
// in its own I/O, whose outcome SQLite cannot tell, so callers should treat
// ErrUnavailable like a timeout: retry only what is safe to repeat. A write
// whose context ended while it waited was dropped unapplied when the
// writer had not taken it yet (the error is exactly ctx.Err()); otherwise
// it runs to completion without its caller, and the error says it may be
// applied while still matching ctx.Err() with errors.Is.
//
// # Group commit
//
// Every write goes through one writer goroutine that owns the only
// read-write connection. It takes all the requests waiting in its queue (at
// most WithMaxBatch, DefaultMaxBatch unless set), runs them in one
// transaction, each inside its own
// savepoint so that one failing request (a missing room, a conflict) does
// not fail its neighbours, commits with one fsync and only then answers the
// callers. Before it begins a transaction, the writer yields the processor
// while doing so brings more requests (for at most as long as its last
// commit took), so callers it has just answered can queue their next write
// and share the next fsync. Under load many appends share one fsync; an
// idle store commits each write alone, with no added delay. Requests run
// in queue order, so the orders of the appends in one room follow the
// order they were queued in.
// Orders are assigned by the writer from a per-room cache of the last order,
// loaded from the database on first use and discarded whenever a
// transaction fails.
//
// Reads use a separate pool of read-only connections; in WAL mode they see
// the last committed state and never wait for the writer.
//
// # One process per database
//
// Open takes an exclusive flock on PATH+".lock" and holds it until Close, so
// a second process (or a second Store in the same process) opening the same
// database fails at once with an error saying it is in use. Because of that
// rule, Open marks every stored participant disconnected: a fresh process
// holds no sockets, so nobody listed in a room can still be connected.
// Locks held by a process that died are released by the kernel, so a
// restart after a crash opens the database normally.
//
// # Schema
//
// The schema is versioned with PRAGMA user_version and migrated forward at
// Open, one step per version; a database written by a newer version of this
// package (a user_version this code does not know) is refused.
package sqlitestore
