package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatgateway/rooms"
)

// waitLimit bounds every wait of these tests; reaching it is a failure.
const waitLimit = 30 * time.Second

// quietLogger drops the error logs of transactions a test fails on purpose.
func quietLogger() Option { return WithLogger(slog.New(slog.DiscardHandler)) }

func withHooks(h testHooks) Option {
	return func(s *settings) { s.hooks = h }
}

// gate pauses the writer at the start of every batch until the test lets
// it pass, and reports each request entering the queue, so a test can
// queue exactly the requests it wants and then have them run together.
type gate struct {
	enqueued chan struct{}
	entered  chan struct{}
	pass     chan struct{}
	openOnce sync.Once
}

func newGate() *gate {
	g := &gate{
		enqueued: make(chan struct{}, 1<<16),
		entered:  make(chan struct{}, 1<<16),
		pass:     make(chan struct{}),
	}
	return g
}

func (g *gate) hooks() testHooks {
	return testHooks{
		enqueued: func() { g.enqueued <- struct{}{} },
		batchStart: func() {
			g.entered <- struct{}{}
			<-g.pass
		},
	}
}

// open lets every later batch through without waiting.
func (g *gate) open() { g.openOnce.Do(func() { close(g.pass) }) }

// letBatchesThrough lets n batches start; it returns once the writer has
// taken the last of them.
func (g *gate) letBatchesThrough(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case g.pass <- struct{}{}:
		case <-time.After(waitLimit):
			t.Fatalf("the writer did not start batch %d of %d", i+1, n)
		}
	}
}

func (g *gate) awaitEnqueued(t *testing.T, n int) {
	t.Helper()
	awaitN(t, g.enqueued, n, "requests enqueued")
}

func (g *gate) awaitEntered(t *testing.T) {
	t.Helper()
	awaitN(t, g.entered, 1, "writer at the gate")
}

func awaitN[T any](t *testing.T, ch <-chan T, n int, what string) []T {
	t.Helper()
	deadline := time.After(waitLimit)
	out := make([]T, 0, n)
	for len(out) < n {
		select {
		case v := <-ch:
			out = append(out, v)
		case <-deadline:
			t.Fatalf("%s: got %d of %d before the deadline", what, len(out), n)
		}
	}
	return out
}

// seedRooms creates the rooms with a store of its own, so that a gated
// store opened afterwards sees only the requests of the test.
func seedRooms(t *testing.T, path string, ids ...string) {
	t.Helper()
	s := openStore(t, path)
	for _, id := range ids {
		if err := s.CreateRoom(context.Background(), rooms.Room{ID: id, Creator: "seed"}); err != nil {
			t.Fatal(err)
		}
	}
	mustClose(t, s)
}

func roomName(i int) string { return fmt.Sprint("room-", i) }

type appendOutcome struct {
	appender int
	roomID   string
	content  string
	msg      rooms.Message
	err      error
}

// TestGroupCommitSharesTransactions queues every appender's request while
// the writer is held at the gate, then lets it go: the batch sizes, and so
// the number of commits, are exact.
func TestGroupCommitSharesTransactions(t *testing.T) {
	const (
		appenders = 64
		rounds    = 5
		roomCount = 8
	)
	tests := []struct {
		name     string
		maxBatch int
	}{
		{"default", DefaultMaxBatch},
		{"MaxBatch=16", 16},
		{"MaxBatch=1", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chat.db")
			ids := make([]string, roomCount)
			for i := range ids {
				ids[i] = roomName(i)
			}
			seedRooms(t, path, ids...)
			g := newGate()
			s := openStore(t, path, WithMaxBatch(tc.maxBatch), withHooks(g.hooks()))
			// Registered after the store, so it runs first: a test that fails
			// with the writer at the gate must not leave Close waiting for it.
			t.Cleanup(g.open)
			batchesPerRound := (appenders + tc.maxBatch - 1) / tc.maxBatch

			var all []appendOutcome
			for round := range rounds {
				outcomes := make(chan appendOutcome, appenders)
				for a := range appenders {
					go func() {
						o := appendOutcome{appender: a, roomID: roomName(a % roomCount), content: fmt.Sprintf("a%d-r%d", a, round)}
						o.msg, o.err = s.AppendMessage(context.Background(), o.roomID, rooms.NewMessage{Username: fmt.Sprint("a", a), Content: o.content})
						outcomes <- o
					}()
				}
				g.awaitEnqueued(t, appenders)
				g.letBatchesThrough(t, batchesPerRound)
				all = append(all, awaitN(t, outcomes, appenders, "appends answered")...)
			}

			st := s.Stats()
			if want := uint64(rounds * batchesPerRound); st.Commits != want {
				t.Errorf("commits = %d, want %d (%d per round of %d appends)", st.Commits, want, batchesPerRound, appenders)
			}
			if want := uint64(rounds * appenders); st.Writes != want {
				t.Errorf("writes = %d, want %d", st.Writes, want)
			}
			if tc.maxBatch > 1 && st.Commits >= st.Writes {
				t.Errorf("commits = %d, writes = %d: appends did not share transactions", st.Commits, st.Writes)
			}
			checkGapless(t, s, ids, all)
		})
	}
}

