package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"chatgateway/gateway/internal/jsonstr"
)

// Handler receives session events. Calls for one session never overlap:
// OnOpen first, then OnMessage in the order the client sent, then OnClose once.
type Handler interface {
	// OnOpen runs before the handshake response is written, so packets it
	// sends travel with the open packet (socket.io 2 puts its CONNECT there).
	OnOpen(s *Session)
	OnMessage(s *Session, data []byte, binary bool)
	OnClose(s *Session, reason string)
}

// UpgradeHandler is a Handler that is also told when a session moves from
// long-polling to WebSocket. OnUpgrade runs in the session's order of
// handler calls (after the messages that came over polling, before those
// that come over the WebSocket) and must not block.
type UpgradeHandler interface {
	Handler
	OnUpgrade(s *Session)
}

// Defaults, socket.io 4's own where it has one.
const (
	DefaultPingInterval     = 25 * time.Second
	DefaultPingTimeout      = 20 * time.Second
	DefaultUpgradeTimeout   = 10 * time.Second
	DefaultMaxPayload       = 1_000_000
	DefaultMaxFrame         = 1_000_000
	DefaultMaxBufferedBytes = 4 << 20
	// writeTimeout bounds one write to a client so a dead peer cannot pin a
	// flusher goroutine forever.
	writeTimeout = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.UpgradeTimeout <= 0 {
		c.UpgradeTimeout = DefaultUpgradeTimeout
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Server is an Engine.IO server. It is an http.Handler for the engine path.
type Server struct {
	cfg     Config
	handler Handler
	log     *slog.Logger
	origins map[string]bool
	// clock drives the heartbeat; tests replace it before serving.
	clock clock
	// goroutineReads reads every WebSocket with a goroutine of its own, as
	// where there is no poller; tests set it to cover both ways.
	goroutineReads bool

	mu       sync.RWMutex
	sessions map[string]*Session
	closing  bool
	count    atomic.Int64

	stats counters
	// WebSockets carrying a session and not closed yet; Shutdown waits
	// for wsGone once there are none.
	wsMu   sync.Mutex
	wsOpen int
	wsGone chan struct{}
}

// countWS counts ws among the open WebSockets until it closes.
func (s *Server) countWS(ws *wsConn) {
	s.wsMu.Lock()
	s.wsOpen++
	s.wsMu.Unlock()
	ws.server = s
}

func (s *Server) wsClosed() {
	s.wsMu.Lock()
	s.wsOpen--
	if s.wsOpen == 0 && s.wsGone != nil {
		close(s.wsGone)
		s.wsGone = nil
	}
	s.wsMu.Unlock()
}

// NewServer returns a server that reports sessions to h.
func NewServer(cfg Config, h Handler) *Server {
	cfg = cfg.withDefaults()
	s := &Server{
		cfg:      cfg,
		handler:  h,
		log:      cfg.Logger,
		sessions: make(map[string]*Session),
		clock:    systemClock{},
	}
	if len(cfg.AllowedOrigins) > 0 {
		s.origins = make(map[string]bool, len(cfg.AllowedOrigins))
		for _, o := range cfg.AllowedOrigins {
			s.origins[o] = true
		}
	}
	return s
}

// Config returns the effective configuration, defaults applied.
func (s *Server) Config() Config { return s.cfg }

// SessionCount is the number of open sessions.
func (s *Server) SessionCount() int { return int(s.count.Load()) }

func (s *Server) originAllowed(origin string) bool {
	if s.origins == nil || origin == "" {
		return true
	}
	return s.origins[origin]
}

// engineError is an Engine.IO handshake/transport error with its wire code.
// reason names it in Stats.
type engineError struct {
	code    int
	message string
	status  int
	reason  errorReason
}

var (
	errTransportUnknown    = &engineError{0, "Transport unknown", http.StatusBadRequest, reasonTransportUnknown}
	errUnknownSID          = &engineError{1, "Session ID unknown", http.StatusBadRequest, reasonUnknownSID}
	errBadHandshakeMethod  = &engineError{2, "Bad handshake method", http.StatusBadRequest, reasonBadHandshakeMethod}
	errBadRequest          = &engineError{3, "Bad request", http.StatusBadRequest, reasonBadRequest}
	errOriginForbidden     = &engineError{4, "Forbidden", http.StatusForbidden, reasonOriginNotAllowed}
	errShuttingDown        = &engineError{4, "Forbidden", http.StatusForbidden, reasonShuttingDown}
	errUnsupportedProtocol = &engineError{5, "Unsupported protocol version", http.StatusBadRequest, reasonUnsupportedProtocol}
	errJSONPUnsupported    = &engineError{3, "Bad request: JSONP polling is not supported", http.StatusBadRequest, reasonJSONP}
	errPayloadTooLarge     = &engineError{3, "Bad request: payload too large", http.StatusRequestEntityTooLarge, reasonPayloadTooLarge}
)

func writeError(w http.ResponseWriter, r *http.Request, s *Server, e *engineError) {
	s.countError(r, e)
	s.setCORS(w, r)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	body := strconv.AppendInt([]byte(`{"code":`), int64(e.code), 10)
	body = jsonstr.Append(append(body, `,"message":`...), e.message)
	w.Write(append(body, '}'))
}

// writeStatus answers with a bare status, as engine.io answers overlapping
// polls. Like every answer of the engine it carries the CORS headers: a
// browser that cannot read an error sees only "Failed to fetch".
func (s *Server) writeStatus(w http.ResponseWriter, r *http.Request, status int) {
	s.setCORS(w, r)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

// setCORS applies the one allowed-origins policy to polling responses: the
// request origin is reflected with credentials (socket.io 2's behaviour), or
// "*" when there is none.
func (s *Server) setCORS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	h := w.Header()
	if origin == "" {
		h.Set("Access-Control-Allow-Origin", "*")
		return
	}
	if !s.originAllowed(origin) {
		return
	}
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Add("Vary", "Origin")
}

// ServeHTTP routes a request by its query: a handshake, a polling request of
// a session, or a WebSocket (new or upgrading).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if r.Method == http.MethodOptions {
		s.preflight(w, r)
		return
	}
	if !s.originAllowed(r.Header.Get("Origin")) {
		writeError(w, r, s, errOriginForbidden)
		return
	}
	protocol := ProtocolV3
	switch q.Get("EIO") {
	case "4":
		protocol = ProtocolV4
	case "3":
		if s.cfg.DisableEIO3 {
			writeError(w, r, s, errUnsupportedProtocol)
			return
		}
	default:
		writeError(w, r, s, errUnsupportedProtocol)
		return
	}
	transport := q.Get("transport")
	if transport != "polling" && transport != "websocket" {
		writeError(w, r, s, errTransportUnknown)
		return
	}
	if q.Has("j") {
		writeError(w, r, s, errJSONPUnsupported)
		return
	}
	sid := q.Get("sid")
	isUpgradeRequest := isWebSocketUpgrade(r)
	if transport == "websocket" && !isUpgradeRequest {
		writeError(w, r, s, errBadRequest)
		return
	}
	if sid == "" {
		if transport == "polling" && r.Method != http.MethodGet {
			writeError(w, r, s, errBadHandshakeMethod)
			return
		}
		s.handshake(w, r, protocol, transport)
		return
	}
	sess := s.lookup(sid)
	if sess != nil && sess.heartbeatExpired() {
		sess.closeWith(ReasonPingTimeout, false)
		sess = nil
	}
	if sess != nil && sess.isClosed() {
		if r.Method == http.MethodGet && transport == "polling" && sess.takeOwedNoop() {
			s.removeSession(sess)
			s.writePayload(w, r, sess, []*Message{noopMessage})
			return
		}
		sess = nil
	}
	if sess == nil {
		writeError(w, r, s, errUnknownSID)
		return
	}
	if sess.protocol != protocol {
		writeError(w, r, s, errBadRequest)
		return
	}
	if transport == "websocket" {
		s.serveUpgrade(w, r, sess)
		return
	}
	switch r.Method {
	case http.MethodGet:
		s.servePollGet(w, r, sess)
	case http.MethodPost:
		s.servePollPost(w, r, sess)
	default:
		writeError(w, r, s, errBadRequest)
	}
}

