package rooms

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultMaxContentBytes is the default cap on a message's content, in bytes
// of UTF-8. The original had no cap of its own (only the transport's frame
// limit); 64 KiB is far above any chat message and well below that limit.
const DefaultMaxContentBytes = 64 << 10

// DefaultMaxRange is the default widest history range one read may ask for
// (toIndex-fromIndex+1). The original frontend pages by a few dozen
// messages; 10,000 leaves room for any client that reads a whole
// conversation at once, while an unbounded range asks the server to stream
// arbitrarily much for one request.
const DefaultMaxRange = 10_000

// Defaults of the participant limits (WithParticipantLimits). The original
// frontend shows every entry of a room, so neither may bite a real room:
// 10,000 people are connected at once in make bench's big room, and an
// entry disconnected for 10 minutes outlives every reconnection window
// (REJOIN_GRACE, RECOVERY_WINDOW) by far.
const (
	DefaultMaxParticipants      = 10_000
	DefaultParticipantRetention = 10 * time.Minute
)

// Wire texts of the history range checks, typo included: clients match them.
const (
	msgIndexesNotPositive = "Invalid parameters, 'fromIndex' and 'toIndex' must be positive"
	msgIndexesReversed    = "Invalid parameters, 'toIndex' must no not be less than 'fromIndex'"
)

// jsISOLayout formats like JavaScript's Date.prototype.toISOString.
const jsISOLayout = "2006-01-02T15:04:05.000Z"

// JSTime formats t as the original's clients read times: JavaScript's
// Date.prototype.toISOString (UTC, milliseconds).
func JSTime(t time.Time) string { return t.UTC().Format(jsISOLayout) }

// Service holds the rules of the chat domain on top of a Store. It is safe
// for concurrent use.
type Service struct {
	store           Store
	now             func() time.Time
	maxContentBytes int
	maxRange        int64
	limits          ParticipantLimits // Now is set per join
	validate        *Validator

	hooksMu     sync.RWMutex
	closedHooks []func(ctx context.Context, roomID string)
}

// Option configures a Service.
type Option func(*Service)

// WithClock replaces time.Now, for deterministic tests.
func WithClock(now func() time.Time) Option {
	return func(s *Service) { s.now = now }
}

// WithMaxContentBytes sets MaxContentBytes: the largest accepted message
// content in bytes. Values below 1 keep the default.
func WithMaxContentBytes(n int) Option {
	return func(s *Service) {
		if n > 0 {
			s.maxContentBytes = n
		}
	}
}

// WithMaxRange sets MaxRange: the widest range of messages (toIndex -
// fromIndex + 1) that ReadMessages accepts. Values below 1 keep the default.
func WithMaxRange(n int64) Option {
	return func(s *Service) {
		if n > 0 {
			s.maxRange = n
		}
	}
}

// WithParticipantLimits bounds every room's participant list: at most
// maxParticipants entries, and entries disconnected longer than retention
// are pruned (see Store.UpsertParticipant). Values below 1 keep the
// defaults, DefaultMaxParticipants and DefaultParticipantRetention.
func WithParticipantLimits(maxParticipants int, retention time.Duration) Option {
	return func(s *Service) {
		if maxParticipants > 0 {
			s.limits.Max = maxParticipants
		}
		if retention > 0 {
			s.limits.Retention = retention
		}
	}
}

// NewService returns a Service backed by store.
func NewService(store Store, opts ...Option) *Service {
	s := &Service{
		store:           store,
		now:             time.Now,
		maxContentBytes: DefaultMaxContentBytes,
		maxRange:        DefaultMaxRange,
		limits:          ParticipantLimits{Max: DefaultMaxParticipants, Retention: DefaultParticipantRetention},
	}
	for _, opt := range opts {
		opt(s)
	}
	s.validate = NewValidator(map[string]int{TagContentBytes: s.maxContentBytes})
	return s
}

// MaxContentBytes reports the content cap in effect.
func (s *Service) MaxContentBytes() int { return s.maxContentBytes }

// ParticipantLimits reports the participant limits in effect (Now unset).
func (s *Service) ParticipantLimits() ParticipantLimits { return s.limits }

// CreateRoomInput is the body of POST /api/v1/rooms.
type CreateRoomInput struct {
	RoomID          string `json:"roomId" validate:"required"`
	CreatorUsername string `json:"creatorUsername" validate:"required"`
}