// checkGapless verifies that the answers and the stored history agree and
// that every room's orders run 1..n without a gap.
func checkGapless(t *testing.T, s *Store, ids []string, outcomes []appendOutcome) {
	t.Helper()
	contentAt := make(map[string]map[int64]string)
	for _, id := range ids {
		contentAt[id] = make(map[int64]string)
	}
	for _, o := range outcomes {
		if o.err != nil {
			t.Fatalf("appender %d: %v", o.appender, o.err)
		}
		if prev, dup := contentAt[o.roomID][o.msg.Order]; dup {
			t.Fatalf("room %s order %d given twice (%q and %q)", o.roomID, o.msg.Order, prev, o.content)
		}
		contentAt[o.roomID][o.msg.Order] = o.content
	}
	for _, id := range ids {
		stored := mustMessages(t, s, id)
		if len(stored) != len(contentAt[id]) {
			t.Fatalf("room %s holds %d messages, %d were acknowledged", id, len(stored), len(contentAt[id]))
		}
		for i, m := range stored {
			if m.Order != int64(i+1) {
				t.Fatalf("room %s: message %d has order %d: a gap", id, i+1, m.Order)
			}
			if m.Content != contentAt[id][m.Order] {
				t.Fatalf("room %s order %d holds %q, the append that got it sent %q", id, m.Order, m.Content, contentAt[id][m.Order])
			}
		}
	}
}

// TestConcurrentAppendersFreeRunning has no gate: the batching is whatever
// the scheduler makes of it, and the orders must still be gapless.
func TestConcurrentAppendersFreeRunning(t *testing.T) {
	const (
		appenders = 64
		perWriter = 20
		roomCount = 8
	)
	s := openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	ids := make([]string, roomCount)
	for i := range ids {
		ids[i] = roomName(i)
		if err := s.CreateRoom(context.Background(), rooms.Room{ID: ids[i]}); err != nil {
			t.Fatal(err)
		}
	}
	before := s.Stats()
	outcomes := make(chan appendOutcome, appenders*perWriter)
	var wg sync.WaitGroup
	for a := range appenders {
		wg.Go(func() {
			var last int64
			for i := range perWriter {
				o := appendOutcome{appender: a, roomID: roomName(a % roomCount), content: fmt.Sprintf("a%d-%d", a, i)}
				o.msg, o.err = s.AppendMessage(context.Background(), o.roomID, rooms.NewMessage{Content: o.content})
				if o.err == nil && o.msg.Order <= last {
					o.err = fmt.Errorf("order %d after %d in the same room", o.msg.Order, last)
				}
				last = o.msg.Order
				outcomes <- o
			}
		})
	}
	wg.Wait()
	close(outcomes)
	var all []appendOutcome
	for o := range outcomes {
		all = append(all, o)
	}
	checkGapless(t, s, ids, all)
	after := s.Stats()
	if got := after.Writes - before.Writes; got != appenders*perWriter {
		t.Errorf("writes = %d, want %d", got, appenders*perWriter)
	}
	if after.FailedBatches != 0 || after.Dropped != 0 {
		t.Errorf("stats = %+v, want no failed batch and nothing dropped", after)
	}
}