func (s *Server) preflight(w http.ResponseWriter, r *http.Request) {
	s.setCORS(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
		h.Set("Access-Control-Allow-Headers", req)
		h.Add("Vary", "Access-Control-Request-Headers")
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}

// LookupSession returns the open session with that id, or nil.
func (s *Server) LookupSession(sid string) *Session {
	sess := s.lookup(sid)
	if sess == nil || sess.isClosed() {
		return nil
	}
	return sess
}

func (s *Server) lookup(sid string) *Session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sessions[sid]
}

func (s *Server) removeSession(sess *Session) {
	t := sess.transportKind()
	s.mu.Lock()
	if s.sessions[sess.id] == sess {
		delete(s.sessions, sess.id)
		if !sess.uncounted {
			sess.uncounted = true
			s.count.Add(-1)
			s.countGone(sess, t)
			sess.release()
		}
	}
	s.mu.Unlock()
}

// uncount takes a closed session out of SessionCount while its map entry
// lingers.
func (s *Server) uncount(sess *Session) {
	t := sess.transportKind()
	s.mu.Lock()
	if s.sessions[sess.id] == sess && !sess.uncounted {
		sess.uncounted = true
		s.count.Add(-1)
		s.countGone(sess, t)
		sess.release()
	}
	s.mu.Unlock()
}

