package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/rooms"
)

// Store is a rooms.Store and a node registry on one Redis database or one
// Redis Cluster. It is safe for concurrent use; several Stores (processes)
// may share a database.
type Store struct {
	client     redis.UniversalClient
	ownsClient bool
	prefix     string
	reapBatch  int
	// waitReplicas > 0: an append returns once that many replicas have it
	// (WAIT), or fails after waitTimeout.
	waitReplicas int
	waitTimeout  time.Duration

	nodeRooms, nodeSessions *nodeIndex
	unfinishedVisits        unfinishedVisits
}

var (
	_ rooms.Store        = (*Store)(nil)
	_ rooms.SessionStore = (*Store)(nil)
)

// Open connects to the Redis at rawURL (redis://[user:password@]HOST:PORT/DB,
// or rediss:// for TLS), or to the Redis Cluster whose nodes (some of them
// suffice) rawURL lists (redis-cluster://[user:password@]HOST:PORT,HOST:PORT,...
// or rediss-cluster:// for TLS), with the timeouts of opts replacing any
// given in the URL's query, and checks it answers PING. An unreachable
// server is a rooms.ErrUnavailable error; a malformed URL or option is a
// plain error. Close releases the connections.
func Open(ctx context.Context, rawURL string, opts ...Option) (*Store, error) {
	set, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	if IsClusterURL(rawURL) {
		return openCluster(ctx, rawURL, set)
	}
	ropts, err := redis.ParseURL(rawURL)
	if err != nil {
		// The URL may hold a password: name it only in redacted form.
		if u, perr := url.Parse(rawURL); perr == nil {
			return nil, fmt.Errorf("redisstore: bad Redis URL %q: %w", u.Redacted(), err)
		}
		return nil, fmt.Errorf("redisstore: bad Redis URL: %w", err)
	}
	ropts.DialTimeout = set.dialTimeout
	ropts.DialerRetries = set.dialAttempts
	ropts.ReadTimeout = set.readTimeout
	ropts.WriteTimeout = set.writeTimeout
	ropts.PoolTimeout = set.poolTimeout
	// go-redis reads MaxRetries 0 as "the default, 3"; -1 means none.
	ropts.MaxRetries = set.maxRetries
	if ropts.MaxRetries == 0 {
		ropts.MaxRetries = -1
	}
	// Without this go-redis ignores context deadlines on reads and writes.
	ropts.ContextTimeoutEnabled = true

	client := redis.NewClient(ropts)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, rooms.Unavailable(fmt.Errorf("redisstore: Redis at %s (db %d) does not answer PING: %w", ropts.Addr, ropts.DB, err))
	}
	s := newStore(client, set)
	s.ownsClient = true
	return s, nil
}

// New returns a Store on a client the caller configured and owns (Close
// leaves it open): a *redis.Client or a *redis.ClusterClient. Only
// WithKeyPrefix, WithReapBatch and WithWaitReplicas matter here; a reap
// batch below 1 falls back to DefaultReapBatch. A cluster client should be
// made with ClusterOptions as Open makes them (see NoRetryAfterSend).
func New(client redis.UniversalClient, opts ...Option) *Store {
	set := settings{keyPrefix: DefaultKeyPrefix, reapBatch: DefaultReapBatch, waitTimeout: DefaultWaitTimeout}
	for _, o := range opts {
		o(&set)
	}
	if set.reapBatch < 1 {
		set.reapBatch = DefaultReapBatch
	}
	return newStore(client, set)
}

func newStore(client redis.UniversalClient, set settings) *Store {
	s := &Store{client: client, prefix: set.keyPrefix, reapBatch: set.reapBatch,
		waitReplicas: set.waitReplicas, waitTimeout: set.waitTimeout}
	s.nodeRooms = newNodeIndex(s, "rooms", nodeRoomsFmt)
	s.nodeSessions = newNodeIndex(s, "sessions", nodeSessionsFmt)
	return s
}

// Client is the Store's Redis client, for other components of the same
// deployment (the pub/sub broker). The Store keeps owning it.
func (s *Store) Client() redis.UniversalClient { return s.client }

// Ping reports whether Redis answers, within ctx (readiness).
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Close closes the client if Open created it.
func (s *Store) Close() error {
	if !s.ownsClient {
		return nil
	}
	return s.client.Close()
}

// IsCluster reports whether the store is on a Redis Cluster.
func (s *Store) IsCluster() bool {
	_, ok := s.client.(*redis.ClusterClient)
	return ok
}

// ServerMajorVersion is the major version of the Redis server (for a
// cluster, of the node that answers): sharded pub/sub needs 7.
func (s *Store) ServerMajorVersion(ctx context.Context) (int, error) {
	info, err := s.client.Info(ctx, "server").Result()
	if err != nil {
		return 0, unavailable("server version", err)
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "redis_version:"); ok {
			major, _, _ := strings.Cut(v, ".")
			n, err := strconv.Atoi(major)
			if err != nil {
				return 0, fmt.Errorf("redisstore: server version %q: %w", v, err)
			}
			return n, nil
		}
	}
	return 0, errors.New("redisstore: the server does not say its version (INFO server)")
}