// TestClosedLoopCallersShareCommitsOnOneProcessor is the chat server's
// load on one core: every caller posts again as soon as its last post is
// answered. The writer must let the callers it just answered queue their
// next write before it commits again, so that commits carry most of them
// rather than the one or two that were queued when the last commit ended.
func TestClosedLoopCallersShareCommitsOnOneProcessor(t *testing.T) {
	const (
		callers   = 32
		perCaller = 20
	)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	s := openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	if err := s.CreateRoom(context.Background(), rooms.Room{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	before := s.Stats()
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range perCaller {
				if _, err := s.AppendMessage(context.Background(), "r", rooms.NewMessage{Content: fmt.Sprintf("c%d-%d", c, i)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	after := s.Stats()
	commits, writes := after.Commits-before.Commits, after.Writes-before.Writes
	if writes != callers*perCaller {
		t.Fatalf("writes = %d, want %d", writes, callers*perCaller)
	}
	// Each round of posts (one per caller) fits one commit. An eager
	// writer, committing what is queued when it comes back, needs 31 to
	// 54 commits here; a quarter more than one per round leaves room for
	// the scheduler's fairness checks.
	if limit := uint64(perCaller + perCaller/4); commits > limit {
		t.Errorf("%d writes took %d commits, want at most %d (%d rounds of %d)", writes, commits, limit, perCaller, callers)
	}
	if got := mustMessages(t, s, "r"); len(got) != callers*perCaller {
		t.Errorf("history holds %d messages, want %d", len(got), callers*perCaller)
	}
}

// TestFailingRequestsDoNotFailTheirBatch runs one batch mixing successes,
// domain errors and a request whose SQL fails after it wrote.
func TestFailingRequestsDoNotFailTheirBatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	seedRooms(t, path, "r")
	g := newGate()
	s := openStore(t, path, withHooks(g.hooks()))
	// Registered after the store, so it runs first: a test that fails
	// with the writer at the gate must not leave Close waiting for it.
	t.Cleanup(g.open)
	ctx := context.Background()

	injected := errors.New("injected failure")
	steps := []struct {
		name  string
		call  func() (any, error)
		check func(t *testing.T, got any, err error)
	}{
		{
			name: "append to r",
			call: func() (any, error) { return s.AppendMessage(ctx, "r", rooms.NewMessage{Content: "first"}) },
			check: func(t *testing.T, got any, err error) {
				if err != nil || got.(rooms.Message).Order != 1 {
					t.Errorf("= (%+v, %v), want order 1", got, err)
				}
			},
		},
		{
			name: "append to a missing room",
			call: func() (any, error) { return s.AppendMessage(ctx, "ghost", rooms.NewMessage{Content: "lost"}) },
			check: func(t *testing.T, _ any, err error) {
				if !errors.Is(err, rooms.ErrRoomNotFound) {
					t.Errorf("err = %v, want ErrRoomNotFound", err)
				}
			},
		},
		{
			name: "create a taken room",
			call: func() (any, error) { return nil, s.CreateRoom(ctx, rooms.Room{ID: "r", Creator: "intruder"}) },
			check: func(t *testing.T, _ any, err error) {
				if !errors.Is(err, rooms.ErrRoomConflict) {
					t.Errorf("err = %v, want ErrRoomConflict", err)
				}
			},
		},
		{
			name: "write, then fail",
			call: func() (any, error) {
				return nil, s.submit(ctx, func(w *writeTx) error {
					if _, err := w.s.stmts.insertMessage.ExecContext(ctx, "r", 99, "x", "must be rolled back", ""); err != nil {
						return err
					}
					return rooms.Unavailable(injected)
				})
			},
			check: func(t *testing.T, _ any, err error) {
				if !errors.Is(err, injected) || !errors.Is(err, rooms.ErrUnavailable) {
					t.Errorf("err = %v, want the injected failure as ErrUnavailable", err)
				}
			},
		},
		{
			name: "append, then fail",
			call: func() (any, error) {
				return nil, s.submit(ctx, func(w *writeTx) error {
					m, err := w.appendMessage("r", rooms.NewMessage{Content: "must be rolled back too"})
					if err != nil {
						return err
					}
					if m.Order != 2 {
						return fmt.Errorf("order %d, want 2", m.Order)
					}
					return rooms.Unavailable(injected)
				})
			},
			check: func(t *testing.T, _ any, err error) {
				if !errors.Is(err, injected) {
					t.Errorf("err = %v, want the injected failure", err)
				}
			},
		},
		{
			name: "join r",
			call: func() (any, error) {
				return nil, s.UpsertParticipant(ctx, rooms.Participant{RoomID: "r", SocketID: "s1", Username: "Toto", Connected: true}, rooms.ParticipantLimits{})
			},
			check: func(t *testing.T, _ any, err error) {
				if err != nil {
					t.Errorf("err = %v", err)
				}
			},
		},
		{
			name: "close a missing room",
			call: func() (any, error) { return nil, s.CloseRoom(ctx, "ghost") },
			check: func(t *testing.T, _ any, err error) {
				if !errors.Is(err, rooms.ErrRoomNotFound) {
					t.Errorf("err = %v, want ErrRoomNotFound", err)
				}
			},
		},
		{
			name: "append to r again",
			call: func() (any, error) { return s.AppendMessage(ctx, "r", rooms.NewMessage{Content: "second"}) },
			check: func(t *testing.T, got any, err error) {
				if err != nil || got.(rooms.Message).Order != 2 {
					t.Errorf("= (%+v, %v), want order 2", got, err)
				}
			},
		},
	}

	type result struct {
		got any
		err error
	}
	results := make([]chan result, len(steps))
	for i, step := range steps {
		results[i] = make(chan result, 1)
		go func() {
			got, err := step.call()
			results[i] <- result{got, err}
		}()
		// One at a time, so the queue holds them in the order listed.
		g.awaitEnqueued(t, 1)
	}
	g.letBatchesThrough(t, 1)
	for i, step := range steps {
		r := awaitN(t, results[i], 1, step.name)[0]
		t.Run(step.name, func(t *testing.T) { step.check(t, r.got, r.err) })
	}
	g.open()

	if st := s.Stats(); st.Commits != 1 || st.Writes != uint64(len(steps)) || st.FailedBatches != 0 {
		t.Errorf("stats = %+v, want 1 commit of %d writes", st, len(steps))
	}
	stored := mustMessages(t, s, "r")
	if contents := []string{"first", "second"}; len(stored) != 2 || stored[0].Content != contents[0] || stored[1].Content != contents[1] {
		t.Errorf("history of r = %+v, want %v at orders 1, 2", stored, contents)
	}
	room, err := s.GetRoom(ctx, "r")
	if err != nil || room.Creator != "seed" {
		t.Errorf("room r = (%+v, %v), want the seeded room", room, err)
	}
	if got := mustParticipants(t, s, "r"); len(got) != 1 || got[0].Username != "Toto" {
		t.Errorf("participants of r = %+v, want Toto", got)
	}
}

// TestFailedCommitFailsTheBatchAndForgetsItsOrders makes commits fail on
// demand: the callers hear rooms.ErrUnavailable, nothing of the batch is
// stored, and the next append takes the order the failed one had.
func TestFailedCommitFailsTheBatchAndForgetsItsOrders(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	seedRooms(t, path, "r")
	var failCommits atomic.Bool
	broken := errors.New("disk on fire")
	s := openStore(t, path, quietLogger(), withHooks(testHooks{beforeCommit: func() error {
		if failCommits.Load() {
			return broken
		}
		return nil
	}}))
	ctx := context.Background()

	for i := 1; i <= 3; i++ {
		if m, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Content: fmt.Sprint("kept-", i)}); err != nil || m.Order != int64(i) {
			t.Fatalf("append %d = (%+v, %v)", i, m, err)
		}
	}

	failCommits.Store(true)
	calls := []struct {
		name string
		call func() error
	}{
		{"append", func() error { _, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Content: "lost"}); return err }},
		{"create", func() error { return s.CreateRoom(ctx, rooms.Room{ID: "lost-room"}) }},
		{"close", func() error { return s.CloseRoom(ctx, "r") }},
		{"join", func() error {
			return s.UpsertParticipant(ctx, rooms.Participant{RoomID: "r", SocketID: "s"}, rooms.ParticipantLimits{})
		}},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, rooms.ErrUnavailable) || !errors.Is(err, broken) {
			t.Errorf("%s during failing commits: err = %v, want ErrUnavailable caused by %v", c.name, err, broken)
		}
	}
	failCommits.Store(false)

	if m, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Content: "kept-4"}); err != nil || m.Order != 4 {
		t.Fatalf("append after the failures = (%+v, %v), want order 4", m, err)
	}
	stored := mustMessages(t, s, "r")
	want := []string{"kept-1", "kept-2", "kept-3", "kept-4"}
	var got []string
	for _, m := range stored {
		got = append(got, m.Content)
	}
	if !slices.Equal(got, want) {
		t.Errorf("history = %v, want %v", got, want)
	}
	if _, err := s.GetRoom(ctx, "lost-room"); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Errorf("room created in a failed batch: err = %v, want ErrRoomNotFound", err)
	}
	if got := mustParticipants(t, s, "r"); len(got) != 0 {
		t.Errorf("participants joined in a failed batch: %+v", got)
	}
	if st := s.Stats(); st.FailedBatches != uint64(len(calls)) {
		t.Errorf("failed batches = %d, want %d", st.FailedBatches, len(calls))
	}
}