// newSessionID returns 20 URL-safe characters from 15 bytes of crypto/rand,
// the shape socket.io's own ids have.
func newSessionID() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("engineio: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) newSession(r *http.Request, protocol int, transport transportKind) (*Session, *engineError) {
	release := func() {}
	if s.cfg.AdmitSession != nil {
		rel, err := s.cfg.AdmitSession(r)
		if err != nil {
			return nil, &engineError{errOriginForbidden.code, err.Error(), errOriginForbidden.status, reasonAdmissionRefused}
		}
		release = rel
	}
	sess := &Session{
		id:             newSessionID(),
		protocol:       protocol,
		server:         s,
		rawQuery:       r.URL.RawQuery,
		headers:        packHeaders(r.Header),
		remoteAddr:     r.RemoteAddr,
		supportsBinary: !(protocol == ProtocolV3 && r.URL.Query().Get("b64") != ""),
		transport:      transport,
		release:        release,
	}
	if transport == transportPolling {
		// A WebSocket-only session never polls: its nil pollWake makes
		// wake-ups take their select's default.
		sess.pollWake = make(chan struct{}, 1)
		sess.closedCh = make(chan struct{})
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		release()
		return nil, errShuttingDown
	}
	s.sessions[sess.id] = sess
	s.count.Add(1)
	s.countOpened(sess)
	s.mu.Unlock()
	return sess, nil
}

// openPacket is the handshake data. v3 has no maxPayload field.
func (s *Server) openPacket(sess *Session, upgrades bool) *Message {
	b := make([]byte, 0, 160)
	b = append(b, `{"sid":"`...)
	b = append(b, sess.id...)
	if upgrades {
		b = append(b, `","upgrades":["websocket"],"pingInterval":`...)
	} else {
		b = append(b, `","upgrades":[],"pingInterval":`...)
	}
	b = strconv.AppendInt(b, s.cfg.PingInterval.Milliseconds(), 10)
	b = append(b, `,"pingTimeout":`...)
	b = strconv.AppendInt(b, s.cfg.PingTimeout.Milliseconds(), 10)
	if sess.protocol == ProtocolV4 {
		b = append(b, `,"maxPayload":`...)
		b = strconv.AppendInt(b, s.cfg.MaxPayload, 10)
	}
	b = append(b, '}')
	return &Message{Type: PacketOpen, Text: b}
}

func (s *Server) handshake(w http.ResponseWriter, r *http.Request, protocol int, transport string) {
	if transport == "websocket" {
		s.serveWebSocketOnly(w, r, protocol)
		return
	}
	sess, refusal := s.newSession(r, protocol, transportPolling)
	if refusal != nil {
		writeError(w, r, s, refusal)
		return
	}
	sess.mu.Lock()
	sess.queue = append(sess.queue, s.openPacket(sess, true))
	sess.mu.Unlock()
	if s.cfg.Cookie != "" {
		http.SetCookie(w, &http.Cookie{Name: s.cfg.Cookie, Value: sess.id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	sess.inbound.Lock()
	s.handler.OnOpen(sess)
	sess.inbound.Unlock()
	sess.startHeartbeat()
	s.servePollGet(w, r, sess)
}

// Shutdown closes every session gracefully (a close packet first) and
// refuses new ones. It returns when all sessions are gone or ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	all := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		all = append(all, sess)
	}
	s.mu.Unlock()
	for _, sess := range all {
		sess.closeWith(ReasonServerShutdown, true)
	}
	// Each WebSocket closes once its flusher has written the close packet.
	s.wsMu.Lock()
	if s.wsOpen == 0 {
		s.wsMu.Unlock()
		return nil
	}
	if s.wsGone == nil {
		s.wsGone = make(chan struct{})
	}
	gone := s.wsGone
	s.wsMu.Unlock()
	select {
	case <-gone:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
