package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"chatgateway/rooms"
)

// Request states. A request is taken by the writer or abandoned by its
// caller, never both: whichever moves it out of statePending first wins.
const (
	statePending int32 = iota
	stateTaken
	stateAbandoned
)

// request is one write waiting for the writer.
type request struct {
	state atomic.Int32
	// apply runs in the writer, inside the batch transaction and the
	// request's own savepoint. It returns a domain error, or a non-domain
	// error already wrapped with rooms.Unavailable; either way its
	// savepoint is rolled back and its neighbours are unaffected.
	apply func(w *writeTx) error
	// done receives the result once the transaction is over; buffered, so
	// the writer never waits for a caller that gave up.
	done chan error
}

// submit queues apply for the writer and waits for its result.
func (s *Store) submit(ctx context.Context, apply func(w *writeTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &request{apply: apply, done: make(chan error, 1)}
	if err := s.enqueue(ctx, req); err != nil {
		return err
	}
	if h := s.settings.hooks.enqueued; h != nil {
		h()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		if req.state.CompareAndSwap(statePending, stateAbandoned) {
			s.dropped.Add(1)
			return ctx.Err()
		}
		return fmt.Errorf("sqlitestore: stopped waiting for a write the writer had already started; it may be applied: %w", ctx.Err())
	}
}

func (s *Store) enqueue(ctx context.Context, req *request) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return closedError()
	}
	// Blocking here while holding the read lock is safe: the writer drains
	// the queue without taking the lock, so Close waits at most for this
	// send.
	select {
	case s.requests <- req:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runWriter is the writer goroutine. It ends when Close has closed the
// queue and every request in it has been answered.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	batch := make([]*request, 0, s.settings.maxBatch)
	// lastCommit is how long the latest transaction took, the most a batch
	// waits for more requests (see gather).
	var lastCommit time.Duration
	for {
		first, ok := <-s.requests
		if !ok {
			return
		}
		batch = batch[:0]
		if first.state.CompareAndSwap(statePending, stateTaken) {
			batch = append(batch, first)
		}
		if h := s.settings.hooks.batchStart; h != nil {
			h()
		}
		batch = s.gather(batch, lastCommit)
		if len(batch) > 0 {
			began := time.Now()
			s.runBatch(batch)
			lastCommit = time.Since(began)
		}
		clear(batch) // let answered requests be collected
	}
}

// gather adds the queued requests to batch, up to the batch limit. When the
// queue is empty it yields the processor and looks again, for as long as
// yielding brings more requests and no longer than the last commit took.
//
// Without the yield, group commit collapses exactly when it matters: the
// callers answered by the last commit are runnable but not yet running
// when the writer comes back, so it finds two or three requests, and every
// commit's fsync holds the writer's processor (the runtime hands it to
// other goroutines only after about 10 ms in a system call), which with
// GOMAXPROCS=1 stops the whole server. Measured in the fan-out benchmark
// (500 sockets, one core): 2 to 15 writes per commit, 250 commits/s, the
// server idle at a third of its core. With the yield, those callers run
// first, post their next message, and the next commit carries every
// write ready by then (500 per commit, 10 to 20 commits/s). An idle store
// still commits a lone write at once: one yield finds nothing more.
func (s *Store) gather(batch []*request, budget time.Duration) []*request {
	var began time.Time
	for len(batch) < s.settings.maxBatch {
		select {
		case req, ok := <-s.requests:
			if !ok {
				return batch
			}
			if req.state.CompareAndSwap(statePending, stateTaken) {
				batch = append(batch, req)
			}
			continue
		default:
		}
		if began.IsZero() {
			began = time.Now()
		} else if time.Since(began) > budget {
			return batch
		}
		runtime.Gosched()
		if len(s.requests) == 0 {
			return batch
		}
	}
	return batch
}

// orderEntry is the batch's view of one room's last order: known says the
// room exists with last as its highest order; !known says the batch closed
// the room, so the database must be asked.
type orderEntry struct {
	known bool
	last  int64
}