// TestFailedBatchAfterCloseAndRecreate checks the cache across a batch
// that re-creates a room and then fails: the room's order must come from
// the database, not from the batch.
func TestFailedBatchAfterCloseAndRecreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	seedRooms(t, path, "r")
	var failCommits atomic.Bool
	s := openStore(t, path, quietLogger(), withHooks(testHooks{beforeCommit: func() error {
		if failCommits.Load() {
			return errors.New("commit refused")
		}
		return nil
	}}))
	ctx := context.Background()
	for range 5 {
		if _, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Content: "old"}); err != nil {
			t.Fatal(err)
		}
	}
	// One transaction that closes, re-creates and appends, then fails.
	failCommits.Store(true)
	err := s.submit(ctx, func(w *writeTx) error {
		if err := w.closeRoom("r"); err != nil {
			return err
		}
		if err := w.createRoom(rooms.Room{ID: "r"}); err != nil {
			return err
		}
		m, err := w.appendMessage("r", rooms.NewMessage{Content: "new"})
		if err == nil && m.Order != 1 {
			return fmt.Errorf("append after re-create got order %d, want 1", m.Order)
		}
		return err
	})
	if !errors.Is(err, rooms.ErrUnavailable) {
		t.Fatalf("failing batch: err = %v, want ErrUnavailable", err)
	}
	failCommits.Store(false)
	m, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Content: "after"})
	if err != nil || m.Order != 6 {
		t.Fatalf("append after the failed batch = (%+v, %v), want order 6", m, err)
	}
}

