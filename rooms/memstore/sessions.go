package memstore

import (
	"context"
	"slices"
	"sync"
	"time"

	"chatgateway/rooms"
)

// sessions is the in-memory rooms.SessionStore: sessions live as long as
// the process, as everything else here does.
type sessions struct {
	mu    sync.Mutex
	byKey map[string]*sessionRecord
}

// sessionRecord is a rooms.Session as kept here: every joined socket that
// can reconnect has one, so it is laid out in 128 bytes (embedding
// rooms.Session took 160), with the departure time in Unix nanoseconds.
type sessionRecord struct {
	Key      string
	SocketID string
	NodeID   string
	Rooms    []rooms.SessionRoom
	Log      []byte
	claimant string // the one live socket waiting for it
	// departedNanos is Session.DepartedAt; 0 for the zero time.
	departedNanos int64
	Live          bool
	tainted       bool
	consumed      bool // granted once already
}

func (r *sessionRecord) departedAt() time.Time {
	if r.departedNanos == 0 {
		return time.Time{}
	}
	return time.Unix(0, r.departedNanos)
}

func (r *sessionRecord) setDepartedAt(at time.Time) {
	r.departedNanos = 0
	if !at.IsZero() {
		r.departedNanos = at.UnixNano()
	}
}

var _ rooms.SessionStore = (*Store)(nil)

func (s *sessions) record(key string) *sessionRecord {
	if s.byKey == nil {
		s.byKey = make(map[string]*sessionRecord)
	}
	r := s.byKey[key]
	if r == nil {
		r = &sessionRecord{Key: key}
		s.byKey[key] = r
	}
	return r
}

// OpenSession implements rooms.SessionStore.
func (s *Store) OpenSession(ctx context.Context, key, socketID, nodeID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	r := s.sessions.record(key)
	r.SocketID, r.NodeID, r.Live, r.departedNanos = socketID, nodeID, true, 0
	return nil
}

// AddSessionRoom implements rooms.SessionStore.
func (s *Store) AddSessionRoom(ctx context.Context, key, socketID, nodeID string, room rooms.SessionRoom) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	r, known := s.sessions.byKey[key]
	if !known {
		// A departed record is not brought back to life: a join still in
		// flight when its socket went away only adds to what is kept.
		r = s.sessions.record(key)
		r.SocketID, r.NodeID, r.Live = socketID, nodeID, true
	}
	if i := slices.IndexFunc(r.Rooms, func(x rooms.SessionRoom) bool { return x.RoomID == room.RoomID }); i >= 0 {
		r.Rooms[i] = room
	} else {
		r.Rooms = append(r.Rooms, room)
	}
	return nil
}

// DepartSession implements rooms.SessionStore.
func (s *Store) DepartSession(ctx context.Context, key, nodeID string, at time.Time, log []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	r := s.sessions.byKey[key]
	if r == nil || !r.Live || r.NodeID != nodeID {
		return nil
	}
	r.Live, r.Log = false, slices.Clone(log)
	r.setDepartedAt(at)
	return nil
}

// EndSession implements rooms.SessionStore.
func (s *Store) EndSession(ctx context.Context, key, nodeID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	if r := s.sessions.byKey[key]; r != nil && r.Live && r.NodeID == nodeID {
		delete(s.sessions.byKey, key)
	}
	return nil
}

// ClaimSession implements rooms.SessionStore.
func (s *Store) ClaimSession(ctx context.Context, c rooms.SessionClaim) (rooms.ClaimOutcome, rooms.Session, error) {
	if err := ctx.Err(); err != nil {
		return rooms.ClaimRefused, rooms.Session{}, err
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	r := s.sessions.byKey[c.Key]
	if r == nil || r.tainted || r.consumed {
		return rooms.ClaimRefused, rooms.Session{}, nil
	}
	if r.claimant != "" && r.claimant != c.Claimant {
		r.tainted = true
		return rooms.ClaimRefused, rooms.Session{}, nil
	}
	if r.Live {
		r.claimant = c.Claimant
		return rooms.ClaimPending, r.copy(), nil
	}
	if c.Now.After(r.departedAt().Add(c.Grace)) {
		delete(s.sessions.byKey, c.Key)
		return rooms.ClaimRefused, rooms.Session{}, nil
	}
	r.consumed, r.claimant = true, ""
	return rooms.ClaimGranted, r.copy(), nil
}

// WithdrawClaim implements rooms.SessionStore.
func (s *Store) WithdrawClaim(ctx context.Context, key, claimant string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	if r := s.sessions.byKey[key]; r != nil && r.claimant == claimant {
		r.claimant = ""
	}
	return nil
}

// TaintSessions implements rooms.SessionStore.
func (s *Store) TaintSessions(ctx context.Context, keys ...string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	for _, k := range keys {
		if r := s.sessions.byKey[k]; r != nil {
			r.tainted = true
		}
	}
	return nil
}

// TakeOverSession implements rooms.SessionStore.
func (s *Store) TakeOverSession(ctx context.Context, key, nodeID string, now time.Time, window time.Duration) (rooms.Session, bool, error) {
	if err := ctx.Err(); err != nil {
		return rooms.Session{}, false, err
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	r := s.sessions.byKey[key]
	if r == nil {
		return rooms.Session{}, false, nil
	}
	if !r.Live && now.After(r.departedAt().Add(window)) {
		delete(s.sessions.byKey, key)
		return rooms.Session{}, false, nil
	}
	taken := r.copy()
	r.Live, r.NodeID, r.departedNanos, r.Log = true, nodeID, 0, nil
	return taken, true, nil
}

// PruneSessions implements rooms.SessionStore.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.sessions.mu.Lock()
	defer s.sessions.mu.Unlock()
	n := 0
	for k, r := range s.sessions.byKey {
		if !r.Live && r.departedNanos != 0 && r.departedAt().Before(before) {
			delete(s.sessions.byKey, k)
			n++
		}
	}
	return n, nil
}

func (r *sessionRecord) copy() rooms.Session {
	return rooms.Session{
		Key:        r.Key,
		SocketID:   r.SocketID,
		NodeID:     r.NodeID,
		Live:       r.Live,
		DepartedAt: r.departedAt(),
		Rooms:      slices.Clone(r.Rooms),
		Log:        slices.Clone(r.Log),
	}
}