// writeTx is what a request's apply sees: the open transaction and the
// order changes the batch made so far, which reach the cache only if the
// transaction commits.
type writeTx struct {
	s       *Store
	pending map[string]orderEntry
	// undo records how the current request changed pending, so that a
	// request rolled back to its savepoint leaves no trace there either.
	undo []pendingChange
}

type pendingChange struct {
	roomID string
	prev   orderEntry
	had    bool
}

func (w *writeTx) setPending(roomID string, e orderEntry) {
	prev, had := w.pending[roomID]
	w.undo = append(w.undo, pendingChange{roomID: roomID, prev: prev, had: had})
	w.pending[roomID] = e
}

// rollBackPending undoes the current request's changes, newest first.
func (w *writeTx) rollBackPending() {
	for i := len(w.undo) - 1; i >= 0; i-- {
		c := w.undo[i]
		if c.had {
			w.pending[c.roomID] = c.prev
		} else {
			delete(w.pending, c.roomID)
		}
	}
	w.undo = w.undo[:0]
}

// runBatch runs batch in one transaction and answers every request after
// the commit, or with rooms.Unavailable when the transaction failed.
func (s *Store) runBatch(batch []*request) {
	w := &writeTx{s: s, pending: make(map[string]orderEntry)}
	results := make([]error, len(batch))
	err := s.inTransaction(func() error {
		for i, req := range batch {
			res, err := s.runRequest(w, req)
			if err != nil {
				return err
			}
			results[i] = res
		}
		return nil
	})
	if err != nil {
		// Whatever the batch did to the order cache is void, and a failed
		// COMMIT may leave the outcome on disk uncertain: start over from
		// what the database says.
		clear(s.lastOrder)
		s.failedBatches.Add(1)
		s.settings.logger.Error("sqlitestore: write transaction failed", "path", s.path, "requests", len(batch), "err", err)
		failure := rooms.Unavailable(fmt.Errorf("sqlitestore: write transaction failed: %w", err))
		for _, req := range batch {
			req.done <- failure
		}
		return
	}
	for room, e := range w.pending {
		if !e.known {
			delete(s.lastOrder, room)
			continue
		}
		if _, cached := s.lastOrder[room]; !cached && len(s.lastOrder) >= s.settings.orderCacheRooms {
			for victim := range s.lastOrder {
				delete(s.lastOrder, victim)
				break
			}
		}
		s.lastOrder[room] = e.last
	}
	s.commits.Add(1)
	s.writes.Add(uint64(len(batch)))
	for i, req := range batch {
		req.done <- results[i]
	}
}

// inTransaction runs body between BEGIN IMMEDIATE and COMMIT, rolling back
// when body or the commit fails.
func (s *Store) inTransaction(body func() error) error {
	ctx := context.Background()
	if _, err := s.stmts.begin.ExecContext(ctx); err != nil {
		// A transaction left open by an earlier failure would make BEGIN
		// fail forever; clear it and try once more.
		_, _ = s.stmts.rollback.ExecContext(ctx)
		if _, err := s.stmts.begin.ExecContext(ctx); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
	}
	err := body()
	if err == nil && s.settings.hooks.beforeCommit != nil {
		err = s.settings.hooks.beforeCommit()
	}
	if err == nil {
		if _, err = s.stmts.commit.ExecContext(ctx); err == nil {
			return nil
		}
		err = fmt.Errorf("commit: %w", err)
	}
	// SQLite may have rolled back already (then this fails harmlessly).
	_, _ = s.stmts.rollback.ExecContext(ctx)
	return err
}

// runRequest runs one request in its own savepoint. res is the request's
// answer; err is non-nil only when the transaction itself is broken.
func (s *Store) runRequest(w *writeTx, req *request) (res error, err error) {
	ctx := context.Background()
	if _, err := s.stmts.savepoint.ExecContext(ctx); err != nil {
		return nil, fmt.Errorf("savepoint: %w", err)
	}
	w.undo = w.undo[:0]
	res = req.apply(w)
	if res != nil {
		if _, err := s.stmts.rollbackTo.ExecContext(ctx); err != nil {
			return nil, fmt.Errorf("roll back a failed request (%v): %w", res, err)
		}
		w.rollBackPending()
	}
	if _, err := s.stmts.release.ExecContext(ctx); err != nil {
		return nil, fmt.Errorf("release savepoint: %w", err)
	}
	return res, nil
}