func TestContextDoneWhileQueued(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	seedRooms(t, path, "r")
	g := newGate()
	s := openStore(t, path, withHooks(g.hooks()))
	// Registered after the store, so it runs first: a test that fails
	// with the writer at the gate must not leave Close waiting for it.
	t.Cleanup(g.open)

	type result struct {
		msg rooms.Message
		err error
	}
	appendAsync := func(ctx context.Context, content string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			m, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Content: content})
			ch <- result{m, err}
		}()
		return ch
	}

	// The first request is taken, and the writer holds it at the gate.
	takenCtx, cancelTaken := context.WithCancel(context.Background())
	taken := appendAsync(takenCtx, "taken")
	g.awaitEnqueued(t, 1)
	g.awaitEntered(t)
	// The second waits in the queue.
	queuedCtx, cancelQueued := context.WithCancel(context.Background())
	queued := appendAsync(queuedCtx, "queued")
	g.awaitEnqueued(t, 1)

	cancelQueued()
	if r := awaitN(t, queued, 1, "queued append")[0]; r.err != context.Canceled {
		t.Errorf("append cancelled while queued: err = %v, want exactly context.Canceled", r.err)
	}
	cancelTaken()
	r := awaitN(t, taken, 1, "taken append")[0]
	if !errors.Is(r.err, context.Canceled) || r.err == context.Canceled {
		t.Errorf("append cancelled after being taken: err = %v, want one wrapping context.Canceled that says it may be applied", r.err)
	}

	g.open()
	// The taken request still completes; the dropped one never runs.
	m, err := s.AppendMessage(context.Background(), "r", rooms.NewMessage{Content: "later"})
	if err != nil || m.Order != 2 {
		t.Fatalf("next append = (%+v, %v), want order 2", m, err)
	}
	stored := mustMessages(t, s, "r")
	if len(stored) != 2 || stored[0].Content != "taken" || stored[1].Content != "later" {
		t.Errorf("history = %+v, want taken, later", stored)
	}
	if st := s.Stats(); st.Dropped != 1 {
		t.Errorf("dropped = %d, want 1", st.Dropped)
	}
}