// roomKeys are one room's keys, all in the room's hash slot.
type roomKeys struct {
	room, messages                         string
	members, avatars, holds, holders, gone string
	legacy                                 [3]string
}

func (s *Store) roomKeys(roomID string) roomKeys {
	k := func(part string) string { return s.prefix + "{" + roomID + "}:" + part }
	return roomKeys{
		room:     k(partRoom),
		messages: k(partMessages),
		members:  k(partMembers),
		avatars:  k(partAvatars),
		holds:    k(partHolds),
		holders:  k(partHolders),
		gone:     k(partGone),
		legacy:   [3]string{k(legacyPartPeople), k(legacyPartJoined), k(legacyPartState)},
	}
}

// all is the KEYS order every room script expects.
func (k roomKeys) all() []string {
	return []string{k.room, k.messages, k.members, k.avatars, k.holds, k.holders, k.gone}
}

// withLegacy is all plus the keys of the previous participant layout, for
// the scripts that delete a room's keys.
func (k roomKeys) withLegacy() []string {
	return append(k.all(), k.legacy[:]...)
}

// storedMessage is a message as kept in the history list; its order is its
// position, so it is not stored.
type storedMessage struct {
	Username  string `json:"username"`
	Content   string `json:"content"`
	CreatedAt string `json:"createdAt"`
}

// unavailable reports a failure to get an answer from Redis.
func unavailable(op string, err error) error {
	return rooms.Unavailable(fmt.Errorf("redisstore: %s: %w", op, err))
}

// isNoRoom reports whether a script answered that the room does not exist.
func isNoRoom(err error) bool { return redis.HasErrorPrefix(err, noRoomReply) }

// corrupt reports stored data this package did not write; it is not the
// caller's fault and retrying will not help, so it is not ErrUnavailable.
func corrupt(op, roomID, what string, err error) error {
	return fmt.Errorf("redisstore: %s: room %q: corrupt %s: %w", op, roomID, what, err)
}

// CreateRoom implements rooms.Store.
func (s *Store) CreateRoom(ctx context.Context, r rooms.Room) error {
	created, err := createRoomScript.Run(ctx, s.client, s.roomKeys(r.ID).withLegacy(),
		r.Creator, r.CreatedAt.Format(time.RFC3339Nano)).Int64()
	if err != nil {
		return unavailable("create room", err)
	}
	if created == 0 {
		return rooms.RoomConflict(r.ID)
	}
	return nil
}

// GetRoom implements rooms.Store.
func (s *Store) GetRoom(ctx context.Context, roomID string) (rooms.Room, error) {
	vals, err := s.client.HMGet(ctx, s.roomKeys(roomID).room, "creator", "createdAt").Result()
	if err != nil {
		return rooms.Room{}, unavailable("get room", err)
	}
	creator, ok1 := vals[0].(string)
	createdAt, ok2 := vals[1].(string)
	if !ok1 && !ok2 {
		return rooms.Room{}, rooms.RoomNotFound(roomID)
	}
	if !ok1 || !ok2 {
		return rooms.Room{}, corrupt("get room", roomID, "room hash", errors.New("creator or createdAt missing"))
	}
	at, err := time.Parse(time.RFC3339Nano, createdAt)
	if err != nil {
		return rooms.Room{}, corrupt("get room", roomID, "createdAt", err)
	}
	return rooms.Room{ID: roomID, Creator: creator, CreatedAt: at}, nil
}

// CloseRoom implements rooms.Store.
func (s *Store) CloseRoom(ctx context.Context, roomID string) error {
	err := closeRoomScript.Run(ctx, s.client, s.roomKeys(roomID).withLegacy(), s.prefix, roomID).Err()
	switch {
	case isNoRoom(err):
		return rooms.RoomNotFound(roomID)
	case err != nil:
		return unavailable("close room", err)
	}
	return nil
}

// AppendMessage implements rooms.Store.
func (s *Store) AppendMessage(ctx context.Context, roomID string, m rooms.NewMessage) (rooms.Message, error) {
	payload, err := json.Marshal(storedMessage{Username: m.Username, Content: m.Content, CreatedAt: m.CreatedAt})
	if err != nil {
		return rooms.Message{}, fmt.Errorf("redisstore: append message: %w", err)
	}
	var order int64
	if s.waitReplicas > 0 {
		order, err = s.appendAndWait(ctx, roomID, payload)
	} else {
		order, err = appendMessageScript.Run(ctx, s.client, s.roomKeys(roomID).all(), payload).Int64()
	}
	var short *replicasShortError
	switch {
	case errors.As(err, &short):
		return rooms.Message{}, rooms.Unavailable(fmt.Errorf("redisstore: append message: room %q: %w", roomID, err))
	case isNoRoom(err):
		return rooms.Message{}, rooms.RoomNotFound(roomID)
	case err != nil:
		return rooms.Message{}, unavailable("append message", err)
	}
	return rooms.Message{Order: order, Username: m.Username, Content: m.Content, CreatedAt: m.CreatedAt}, nil
}