// CreateRoom creates an empty room. It fails with a *ValidationError for
// missing fields and with RoomConflict when the id is taken.
func (s *Service) CreateRoom(ctx context.Context, in CreateRoomInput) error {
	if err := s.check(in); err != nil {
		return err
	}
	err := s.store.CreateRoom(ctx, Room{ID: in.RoomID, Creator: in.CreatorUsername, CreatedAt: s.now().UTC()})
	if errors.Is(err, ErrRoomConflict) {
		return RoomConflict(in.RoomID)
	}
	return err
}

// CloseRoom deletes a room with its history and participants, then runs every
// OnRoomClosed hook in registration order. It fails with RoomNotFound.
//
// The hooks get a context that keeps ctx's values but not its cancellation:
// the room is gone either way, so members must be told even if the caller
// (say, an HTTP client) has already hung up.
func (s *Service) CloseRoom(ctx context.Context, roomID string) error {
	if err := s.store.CloseRoom(ctx, roomID); err != nil {
		if errors.Is(err, ErrRoomNotFound) {
			return RoomNotFound(roomID)
		}
		return err
	}
	s.hooksMu.RLock()
	hooks := slices.Clone(s.closedHooks)
	s.hooksMu.RUnlock()
	hookCtx := context.WithoutCancel(ctx)
	for _, hook := range hooks {
		hook(hookCtx, roomID)
	}
	return nil
}

// OnRoomClosed registers f to run after every successful CloseRoom. Hooks run
// synchronously on the closing goroutine, so they must not block for long.
func (s *Service) OnRoomClosed(f func(ctx context.Context, roomID string)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.closedHooks = append(s.closedHooks, f)
}

// Messages returns the messages with fromIndex <= order <= toIndex. The index
// checks come first, with the original's wire texts (CodeValidation); an
// unknown room is then RoomNotFound (which the REST API answers as the
// original did, 403 Forbidden).
func (s *Service) Messages(ctx context.Context, roomID string, fromIndex, toIndex int64) ([]Message, error) {
	if fromIndex <= 0 || toIndex <= 0 {
		return nil, &Error{Code: CodeValidation, Message: msgIndexesNotPositive}
	}
	if fromIndex > toIndex {
		return nil, &Error{Code: CodeValidation, Message: msgIndexesReversed}
	}
	msgs, err := s.store.Messages(ctx, roomID, fromIndex, toIndex)
	if errors.Is(err, ErrRoomNotFound) {
		return nil, RoomNotFound(roomID)
	}
	if err != nil {
		return nil, err
	}
	return nonNil(msgs), nil
}

// ReadMessages opens the messages with fromIndex <= order <= toIndex for
// reading a page at a time (see Store.ReadMessages) and calls fn with them.
// The checks of Messages come first, in the same order, then a range wider
// than MaxRange is refused (CodeValidation); an unknown room, or one closed
// while it is read, is RoomNotFound.
func (s *Service) ReadMessages(ctx context.Context, roomID string, fromIndex, toIndex int64, fn func(MessageRange) error) error {
	if fromIndex <= 0 || toIndex <= 0 {
		return &Error{Code: CodeValidation, Message: msgIndexesNotPositive}
	}
	if fromIndex > toIndex {
		return &Error{Code: CodeValidation, Message: msgIndexesReversed}
	}
	// Both are positive, so the difference cannot overflow.
	if toIndex-fromIndex >= s.maxRange {
		return &Error{Code: CodeValidation, Message: fmt.Sprintf(msgRangeTooWide, s.maxRange)}
	}
	err := s.store.ReadMessages(ctx, roomID, fromIndex, toIndex, fn)
	if errors.Is(err, ErrRoomNotFound) {
		return RoomNotFound(roomID)
	}
	return err
}

// msgRangeTooWide words the MaxRange check in the style of the original's
// other index checks.
const msgRangeTooWide = "Invalid parameters, 'toIndex' - 'fromIndex' must be less than %d: read the history in smaller ranges"

// LastOrder is the highest order stored in the room (0 for none); an unknown
// room is RoomNotFound.
func (s *Service) LastOrder(ctx context.Context, roomID string) (int64, error) {
	n, err := s.store.LastOrder(ctx, roomID)
	if errors.Is(err, ErrRoomNotFound) {
		return 0, RoomNotFound(roomID)
	}
	return n, err
}

