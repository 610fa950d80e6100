// Package admin is the server side of the official Socket.IO Admin UI
// (npm @socket.io/admin-ui 0.5, its dashboard at admin.socket.io or served
// from the package's ui/dist): the admin namespace the dashboard connects
// to, its login, and the feed it draws from.
//
// The protocol is the npm package's instrument(): the dashboard connects to
// namespace "/admin" with auth {username, password} (or {sessionId} from an
// earlier login) and gets "session" (a login token), "config" (the
// supported features), "all_sockets" (development mode) and every 2 s
// "server_stats"; in development mode then "socket_connected",
// "socket_updated", "socket_disconnected", "room_joined", "room_left",
// "event_received" and "event_sent" as they happen. It may send
// "_disconnect" (nsp, close, filter) to disconnect the sockets whose id is
// filter or that are in room filter.
//
// Sockets, clients and namespaces come from socketio.Observer, rooms from
// gateway.MembershipObserver. Rooms are the chat's rooms plus, as in
// socket.io, each socket's private room named by its id. Neither feed
// costs anything per message delivered: room broadcasts are not reported
// (socket.io's onAnyOutgoing does not report them either), and without a
// dashboard connected an event received costs one atomic load.
package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"chatgateway/gateway"
	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
)

// Mode is the npm package's mode: what the dashboard is told.
type Mode string

const (
	// ModeDevelopment feeds every socket, room and event: the dashboard's
	// Sockets, Rooms, Clients and Events pages work.
	ModeDevelopment Mode = "development"
	// ModeProduction sends only the server's figures every 2 s (sockets
	// per namespace, clients by transport, connections and bytes in over
	// time): the dashboard shows its Dashboard and Servers pages.
	ModeProduction Mode = "production"
)

// Defaults and fixed values, the npm package's where it has them.
const (
	// DefaultNamespace is where the dashboard connects.
	DefaultNamespace = "/admin"
	DefaultMode      = ModeDevelopment
	// statsInterval is how often "server_stats" goes out (the package's).
	statsInterval = 2 * time.Second
	// sessionLifetime is how long a login token lets the dashboard
	// reconnect without the password (the package's RedisStore default).
	sessionLifetime = 24 * time.Hour
	// maxConcurrentLogins bounds the bcrypt comparisons running at once
	// (each costs tens of milliseconds of CPU by design); a login beyond
	// that is refused, so guessing cannot starve the chat.
	maxConcurrentLogins = 2
	// maxPendingSockets bounds the memberships remembered for sockets
	// whose connection is not reported yet (a socket restored in its
	// connect handler).
	maxPendingSockets = 10_000
)

// Feature names, as the dashboard knows them.
const (
	featureDisconnect       = "DISCONNECT"
	featureMultiDisconnect  = "MDISCONNECT"
	featureAggregatedEvents = "AGGREGATED_EVENTS"
	featureAllEvents        = "ALL_EVENTS"
)

// Errors a login gets, as the dashboard expects them (it shows its own
// "invalid credentials" text for the first).
var (
	errInvalidCredentials = errors.New("invalid credentials")
	errTooManyLogins      = errors.New("too many login attempts at once, retry")
)

// Config is the admin namespace's settings.
type Config struct {
	// Username and PasswordHash (bcrypt, as the npm package takes it) are
	// the credentials the dashboard must present. Both are required.
	Username     string
	PasswordHash string
	// Mode is ModeDevelopment (default) or ModeProduction.
	Mode Mode
	// ReadOnly advertises no action: the dashboard cannot disconnect.
	ReadOnly bool
	// ServerID names this node on the Servers page (default: hostname).
	ServerID string
	Logger   *slog.Logger
}

// Admin serves the admin namespace on one socketio.Server. Create it with
// New, install it with Register before serving, stop it with Shutdown.
type Admin struct {
	cfg      Config
	ns       string
	hash     []byte
	features []string
	log      *slog.Logger
	hostname string
	started  time.Time
	// tokenKey signs login tokens; random per process, so a token is good
	// on the node that issued it until it restarts.
	tokenKey [32]byte
	logins   chan struct{}

	srv *socketio.Server

	// hasAdmins is len(admins) > 0, read without the lock on every event.
	hasAdmins atomic.Bool
	// Counted without the lock on every message received.
	packetsIn atomic.Int64
	bytesIn   atomic.Int64

	// mu guards the state below and orders what dashboards are sent: a
	// snapshot and the changes after it are sent under it.
	mu          sync.Mutex
	admins      map[string]socketio.Conn
	sockets     map[socketKey]*socketEntry
	clients     map[string]*clientEntry
	pending     map[string]map[string]string // socket id -> room -> username
	connections int64
	departures  map[string]int64 // by reason

	stop chan struct{}
	done chan struct{}
}

