package ops

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"chatgateway/gateway"
	"chatgateway/rooms"
)

// Store operations, the values of the operation label: the methods of
// rooms.Store, rooms.SessionStore and gateway.NodeRegistry, plus
// message_pages for each pass over an open history range.
var storeOperations = []string{
	"create_room", "get_room", "close_room", "append_message", "messages", "read_messages", "message_pages",
	"last_order", "upsert_participant", "disconnect_participant", "reclaim_participant", "participants",
	"open_session", "add_session_room", "depart_session", "end_session", "claim_session", "withdraw_claim",
	"taint_sessions", "take_over_session", "prune_sessions",
	"heartbeat", "reap_dead_nodes", "remove_node",
}

// storeBuckets span an in-memory call (microseconds) to a Redis call
// stuck until its timeout (seconds).
var storeBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

type storeMetrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	ops      map[string]storeOp
}

// storeOp holds one operation's children, obtained once: a call costs an
// observation and a map lookup, never a label resolution.
type storeOp struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

func newStoreMetrics() *storeMetrics {
	m := &storeMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "chat_store_call_duration_seconds",
			Help:    "Duration of store calls, by operation (history reads exclude the time spent writing the answer).",
			Buckets: storeBuckets,
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chat_store_errors_total",
			Help: "Store calls that failed (unreachable, timed out, internal), by operation; answers such as room-not-found are not errors.",
		}, []string{"operation"}),
		ops: make(map[string]storeOp, len(storeOperations)),
	}
	for _, op := range storeOperations {
		m.ops[op] = storeOp{duration: m.duration.WithLabelValues(op), errors: m.errors.WithLabelValues(op)}
	}
	return m
}

// observe records one call of op that took d.
func (m *storeMetrics) observe(op string, d time.Duration, err error) {
	o := m.ops[op]
	o.duration.Observe(d.Seconds())
	if isFailure(err) {
		o.errors.Inc()
	}
}

// isFailure tells a store failure from an answer of the domain (room not
// found, conflict, validation).
func isFailure(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, rooms.ErrUnavailable) {
		return true
	}
	var domain *rooms.Error
	var validation *rooms.ValidationError
	return !errors.As(err, &domain) && !errors.As(err, &validation)
}

// timed runs f as op.
func timed[T any](m *storeMetrics, op string, f func() (T, error)) (T, error) {
	start := time.Now()
	v, err := f()
	m.observe(op, time.Since(start), err)
	return v, err
}

func timedErr(m *storeMetrics, op string, f func() error) error {
	_, err := timed(m, op, func() (struct{}, error) { return struct{}{}, f() })
	return err
}

// InstrumentStore times every call of s.
func (m *Metrics) InstrumentStore(s rooms.Store) rooms.Store { return &timedStore{next: s, m: m.store} }

// InstrumentSessions times every call of s.
func (m *Metrics) InstrumentSessions(s rooms.SessionStore) rooms.SessionStore {
	return &timedSessions{next: s, m: m.store}
}

// InstrumentNodes times every call of r (nil stays nil).
func (m *Metrics) InstrumentNodes(r gateway.NodeRegistry) gateway.NodeRegistry {
	if r == nil {
		return nil
	}
	return &timedNodes{next: r, m: m.store}
}

type timedStore struct {
	next rooms.Store
	m    *storeMetrics
}

func (s *timedStore) CreateRoom(ctx context.Context, room rooms.Room) error {
	return timedErr(s.m, "create_room", func() error { return s.next.CreateRoom(ctx, room) })
}

func (s *timedStore) GetRoom(ctx context.Context, roomID string) (rooms.Room, error) {
	return timed(s.m, "get_room", func() (rooms.Room, error) { return s.next.GetRoom(ctx, roomID) })
}

func (s *timedStore) CloseRoom(ctx context.Context, roomID string) error {
	return timedErr(s.m, "close_room", func() error { return s.next.CloseRoom(ctx, roomID) })
}

func (s *timedStore) AppendMessage(ctx context.Context, roomID string, msg rooms.NewMessage) (rooms.Message, error) {
	return timed(s.m, "append_message", func() (rooms.Message, error) { return s.next.AppendMessage(ctx, roomID, msg) })
}

func (s *timedStore) Messages(ctx context.Context, roomID string, from, to int64) ([]rooms.Message, error) {
	return timed(s.m, "messages", func() ([]rooms.Message, error) { return s.next.Messages(ctx, roomID, from, to) })
}

// ReadMessages times the store's part: opening the range, without the time
// fn spends (writing the answer); each pass over the range is timed as
// message_pages, again without its page callbacks.
func (s *timedStore) ReadMessages(ctx context.Context, roomID string, from, to int64, fn func(rooms.MessageRange) error) error {
	start := time.Now()
	var inFn time.Duration
	var fnErr error
	err := s.next.ReadMessages(ctx, roomID, from, to, func(r rooms.MessageRange) error {
		t := time.Now()
		fnErr = fn(timedRange{next: r, m: s.m})
		inFn += time.Since(t)
		return fnErr
	})
	s.m.observe("read_messages", time.Since(start)-inFn, storeFailure(err, fnErr))
	return err
}