// postInput is the validated shape of a message post.
type postInput struct {
	RoomID   string `json:"roomId" validate:"required"`
	Username string `json:"username" validate:"required"`
	Content  string `json:"content" validate:"required,contentbytes"`
}

// Post appends a message to a room's history and returns it with its order.
// A missing CreatedAt becomes the server time in toISOString form; a given
// one is kept verbatim (the original echoes whatever the client sent). It
// fails with a *ValidationError, or RoomNotFound for an unknown room.
func (s *Service) Post(ctx context.Context, roomID string, m NewMessage) (Message, error) {
	if err := s.check(postInput{RoomID: roomID, Username: m.Username, Content: m.Content}); err != nil {
		return Message{}, err
	}
	if m.CreatedAt == "" {
		m.CreatedAt = JSTime(s.now())
	}
	msg, err := s.store.AppendMessage(ctx, roomID, m)
	if errors.Is(err, ErrRoomNotFound) {
		return Message{}, RoomNotFound(roomID)
	}
	if err != nil {
		return Message{}, err
	}
	return msg, nil
}

// joinInput is the validated shape of a join. RoomID is deliberately not
// required: the original treated a missing room id like an unknown room.
type joinInput struct {
	SocketID string `json:"socketId" validate:"required"`
}

// Join connects the room's entry for p.Username to socket p.SocketID,
// adding the entry when there is none, within the participant limits
// (see Store.UpsertParticipant). It does not read the list back: in a room
// of n participants that is O(n) per join, and the gateway delivers lists
// itself. An unknown or empty room id is RoomNotFound; a full room whose
// participants are all connected is RoomFull.
func (s *Service) Join(ctx context.Context, p Participant) error {
	if err := s.check(joinInput{SocketID: p.SocketID}); err != nil {
		return err
	}
	if p.RoomID == "" {
		return RoomNotFound(p.RoomID)
	}
	p.Connected = true
	limits := s.limits
	limits.Now = s.now()
	if err := s.store.UpsertParticipant(ctx, p, limits); err != nil {
		if errors.Is(err, ErrRoomNotFound) {
			return RoomNotFound(p.RoomID)
		}
		return err
	}
	return nil
}

// nonNil keeps lists JSON-encoding as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Leave marks the entry socketID holds in roomID disconnected, now, if
// nodeID holds it (any node when nodeID is empty). changed is true when it
// did. A missing room or entry is not an error: (false, nil). Unlike the
// original, this holds for a socket whose room was closed and re-created
// under the same id. The list is not read back: the gateway delivers lists
// itself.
func (s *Service) Leave(ctx context.Context, roomID, socketID, nodeID string) (changed bool, err error) {
	if roomID == "" || socketID == "" {
		return false, nil
	}
	found, err := s.store.DisconnectParticipant(ctx, roomID, socketID, nodeID, s.now())
	if errors.Is(err, ErrRoomNotFound) {
		return false, nil
	}
	return found, err
}

// Reclaim gives the participant entry a reconnecting client's old socket
// holds in roomID to its new socket on nodeID, connected again and in its
// old place. It reports false when there is nothing to reclaim: the room
// was closed since (and perhaps re-created), or the old socket holds no
// entry there any more (see Store.ReclaimParticipant).
func (s *Service) Reclaim(ctx context.Context, roomID, oldSocketID, newSocketID, nodeID string) (bool, error) {
	if roomID == "" || oldSocketID == "" || newSocketID == "" {
		return false, nil
	}
	found, err := s.store.ReclaimParticipant(ctx, roomID, oldSocketID, newSocketID, nodeID)
	if errors.Is(err, ErrRoomNotFound) {
		return false, nil
	}
	return found, err
}

// Participants lists a room's participants in list order; an unknown
// room is RoomNotFound.
func (s *Service) Participants(ctx context.Context, roomID string) ([]Participant, error) {
	list, err := s.store.Participants(ctx, roomID)
	if errors.Is(err, ErrRoomNotFound) {
		return nil, RoomNotFound(roomID)
	}
	if err != nil {
		return nil, err
	}
	return nonNil(list), nil
}

func (s *Service) check(in any) error { return s.validate.Struct(in) }