type socketKey struct{ nsp, id string }

type socketEntry struct {
	conn     socketio.Conn
	clientID string
	issued   time.Time
	// rooms are the chat rooms the socket is in, with the name it joined
	// as (namespace "/" only).
	rooms map[string]string
}

type clientEntry struct {
	transport string
	sockets   map[socketKey]bool
}

// New checks cfg and returns an Admin.
func New(cfg Config) (*Admin, error) {
	if cfg.Username == "" || cfg.PasswordHash == "" {
		return nil, errors.New("admin: both a username and a password hash are required")
	}
	if _, err := bcrypt.Cost([]byte(cfg.PasswordHash)); err != nil {
		return nil, fmt.Errorf("admin: the password must be a bcrypt hash (e.g. htpasswd -nbBC 12 \"\" 'secret' | cut -d: -f2): %w", err)
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = DefaultMode
	case ModeDevelopment, ModeProduction:
	default:
		return nil, fmt.Errorf("admin: unknown mode %q (want %q or %q)", cfg.Mode, ModeDevelopment, ModeProduction)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	hostname, _ := os.Hostname()
	if cfg.ServerID == "" {
		cfg.ServerID = hostname
	}
	a := &Admin{
		cfg:        cfg,
		ns:         DefaultNamespace,
		hash:       []byte(cfg.PasswordHash),
		log:        cfg.Logger,
		hostname:   hostname,
		started:    time.Now(),
		logins:     make(chan struct{}, maxConcurrentLogins),
		admins:     make(map[string]socketio.Conn),
		sockets:    make(map[socketKey]*socketEntry),
		clients:    make(map[string]*clientEntry),
		pending:    make(map[string]map[string]string),
		departures: make(map[string]int64),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if !cfg.ReadOnly {
		a.features = append(a.features, featureDisconnect, featureMultiDisconnect)
	}
	a.features = append(a.features, featureAggregatedEvents)
	if cfg.Mode == ModeDevelopment {
		a.features = append(a.features, featureAllEvents)
	}
	if _, err := rand.Read(a.tokenKey[:]); err != nil {
		return nil, err
	}
	return a, nil
}

// membershipSource is the chat gateway as the admin uses it.
type membershipSource interface {
	Observe(gateway.MembershipObserver)
}

// Register installs the admin namespace on srv and starts watching srv and
// the gateway's memberships, then the stats timer. Call it before serving.
func (a *Admin) Register(srv *socketio.Server, gw membershipSource) {
	a.srv = srv
	srv.SetObserver(observer{a})
	gw.Observe(observer{a})
	srv.OnConnect(a.ns, a.onConnect)
	srv.OnEvent(a.ns, "_disconnect", a.onDisconnectCommand)
	go a.runStats()
}

// Shutdown stops the stats timer.
func (a *Admin) Shutdown() {
	select {
	case <-a.stop:
	default:
		close(a.stop)
	}
	<-a.done
}

// onConnect logs the dashboard in and sends it what it starts from.
func (a *Admin) onConnect(c socketio.Conn) error {
	if err := a.authenticate(c); err != nil {
		a.log.Warn("admin UI: login refused", "remote", c.RemoteAddr(), "err", err)
		return err
	}
	a.log.Info("admin UI: dashboard connected", "remote", c.RemoteAddr())
	a.mu.Lock()
	defer a.mu.Unlock()
	a.admins[c.ID()] = c
	a.hasAdmins.Store(true)
	// Held by socketio until the CONNECT reply is out, in this order, and
	// before anything broadcast to dashboards after this lock.
	_ = c.Emit("config", map[string]any{"supportedFeatures": a.features})
	if a.cfg.Mode == ModeDevelopment {
		_ = c.Emit("all_sockets", a.snapshotLocked())
	}
	// Its first "server_stats" follows once it is connected (see
	// SocketConnected), so that it counts itself.
	return nil
}

// loginAuth is the CONNECT auth the dashboard sends.
type loginAuth struct {
	Username  string `json:"username"`
	Password  string `json:"password"`
	SessionID string `json:"sessionId"`
}

func (a *Admin) authenticate(c socketio.Conn) error {
	var auth loginAuth
	if raw := c.Handshake().Auth; len(raw) == 0 || json.Unmarshal(raw, &auth) != nil {
		return errInvalidCredentials
	}
	if auth.SessionID != "" && a.validToken(auth.SessionID, time.Now()) {
		return nil
	}
	if auth.Username == "" && auth.Password == "" {
		return errInvalidCredentials
	}
	select {
	case a.logins <- struct{}{}:
		defer func() { <-a.logins }()
	default:
		return errTooManyLogins
	}
	// The hash is compared even for a wrong name, so timing tells nothing.
	nameOK := subtle.ConstantTimeCompare([]byte(auth.Username), []byte(a.cfg.Username)) == 1
	passOK := bcrypt.CompareHashAndPassword(a.hash, []byte(auth.Password)) == nil
	if !nameOK || !passOK {
		return errInvalidCredentials
	}
	_ = c.Emit("session", a.newToken(time.Now()))
	return nil
}

// newToken is a login token: its expiry and a nonce, signed with tokenKey.
func (a *Admin) newToken(now time.Time) string {
	var payload [16]byte
	binary.BigEndian.PutUint64(payload[:8], uint64(now.Add(sessionLifetime).Unix()))
	_, _ = rand.Read(payload[8:])
	mac := hmac.New(sha256.New, a.tokenKey[:])
	mac.Write(payload[:])
	return base64.RawURLEncoding.EncodeToString(payload[:]) + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func (a *Admin) validToken(token string, now time.Time) bool {
	p, s, ok := strings.Cut(token, ".")
	if !ok {
		return false
	}
	payload, err1 := base64.RawURLEncoding.DecodeString(p)
	sig, err2 := base64.RawURLEncoding.DecodeString(s)
	if err1 != nil || err2 != nil || len(payload) != 16 {
		return false
	}
	mac := hmac.New(sha256.New, a.tokenKey[:])
	mac.Write(payload)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return false
	}
	return now.Unix() < int64(binary.BigEndian.Uint64(payload[:8]))
}

// onDisconnectCommand is "_disconnect" (nsp, close, filter): the sockets of
// nsp whose id is filter or that are in room filter (every socket of nsp
// for an empty filter, as socket.io's disconnectSockets) leave nsp, or
// with close their whole client goes.
func (a *Admin) onDisconnectCommand(c socketio.Conn, nsp string, closeClient bool, filter string) {
	if a.cfg.ReadOnly {
		return
	}
	var targets []socketio.Conn
	a.mu.Lock()
	for key, e := range a.sockets {
		if key.nsp != nsp {
			continue
		}
		if _, inRoom := e.rooms[filter]; filter == "" || key.id == filter || inRoom {
			targets = append(targets, e.conn)
		}
	}
	a.mu.Unlock()
	a.log.Info("admin UI: disconnecting sockets", "remote", c.RemoteAddr(), "namespace", nsp, "filter", filter, "close", closeClient, "sockets", len(targets))
	// Off the dashboard's dispatch: each disconnection runs the chat's
	// handlers, which call the store.
	go func() {
		for _, t := range targets {
			if closeClient {
				if sess := a.srv.LookupSession(t.SessionID()); sess != nil {
					sess.Close()
					continue
				}
			}
			_ = t.Close()
		}
	}()
}

// runStats sends "server_stats" every statsInterval while a dashboard is
// connected.
func (a *Admin) runStats() {
	defer close(a.done)
	tick := time.NewTicker(statsInterval)
	defer tick.Stop()
	for {
		select {
		case <-a.stop:
			return
		case now := <-tick.C:
			if !a.hasAdmins.Load() {
				continue
			}
			a.mu.Lock()
			a.broadcastLocked("server_stats", a.statsLocked(now, true))
			a.mu.Unlock()
		}
	}
}

// serverStats is the payload of "server_stats".
type serverStats struct {
	ServerID            string            `json:"serverId"`
	Hostname            string            `json:"hostname"`
	PID                 int               `json:"pid"`
	Uptime              float64           `json:"uptime"`
	ClientsCount        int               `json:"clientsCount"`
	PollingClientsCount int               `json:"pollingClientsCount"`
	AggregatedEvents    []aggregatedEvent `json:"aggregatedEvents"`
	Namespaces          []namespaceStats  `json:"namespaces"`
}

type aggregatedEvent struct {
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int64  `json:"count"`
}

type namespaceStats struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// statsLocked is the server's figures now; with drain, the counts since
// the last drain go with them (attributed to this second, which the
// dashboard rounds to 10 s anyway) and restart from zero.
func (a *Admin) statsLocked(now time.Time, drain bool) serverStats {
	st := serverStats{
		ServerID:         a.cfg.ServerID,
		Hostname:         a.hostname,
		PID:              os.Getpid(),
		Uptime:           now.Sub(a.started).Seconds(),
		ClientsCount:     len(a.clients),
		AggregatedEvents: []aggregatedEvent{},
	}
	for _, cl := range a.clients {
		if cl.transport == "polling" {
			st.PollingClientsCount++
		}
	}
	perNamespace := map[string]int{gateway.Namespace: 0, a.ns: 0}
	for key := range a.sockets {
		perNamespace[key.nsp]++
	}
	for _, name := range slices.Sorted(mapKeys(perNamespace)) {
		st.Namespaces = append(st.Namespaces, namespaceStats{Name: name, SocketsCount: perNamespace[name]})
	}
	if drain {
		second := now.Truncate(time.Second).UnixMilli()
		add := func(typ, sub string, n int64) {
			if n > 0 {
				st.AggregatedEvents = append(st.AggregatedEvents, aggregatedEvent{Timestamp: second, Type: typ, SubType: sub, Count: n})
			}
		}
		add("rawConnection", "", a.connections)
		a.connections = 0
		for _, reason := range slices.Sorted(mapKeys(a.departures)) {
			add("rawDisconnection", reason, a.departures[reason])
		}
		clear(a.departures)
		add("packetsIn", "", a.packetsIn.Swap(0))
		add("bytesIn", "", a.bytesIn.Swap(0))
	}
	return st
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// broadcastLocked sends an event to every dashboard, encoded once.
func (a *Admin) broadcastLocked(event string, args ...any) {
	if len(a.admins) == 0 {
		return
	}
	b, err := a.srv.NewBroadcast(a.ns, event, args...)
	if err != nil {
		a.log.Error("admin UI: cannot encode an event", "event", event, "err", err)
		return
	}
	for _, c := range a.admins {
		_ = c.Send(b)
	}
}

// feedsDashboards reports whether per-socket changes go out now.
func (a *Admin) feedsDashboards() bool {
	return a.cfg.Mode == ModeDevelopment && a.hasAdmins.Load()
}

// serializedSocket is a socket as the dashboard reads it (the npm
// package's serialize()).
type serializedSocket struct {
	ID        string              `json:"id"`
	ClientID  string              `json:"clientId"`
	Transport string              `json:"transport"`
	Nsp       string              `json:"nsp"`
	Data      map[string]any      `json:"data"`
	Handshake serializedHandshake `json:"handshake"`
	Rooms     []string            `json:"rooms"`
}

type serializedHandshake struct {
	Address string            `json:"address"`
	Headers map[string]string `json:"headers"`
	Query   map[string]string `json:"query"`
	Issued  int64             `json:"issued"`
	Secure  bool              `json:"secure"`
	Time    string            `json:"time"`
	URL     string            `json:"url"`
	XDomain bool              `json:"xdomain"`
}

// snapshotLocked is "all_sockets": every socket, by namespace and id.
func (a *Admin) snapshotLocked() []serializedSocket {
	keys := slices.Collect(func(yield func(socketKey) bool) {
		for k := range a.sockets {
			if !yield(k) {
				return
			}
		}
	})
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].nsp != keys[j].nsp {
			return keys[i].nsp < keys[j].nsp
		}
		return keys[i].id < keys[j].id
	})
	out := make([]serializedSocket, 0, len(keys))
	for _, k := range keys {
		out = append(out, a.serializeLocked(k, a.sockets[k]))
	}
	return out
}