// Messages implements rooms.Store. Redis's LRANGE walks to the first index
// from the nearer end of the list, skipping whole list nodes, so reading
// recent pages costs the page, and old pages of a long history a little more.
func (s *Store) Messages(ctx context.Context, roomID string, fromOrder, toOrder int64) ([]rooms.Message, error) {
	// Order k is at index k-1. An empty range still asks the script, which
	// checks the room exists; 1..0 is empty and, unlike negative indexes,
	// not read from the tail.
	first, last := int64(1), int64(0)
	if from := max(fromOrder, 1); from <= toOrder {
		first, last = from-1, toOrder-1
	}
	raw, err := messagesScript.Run(ctx, s.client, s.roomKeys(roomID).all(), first, last).StringSlice()
	switch {
	case isNoRoom(err):
		return nil, rooms.RoomNotFound(roomID)
	case err != nil:
		return nil, unavailable("read messages", err)
	}
	out := make([]rooms.Message, len(raw))
	for i, r := range raw {
		var m storedMessage
		if err := json.Unmarshal([]byte(r), &m); err != nil {
			return nil, corrupt("read messages", roomID, fmt.Sprintf("message %d", first+int64(i)+1), err)
		}
		out[i] = rooms.Message{Order: first + int64(i) + 1, Username: m.Username, Content: m.Content, CreatedAt: m.CreatedAt}
	}
	return out, nil
}

// pageMessages is how many messages one page of a ReadMessages range asks
// Redis for: one round trip each, and at most pageMessages times
// MaxContentBytes in memory.
const pageMessages = 64

// ReadMessages implements rooms.Store. Nothing is held between pages; the
// range is fixed by the history length and the room's createdAt read when
// it opens (the history is append-only, so index k holds the same message
// for as long as the room lives).
func (s *Store) ReadMessages(ctx context.Context, roomID string, fromOrder, toOrder int64, fn func(rooms.MessageRange) error) error {
	keys := s.roomKeys(roomID)
	reply, err := openRangeScript.Run(ctx, s.client, keys.all()).Slice()
	switch {
	case isNoRoom(err):
		return rooms.RoomNotFound(roomID)
	case err != nil:
		return unavailable("open messages", err)
	}
	if len(reply) != 2 {
		return corrupt("open messages", roomID, "reply", fmt.Errorf("%v", reply))
	}
	createdAt, ok1 := reply[0].(string)
	length, ok2 := reply[1].(int64)
	if !ok1 || !ok2 {
		return corrupt("open messages", roomID, "reply", fmt.Errorf("%v", reply))
	}
	return fn(&messageRange{s: s, roomID: roomID, keys: keys.all(), createdAt: createdAt, from: max(fromOrder, 1), to: min(toOrder, length)})
}

type messageRange struct {
	s         *Store
	roomID    string
	keys      []string
	createdAt string
	from, to  int64
}

// Pages implements rooms.MessageRange.
func (m *messageRange) Pages(ctx context.Context, fn func([]rooms.Message) error) error {
	var page []rooms.Message
	next := m.from
	for {
		// An empty page is still asked for once, so a room closed since
		// the range opened is noticed even when nothing is left to read.
		first, last := next-1, min(next-1+pageMessages, m.to)-1
		if next > m.to {
			first, last = 1, 0
		}
		raw, err := rangePageScript.Run(ctx, m.s.client, m.keys, m.createdAt, first, last).StringSlice()
		switch {
		case isNoRoom(err):
			return rooms.RoomNotFound(m.roomID)
		case err != nil:
			return unavailable("read messages", err)
		}
		if next > m.to {
			return nil
		}
		if int64(len(raw)) != last-first+1 {
			return rooms.RoomNotFound(m.roomID) // not the history the range opened on
		}
		page = page[:0]
		for i, r := range raw {
			var sm storedMessage
			if err := json.Unmarshal([]byte(r), &sm); err != nil {
				return corrupt("read messages", m.roomID, fmt.Sprintf("message %d", next+int64(i)), err)
			}
			page = append(page, rooms.Message{Order: next + int64(i), Username: sm.Username, Content: sm.Content, CreatedAt: sm.CreatedAt})
		}
		next += int64(len(page))
		if err := fn(page); err != nil {
			return err
		}
	}
}

// LastOrder implements rooms.Store.
func (s *Store) LastOrder(ctx context.Context, roomID string) (int64, error) {
	n, err := lastOrderScript.Run(ctx, s.client, s.roomKeys(roomID).all()).Int64()
	switch {
	case isNoRoom(err):
		return 0, rooms.RoomNotFound(roomID)
	case err != nil:
		return 0, unavailable("last order", err)
	}
	return n, nil
}