// lastOrder returns the room's highest order, or ok=false when the room
// does not exist, as seen inside the transaction.
func (w *writeTx) lastOrder(roomID string) (last int64, ok bool, err error) {
	if e, seen := w.pending[roomID]; seen && e.known {
		return e.last, true, nil
	} else if !seen {
		if last, cached := w.s.lastOrder[roomID]; cached {
			return last, true, nil
		}
	}
	err = w.s.stmts.lastOrder.QueryRowContext(context.Background(), roomID).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, rooms.Unavailable(fmt.Errorf("read last order of room %q: %w", roomID, err))
	}
	w.setPending(roomID, orderEntry{known: true, last: last})
	return last, true, nil
}

func (w *writeTx) createRoom(r rooms.Room) error {
	res, err := w.s.stmts.insertRoom.ExecContext(context.Background(), r.ID, r.Creator, formatTime(r.CreatedAt))
	if err != nil {
		return rooms.Unavailable(fmt.Errorf("insert room %q: %w", r.ID, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return rooms.Unavailable(err)
	} else if n == 0 {
		return rooms.RoomConflict(r.ID)
	}
	// A new room has no history: a closed room's messages went with it.
	w.setPending(r.ID, orderEntry{known: true, last: 0})
	return nil
}

func (w *writeTx) closeRoom(roomID string) error {
	ctx := context.Background()
	for _, st := range []struct {
		what string
		stmt *sql.Stmt
	}{
		{"messages", w.s.stmts.deleteMessages},
		{"participants", w.s.stmts.deleteParticipants},
	} {
		if _, err := st.stmt.ExecContext(ctx, roomID); err != nil {
			return rooms.Unavailable(fmt.Errorf("delete %s of room %q: %w", st.what, roomID, err))
		}
	}
	res, err := w.s.stmts.deleteRoom.ExecContext(ctx, roomID)
	if err != nil {
		return rooms.Unavailable(fmt.Errorf("delete room %q: %w", roomID, err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return rooms.Unavailable(err)
	} else if n == 0 {
		return rooms.RoomNotFound(roomID)
	}
	w.setPending(roomID, orderEntry{known: false})
	return nil
}

func (w *writeTx) appendMessage(roomID string, m rooms.NewMessage) (rooms.Message, error) {
	last, ok, err := w.lastOrder(roomID)
	if err != nil {
		return rooms.Message{}, err
	}
	if !ok {
		return rooms.Message{}, rooms.RoomNotFound(roomID)
	}
	msg := rooms.Message{Order: last + 1, Username: m.Username, Content: m.Content, CreatedAt: m.CreatedAt}
	if _, err := w.s.stmts.insertMessage.ExecContext(context.Background(), roomID, msg.Order, msg.Username, msg.Content, msg.CreatedAt); err != nil {
		return rooms.Message{}, rooms.Unavailable(fmt.Errorf("insert message %d of room %q: %w", msg.Order, roomID, err))
	}
	w.setPending(roomID, orderEntry{known: true, last: msg.Order})
	return msg, nil
}

// CreateRoom implements rooms.Store.
func (s *Store) CreateRoom(ctx context.Context, room rooms.Room) error {
	return s.submit(ctx, func(w *writeTx) error { return w.createRoom(room) })
}

// CloseRoom implements rooms.Store.
func (s *Store) CloseRoom(ctx context.Context, roomID string) error {
	return s.submit(ctx, func(w *writeTx) error { return w.closeRoom(roomID) })
}

// AppendMessage implements rooms.Store.
func (s *Store) AppendMessage(ctx context.Context, roomID string, m rooms.NewMessage) (rooms.Message, error) {
	var msg rooms.Message
	err := s.submit(ctx, func(w *writeTx) error {
		var err error
		msg, err = w.appendMessage(roomID, m)
		return err
	})
	if err != nil {
		return rooms.Message{}, err
	}
	return msg, nil
}

// formatTime stores instants as RFC 3339 text in UTC, which sorts and reads
// well in the sqlite3 shell; the monotonic reading is dropped.
func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}