func (a *Admin) serializeLocked(key socketKey, e *socketEntry) serializedSocket {
	hs := e.conn.Handshake()
	transport := "polling"
	if cl := a.clients[e.conn.SessionID()]; cl != nil {
		transport = cl.transport
	}
	return serializedSocket{
		ID:        key.id,
		ClientID:  e.clientID,
		Transport: transport,
		Nsp:       key.nsp,
		Data:      socketData(e),
		Handshake: serializedHandshake{
			Address: clientAddress(hs, e.conn.RemoteAddr()),
			Headers: redactedHeaders(hs),
			Query:   redactedQuery(hs),
			Issued:  e.issued.UnixMilli(),
			Secure:  strings.EqualFold(hs.Header.Get("X-Forwarded-Proto"), "https"),
			Time:    e.issued.UTC().Format(time.RFC1123),
			URL:     handshakeURL(hs),
			XDomain: hs.Header.Get("Origin") != "",
		},
		Rooms: socketRooms(key.id, e),
	}
}

// socketData is the socket's "data": the names it joined its rooms as.
func socketData(e *socketEntry) map[string]any {
	if len(e.rooms) == 0 {
		return map[string]any{}
	}
	joinedAs := make(map[string]string, len(e.rooms))
	for room, name := range e.rooms {
		joinedAs[room] = name
	}
	return map[string]any{"joinedAs": joinedAs}
}

// socketRooms is the socket's private room, then its chat rooms, sorted.
func socketRooms(id string, e *socketEntry) []string {
	out := make([]string, 0, 1+len(e.rooms))
	out = append(out, id)
	return append(out, slices.Sorted(mapKeys(e.rooms))...)
}

func clientID(sessionID string) string {
	if len(sessionID) > 12 {
		return sessionID[:12]
	}
	return sessionID
}

// now is the time the dashboard's events carry, as JavaScript's
// toISOString writes it.
func now() string { return rooms.JSTime(time.Now()) }