func TestCloseAnswersQueuedRequests(t *testing.T) {
	const queued = 10
	path := filepath.Join(t.TempDir(), "chat.db")
	seedRooms(t, path, "r")
	g := newGate()
	closing := make(chan struct{})
	h := g.hooks()
	h.queueClosed = func() { close(closing) }
	s := openStore(t, path, withHooks(h))
	// Registered after the store, so it runs first: a test that fails
	// with the writer at the gate must not leave Close waiting for it.
	t.Cleanup(g.open)

	results := make(chan appendOutcome, queued)
	for i := range queued {
		go func() {
			o := appendOutcome{appender: i, roomID: "r", content: fmt.Sprint("m", i)}
			o.msg, o.err = s.AppendMessage(context.Background(), "r", rooms.NewMessage{Content: o.content})
			results <- o
		}()
	}
	g.awaitEnqueued(t, queued)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case <-closing:
	case <-time.After(waitLimit):
		t.Fatal("Close did not stop the queue")
	}
	// The queue is closed to newcomers while ten requests still wait.
	if _, err := s.AppendMessage(context.Background(), "r", rooms.NewMessage{Content: "late"}); !errors.Is(err, ErrClosed) {
		t.Errorf("append after Close began: err = %v, want ErrClosed", err)
	}
	g.letBatchesThrough(t, 1)
	all := awaitN(t, results, queued, "queued appends answered")
	if err := awaitN(t, closed, 1, "Close")[0]; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := s.Stats(); st.Commits != 1 || st.Writes != queued {
		t.Errorf("stats = %+v, want the %d queued appends in 1 commit", st, queued)
	}

	s = openStore(t, path)
	checkGapless(t, s, []string{"r"}, all)
}

// TestReadsDoNotWaitForTheWriter holds the writer inside an open write
// transaction: reads still answer, from the last committed state.
func TestReadsDoNotWaitForTheWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	seedRooms(t, path, "r")
	inCommit := make(chan struct{}, 1)
	letCommit := make(chan struct{})
	var holdOnce sync.Once
	releaseWriter := func() { holdOnce.Do(func() { close(letCommit) }) }
	s := openStore(t, path, withHooks(testHooks{beforeCommit: func() error {
		inCommit <- struct{}{}
		<-letCommit
		return nil
	}}))
	t.Cleanup(releaseWriter) // runs before the store's Close
	ctx := context.Background()

	appended := make(chan appendOutcome, 1)
	go func() {
		o := appendOutcome{roomID: "r", content: "pending"}
		o.msg, o.err = s.AppendMessage(ctx, "r", rooms.NewMessage{Content: o.content})
		appended <- o
	}()
	awaitN(t, inCommit, 1, "writer about to commit")

	readCtx, cancel := context.WithTimeout(ctx, waitLimit)
	defer cancel()
	if last, err := s.LastOrder(readCtx, "r"); err != nil || last != 0 {
		t.Errorf("LastOrder during the write = (%d, %v), want (0, nil): the uncommitted append is invisible", last, err)
	}
	if msgs, err := s.Messages(readCtx, "r", 1, 10); err != nil || len(msgs) != 0 {
		t.Errorf("Messages during the write = (%+v, %v), want none", msgs, err)
	}
	if _, err := s.GetRoom(readCtx, "r"); err != nil {
		t.Errorf("GetRoom during the write: %v", err)
	}
	if _, err := s.Participants(readCtx, "r"); err != nil {
		t.Errorf("Participants during the write: %v", err)
	}

	releaseWriter()
	if o := awaitN(t, appended, 1, "append")[0]; o.err != nil || o.msg.Order != 1 {
		t.Fatalf("append = (%+v, %v), want order 1", o.msg, o.err)
	}
	if last, err := s.LastOrder(ctx, "r"); err != nil || last != 1 {
		t.Errorf("LastOrder after the commit = (%d, %v), want 1", last, err)
	}
}