// storeFailure is err unless it is the caller's callback's own error.
func storeFailure(err, callbackErr error) error {
	if err != nil && callbackErr != nil && errors.Is(err, callbackErr) {
		return nil
	}
	return err
}

type timedRange struct {
	next rooms.MessageRange
	m    *storeMetrics
}

func (r timedRange) Pages(ctx context.Context, fn func(page []rooms.Message) error) error {
	start := time.Now()
	var inFn time.Duration
	var fnErr error
	err := r.next.Pages(ctx, func(page []rooms.Message) error {
		t := time.Now()
		fnErr = fn(page)
		inFn += time.Since(t)
		return fnErr
	})
	r.m.observe("message_pages", time.Since(start)-inFn, storeFailure(err, fnErr))
	return err
}

func (s *timedStore) LastOrder(ctx context.Context, roomID string) (int64, error) {
	return timed(s.m, "last_order", func() (int64, error) { return s.next.LastOrder(ctx, roomID) })
}

func (s *timedStore) UpsertParticipant(ctx context.Context, p rooms.Participant, limits rooms.ParticipantLimits) error {
	return timedErr(s.m, "upsert_participant", func() error { return s.next.UpsertParticipant(ctx, p, limits) })
}

func (s *timedStore) DisconnectParticipant(ctx context.Context, roomID, socketID, nodeID string, at time.Time) (bool, error) {
	return timed(s.m, "disconnect_participant", func() (bool, error) {
		return s.next.DisconnectParticipant(ctx, roomID, socketID, nodeID, at)
	})
}

func (s *timedStore) ReclaimParticipant(ctx context.Context, roomID, oldSocketID, newSocketID, nodeID string) (bool, error) {
	return timed(s.m, "reclaim_participant", func() (bool, error) {
		return s.next.ReclaimParticipant(ctx, roomID, oldSocketID, newSocketID, nodeID)
	})
}

func (s *timedStore) Participants(ctx context.Context, roomID string) ([]rooms.Participant, error) {
	return timed(s.m, "participants", func() ([]rooms.Participant, error) { return s.next.Participants(ctx, roomID) })
}

type timedSessions struct {
	next rooms.SessionStore
	m    *storeMetrics
}

func (s *timedSessions) OpenSession(ctx context.Context, key, socketID, nodeID string) error {
	return timedErr(s.m, "open_session", func() error { return s.next.OpenSession(ctx, key, socketID, nodeID) })
}

func (s *timedSessions) AddSessionRoom(ctx context.Context, key, socketID, nodeID string, room rooms.SessionRoom) error {
	return timedErr(s.m, "add_session_room", func() error { return s.next.AddSessionRoom(ctx, key, socketID, nodeID, room) })
}

func (s *timedSessions) DepartSession(ctx context.Context, key, nodeID string, at time.Time, log []byte) error {
	return timedErr(s.m, "depart_session", func() error { return s.next.DepartSession(ctx, key, nodeID, at, log) })
}

func (s *timedSessions) EndSession(ctx context.Context, key, nodeID string) error {
	return timedErr(s.m, "end_session", func() error { return s.next.EndSession(ctx, key, nodeID) })
}

func (s *timedSessions) ClaimSession(ctx context.Context, claim rooms.SessionClaim) (rooms.ClaimOutcome, rooms.Session, error) {
	start := time.Now()
	outcome, sess, err := s.next.ClaimSession(ctx, claim)
	s.m.observe("claim_session", time.Since(start), err)
	return outcome, sess, err
}

func (s *timedSessions) WithdrawClaim(ctx context.Context, key, claimant string) error {
	return timedErr(s.m, "withdraw_claim", func() error { return s.next.WithdrawClaim(ctx, key, claimant) })
}

func (s *timedSessions) TaintSessions(ctx context.Context, keys ...string) error {
	return timedErr(s.m, "taint_sessions", func() error { return s.next.TaintSessions(ctx, keys...) })
}

func (s *timedSessions) TakeOverSession(ctx context.Context, key, nodeID string, now time.Time, window time.Duration) (rooms.Session, bool, error) {
	start := time.Now()
	sess, ok, err := s.next.TakeOverSession(ctx, key, nodeID, now, window)
	s.m.observe("take_over_session", time.Since(start), err)
	return sess, ok, err
}

func (s *timedSessions) PruneSessions(ctx context.Context, before time.Time) (int, error) {
	return timed(s.m, "prune_sessions", func() (int, error) { return s.next.PruneSessions(ctx, before) })
}

type timedNodes struct {
	next gateway.NodeRegistry
	m    *storeMetrics
}

func (r *timedNodes) Heartbeat(ctx context.Context, nodeID string, ttl time.Duration) error {
	return timedErr(r.m, "heartbeat", func() error { return r.next.Heartbeat(ctx, nodeID, ttl) })
}

func (r *timedNodes) ReapDeadNodes(ctx context.Context) (map[string][]string, error) {
	return timed(r.m, "reap_dead_nodes", func() (map[string][]string, error) { return r.next.ReapDeadNodes(ctx) })
}

func (r *timedNodes) RemoveNode(ctx context.Context, nodeID string) error {
	return timedErr(r.m, "remove_node", func() error { return r.next.RemoveNode(ctx, nodeID) })
}
