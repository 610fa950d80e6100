package socketio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatgateway/gateway/engineio"
	"chatgateway/gateway/internal/jsonstr"
)

// Config holds the Socket.IO settings and the engine's.
type Config struct {
	Engine engineio.Config
	// MaxAttachments caps binary attachments in one packet (default 10).
	MaxAttachments int
	// MaxJSONDepth caps JSON nesting in one packet (default 32).
	MaxJSONDepth int
	// ConnectTimeout closes a v5 session that connects no namespace in time
	// (default 45s, socket.io 4's connectTimeout).
	ConnectTimeout time.Duration
	Logger         *slog.Logger
}

// Defaults for Config.
const (
	DefaultMaxAttachments = 10
	DefaultMaxJSONDepth   = 32
	DefaultConnectTimeout = 45 * time.Second
)

// Disconnect reasons, as socket.io names them.
const (
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
)

// ErrConnClosed is returned by Emit and Send on a disconnected socket.
var ErrConnClosed = errors.New("socketio: connection closed")

// ErrWrongNamespace is returned by Send for a broadcast built for another namespace.
var ErrWrongNamespace = errors.New("socketio: broadcast is for another namespace")

// Server is a Socket.IO server. Register handlers before serving.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *engineio.Server
	limits decoderLimits

	mu         sync.RWMutex
	namespaces map[string]*namespace
	// observer, when set (before serving), is told of every session,
	// socket and event; see Observer.
	observer Observer

	// unhandled counts events no handler was registered for.
	unhandled atomic.Uint64

	// decoders are the clients' decoders between packets.
	decoders sync.Pool
}

type namespace struct {
	name         string
	onConnect    func(Conn) error
	onDisconnect func(Conn, string)
	onRecover    func(RecoveryRequest) (Recovered, bool)
	events       map[string]*handlerFunc
	// received counts each handled event, by name.
	received map[string]*atomic.Uint64
}

// NewServer returns a server with namespace "/" registered.
func NewServer(cfg Config) *Server {
	if cfg.MaxAttachments <= 0 {
		cfg.MaxAttachments = DefaultMaxAttachments
	}
	if cfg.MaxJSONDepth <= 0 {
		cfg.MaxJSONDepth = DefaultMaxJSONDepth
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		namespaces: make(map[string]*namespace),
		limits:     decoderLimits{MaxAttachments: cfg.MaxAttachments, MaxJSONDepth: cfg.MaxJSONDepth},
	}
	s.decoders.New = func() any { return newDecoder(s.limits) }
	s.namespace("/")
	s.engine = engineio.NewServer(cfg.Engine, (*engineHandler)(s))
	return s
}

// Engine exposes the engine, for its settings and session count.
func (s *Server) Engine() *engineio.Server { return s.engine }

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if isClientBundle(r.URL.Path) {
		http.Error(w, clientBundleMissing, http.StatusNotFound)
		return
	}
	s.engine.ServeHTTP(w, r)
}

// clientBundleMissing answers requests for the client bundle, which Node
// socket.io serves beside its engine (serveClient, on by default in
// socket.io 2) and this server does not: it would mean shipping a copy of
// socket.io-client. Applications bundle the client themselves.
const clientBundleMissing = "The Socket.IO client bundle is not served by this server: bundle socket.io-client with the application."

// isClientBundle reports the paths Node socket.io serves its client bundle
// at: socket.io.js, socket.io.slim.js, socket.io.min.js, socket.io.esm.min.js,
// socket.io.msgpack.min.js and their .map files, beside the engine path.
func isClientBundle(urlPath string) bool {
	name := path.Base(urlPath)
	return strings.HasPrefix(name, "socket.io.") && (strings.HasSuffix(name, ".js") || strings.HasSuffix(name, ".js.map"))
}

// Shutdown disconnects every client gracefully and refuses new ones.
func (s *Server) Shutdown(ctx context.Context) error { return s.engine.Shutdown(ctx) }

func (s *Server) namespace(name string) *namespace {
	s.mu.Lock()
	defer s.mu.Unlock()
	ns := s.namespaces[name]
	if ns == nil {
		ns = &namespace{name: name, events: make(map[string]*handlerFunc), received: make(map[string]*atomic.Uint64)}
		s.namespaces[name] = ns
	}
	return ns
}

func (s *Server) lookupNamespace(name string) *namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.namespaces[name]
}

func normalizeNamespace(ns string) string {
	if ns == "" {
		return "/"
	}
	if ns[0] != '/' {
		return "/" + ns
	}
	return ns
}

// OnConnect registers the namespace (if new) and its connect handler.
func (s *Server) OnConnect(ns string, f func(Conn) error) {
	n := s.namespace(normalizeNamespace(ns))
	s.mu.Lock()
	n.onConnect = f
	s.mu.Unlock()
}

// OnDisconnect registers the namespace (if new) and its disconnect handler.
func (s *Server) OnDisconnect(ns string, f func(c Conn, reason string)) {
	n := s.namespace(normalizeNamespace(ns))
	s.mu.Lock()
	n.onDisconnect = f
	s.mu.Unlock()
}

// OnEvent registers an event handler; see the package documentation for the
// accepted function shapes. A bad shape panics: it is a programming error.
func (s *Server) OnEvent(ns, event string, handler any) {
	h := newHandler(handler, connType)
	n := s.namespace(normalizeNamespace(ns))
	s.mu.Lock()
	n.events[event] = h
	if n.received[event] == nil {
		n.received[event] = new(atomic.Uint64)
	}
	s.mu.Unlock()
}

// EventCounts reports the events received since the server started: per
// event name that has a handler (summed over namespaces), and how many had
// none (ignored, as socket.io does). The names are the registered ones, so
// a client cannot grow the set.
func (s *Server) EventCounts() (handled map[string]uint64, unhandled uint64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	handled = make(map[string]uint64)
	for _, ns := range s.namespaces {
		for name, c := range ns.received {
			handled[name] += c.Load()
		}
	}
	return handled, s.unhandled.Load()
}

// OnRecover turns connection state recovery on for the namespace (Socket.IO
// v5, as socket.io 4.6+ does it): every v5 socket gets a private id (pid) in
// its CONNECT reply, and a client that reconnects presenting {pid, offset}
// in its CONNECT auth is offered to f before the socket exists. When f
// grants it, the socket gets the socket id f returns, the same pid,
// Conn.Recovered reports f's state to OnConnect, and the client sees
// socket.recovered === true. Otherwise the socket starts afresh.
func (s *Server) OnRecover(ns string, f func(RecoveryRequest) (Recovered, bool)) {
	n := s.namespace(normalizeNamespace(ns))
	s.mu.Lock()
	n.onRecover = f
	s.mu.Unlock()
}

// RecoveryRequest is a reconnecting v5 client's claim to a previous socket.
type RecoveryRequest struct {
	// PID is the private id the previous socket was given.
	PID string
	// Offset is the offset of the last event the client processed (see
	// NewOffsetBroadcast); HasOffset is false when it never got one.
	Offset    string
	HasOffset bool
	Handshake Handshake
}

// Recovered is a granted recovery: the socket id to reuse and whatever the
// application wants OnConnect to see.
type Recovered struct {
	SocketID string
	State    any
}

var connType = reflect.TypeOf((*Conn)(nil)).Elem()

// Broadcast is an event encoded once, to be sent to many sockets of one
// namespace with Conn.Send.
type Broadcast struct {
	namespace string
	msg       *engineio.Message
	// withOffset, when set, is the same event with an offset as its last
	// argument, for sockets that can recover.
	withOffset *engineio.Message
}

// NewBroadcast encodes an event once. Acks are not possible on broadcasts.
func (s *Server) NewBroadcast(ns, event string, args ...any) (*Broadcast, error) {
	ns = normalizeNamespace(ns)
	msg, err := encodeEvent(ns, event, -1, args)
	if err != nil {
		return nil, err
	}
	return &Broadcast{namespace: ns, msg: msg}, nil
}

// NewOffsetBroadcast encodes an event that sockets with connection state
// recovery receive with offset appended as a last argument, the way
// socket.io 4.6+ marks the events a client can resume after: the client
// keeps the last such offset and presents it when it reconnects. Other
// sockets (protocol v4, or recovery off) receive the plain event.
func (s *Server) NewOffsetBroadcast(ns, event, offset string, args ...any) (*Broadcast, error) {
	ns = normalizeNamespace(ns)
	data, attachments, err := encodeArgs(nil, event, args)
	if err != nil {
		return nil, fmt.Errorf("socketio: encode %q: %w", event, err)
	}
	if len(attachments) > 0 {
		// Rare enough to encode twice rather than splice around placeholders.
		plain, err := encodeEvent(ns, event, -1, args)
		if err != nil {
			return nil, err
		}
		withOffset, err := encodeEvent(ns, event, -1, append(args[:len(args):len(args)], offset))
		if err != nil {
			return nil, err
		}
		return &Broadcast{namespace: ns, msg: plain, withOffset: withOffset}, nil
	}
	// The arguments are encoded once: the offset version is the same JSON
	// array with one more element.
	p := packet{Type: packetEvent, Namespace: ns, Data: data}
	plain := appendPacketText(nil, &p)
	withOffset := make([]byte, 0, len(plain)+len(offset)+3)
	withOffset = append(withOffset, plain[:len(plain)-1]...)
	withOffset = jsonstr.Append(append(withOffset, ','), offset)
	withOffset = append(withOffset, ']')
	return &Broadcast{namespace: ns, msg: engineio.NewMessage(plain, nil), withOffset: engineio.NewMessage(withOffset, nil)}, nil
}

func encodeEvent(ns, event string, ackID int64, args []any) (*engineio.Message, error) {
	data, attachments, err := encodeArgs(nil, event, args)
	if err != nil {
		return nil, fmt.Errorf("socketio: encode %q: %w", event, err)
	}
	p := packet{Type: packetEvent, Namespace: ns, Data: data, Attachments: attachments}
	if len(attachments) > 0 {
		p.Type = packetBinaryEvent
	}
	if ackID >= 0 {
		p.ID, p.HasID = ackID, true
	}
	return engineio.NewMessage(appendPacketText(nil, &p), attachments), nil
}

func newSocketID() string {
	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("socketio: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// client is the Socket.IO state of one engine session.
type client struct {
	server *Server
	sess   *engineio.Session
	// decoder is held only while a binary packet waits for attachments;
	// otherwise it goes back to the server's pool, so an idle client holds
	// none. Used only from the session's dispatch, which is serial.
	decoder *decoder

	mu sync.Mutex
	// sockets is one per namespace connected: a client has one or two, so
	// a slice is both smaller and faster than a map.
	sockets      []*conn
	connectTimer *time.Timer
	closed       bool
}

// socketLocked is the client's socket on namespace ns. Caller holds c.mu.
func (c *client) socketLocked(ns string) *conn {
	for _, k := range c.sockets {
		if k.ns.name == ns {
			return k
		}
	}
	return nil
}

// removeLocked forgets k and reports whether it was the client's. Caller
// holds c.mu.
func (c *client) removeLocked(k *conn) bool {
	for i, x := range c.sockets {
		if x == k {
			c.sockets = slices.Delete(c.sockets, i, i+1)
			return true
		}
	}
	return false
}

// engineHandler adapts Server to engineio.Handler without exporting the methods.
type engineHandler Server

func (h *engineHandler) OnOpen(sess *engineio.Session) {
	s := (*Server)(h)
	c := &client{server: s, sess: sess}
	sess.SetData(c)
	if s.observer != nil {
		s.observer.SessionOpened(sess.ID(), sess.Transport())
	}
	if sess.Protocol() == engineio.ProtocolV3 {
		// socket.io 2 connects the root namespace by itself.
		c.connect("/", nil)
		return
	}
	c.mu.Lock()
	c.connectTimer = time.AfterFunc(s.cfg.ConnectTimeout, func() {
		c.mu.Lock()
		idle := len(c.sockets) == 0
		c.mu.Unlock()
		if idle {
			sess.Close()
		}
	})
	c.mu.Unlock()
}

func (h *engineHandler) OnMessage(sess *engineio.Session, data []byte, binary bool) {
	c, _ := sess.Data().(*client)
	if c == nil {
		return
	}
	if o := c.server.observer; o != nil {
		o.MessageReceived(sess.ID(), len(data))
	}
	d := c.decoder
	if d == nil {
		d = c.server.decoders.Get().(*decoder)
	}
	var p *packet
	var err error
	if binary {
		p, err = d.addBinary(data)
	} else {
		p, err = d.addText(data)
	}
	if d.pending == nil {
		c.decoder = nil
		c.server.decoders.Put(d)
	} else {
		c.decoder = d
	}
	if err != nil {
		c.server.log.Debug("socketio: protocol error", "sid", sess.ID(), "err", err)
		sess.Close()
		return
	}
	if p != nil {
		c.dispatch(p)
	}
}

func (h *engineHandler) OnClose(sess *engineio.Session, reason string) {
	c, _ := sess.Data().(*client)
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	if c.connectTimer != nil {
		c.connectTimer.Stop()
	}
	socks := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	for _, k := range socks {
		k.onClosed(reason)
	}
	if o := c.server.observer; o != nil {
		o.SessionClosed(sess.ID(), reason)
	}
}

// dispatch routes a complete packet. A packet for a namespace the client has
// not joined, a second CONNECT or a client-sent CONNECT_ERROR is a protocol
// violation and closes the session, as socket.io does.
func (c *client) dispatch(p *packet) {
	switch p.Type {
	case packetConnect:
		name, _ := splitNamespaceQuery(p.Namespace)
		if c.socket(name) != nil {
			if c.sess.Protocol() == engineio.ProtocolV3 && name == "/" {
				return // socket.io 2 clients confirm the root namespace the server joined for them
			}
			c.protocolError("already connected to " + name)
			return
		}
		c.connect(name, p.Data)
	case packetDisconnect:
		c.mu.Lock()
		k := c.socketLocked(p.Namespace)
		c.removeLocked(k)
		c.mu.Unlock()
		if k == nil {
			c.protocolError("disconnect from a namespace not joined")
			return
		}
		k.onClosed(ReasonClientNamespaceDisconnect)
	case packetEvent, packetBinaryEvent, packetAck, packetBinaryAck:
		k := c.socket(p.Namespace)
		if k == nil {
			c.protocolError("packet for a namespace not joined: " + p.Namespace)
			return
		}
		if p.Type == packetEvent || p.Type == packetBinaryEvent {
			k.onEvent(p)
		} else {
			k.onAck(p)
		}
	default:
		c.protocolError("unexpected packet type " + p.Type.String())
	}
}

func (c *client) protocolError(why string) {
	c.server.log.Debug("socketio: protocol error", "sid", c.sess.ID(), "err", why)
	c.sess.Close()
}

func (c *client) socket(ns string) *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.socketLocked(ns)
}

func (c *client) send(p *packet) {
	c.sess.Send(engineio.NewMessage(appendPacketText(nil, p), p.Attachments))
}

// connect joins a namespace: refused with CONNECT_ERROR for an unknown one or
// when OnConnect fails. Emits made inside OnConnect are held until the
// CONNECT reply has been queued, so the client sees them after it.
func (c *client) connect(name string, auth []byte) {
	s := c.server
	v5 := c.sess.Protocol() == engineio.ProtocolV4
	ns := s.lookupNamespace(name)
	if ns == nil {
		c.send(connectError(name, "Invalid namespace", v5))
		return
	}
	c.mu.Lock()
	if c.closed || c.socketLocked(name) != nil {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()

	s.mu.RLock()
	onConnect, onRecover := ns.onConnect, ns.onRecover
	s.mu.RUnlock()
	id := c.sess.ID()
	if v5 {
		id = newSocketID()
	} else if name != "/" {
		id = name + "#" + id
	}
	k := &conn{
		id:          id,
		ns:          ns,
		client:      c,
		pending:     []*engineio.Message{},
		auth:        auth,
		connectedAt: time.Now(),
	}
	if v5 && onRecover != nil {
		k.pid = newSocketID()
		if req, ok := recoveryRequest(auth); ok {
			req.Handshake = k.Handshake()
			var granted Recovered
			var ok bool
			err := k.safely("recover", func() error { granted, ok = onRecover(req); return nil })
			if err == nil && ok && granted.SocketID != "" {
				k.id, k.pid, k.recovered, k.recoveryState = granted.SocketID, req.PID, true, granted.State
			}
		}
	}
	if onConnect != nil {
		if err := k.safely("connect", func() error { return onConnect(k) }); err != nil {
			c.send(connectError(name, err.Error(), v5))
			return
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	if c.connectTimer != nil {
		c.connectTimer.Stop()
		c.connectTimer = nil
	}
	c.sockets = append(c.sockets, k)
	c.mu.Unlock()

	reply := packet{Type: packetConnect, Namespace: name}
	if v5 {
		reply.Data = connectReply(k.id, k.pid)
	}
	k.mu.Lock()
	c.send(&reply)
	for _, m := range k.pending {
		c.sess.Send(m)
	}
	k.pending = nil
	k.mu.Unlock()
	if s.observer != nil {
		s.observer.SocketConnected(k)
	}
}

// connectReply is the v5 CONNECT payload: {"sid":...} and, with recovery,
// the private id as socket.io 4.6+ sends it.
func connectReply(sid, pid string) []byte {
	out := append([]byte(`{"sid":`), jsonstr.Append(nil, sid)...)
	if pid != "" {
		out = append(append(out, `,"pid":`...), jsonstr.Append(nil, pid)...)
	}
	return append(out, '}')
}

// recoveryRequest reads {pid, offset} from a CONNECT auth payload. A pid
// that is not a non-empty string means no request; an offset that is not a
// string counts as none.
func recoveryRequest(auth []byte) (RecoveryRequest, bool) {
	if len(auth) == 0 {
		return RecoveryRequest{}, false
	}
	var fields struct {
		PID    json.RawMessage `json:"pid"`
		Offset json.RawMessage `json:"offset"`
	}
	if json.Unmarshal(auth, &fields) != nil {
		return RecoveryRequest{}, false
	}
	var req RecoveryRequest
	if json.Unmarshal(fields.PID, &req.PID) != nil || req.PID == "" {
		return RecoveryRequest{}, false
	}
	req.HasOffset = json.Unmarshal(fields.Offset, &req.Offset) == nil && len(fields.Offset) > 0 && fields.Offset[0] == '"'
	if !req.HasOffset {
		req.Offset = ""
	}
	return req, true
}

func connectError(ns, message string, v5 bool) *packet {
	p := &packet{Type: packetConnectError, Namespace: ns}
	quoted := jsonstr.Append(nil, message)
	if v5 {
		p.Data = append(append([]byte(`{"message":`), quoted...), '}')
	} else {
		p.Data = quoted
	}
	return p
}

// conn is one socket: a client connected to one namespace.
type conn struct {
	id     string
	ns     *namespace
	client *client
	// auth and connectedAt are the socket's part of its Handshake; the
	// session's part is parsed when asked for.
	auth        json.RawMessage
	connectedAt time.Time
	// pid is the private id of a socket with connection state recovery;
	// recovered and recoveryState say whether OnRecover granted it.
	pid           string
	recovered     bool
	recoveryState any

	mu      sync.Mutex
	pending []*engineio.Message // emits made during OnConnect; nil once connected
	acks    map[int64]*handlerFunc
	nextAck int64
	closed  bool
	value   any
}

func (k *conn) ID() string         { return k.id }
func (k *conn) SessionID() string  { return k.client.sess.ID() }
func (k *conn) Namespace() string  { return k.ns.name }
func (k *conn) RemoteAddr() string { return k.client.sess.RemoteAddr() }
func (k *conn) Handshake() Handshake {
	s := k.client.sess
	return Handshake{Query: s.Query(), Header: s.Header(), Auth: k.auth, Time: k.connectedAt, Protocol: s.Protocol()}
}
func (k *conn) PID() string { return k.pid }
func (k *conn) Recovered() (any, bool) {
	return k.recoveryState, k.recovered
}
func (k *conn) Context() any     { k.mu.Lock(); defer k.mu.Unlock(); return k.value }
func (k *conn) SetContext(v any) { k.mu.Lock(); k.value = v; k.mu.Unlock() }

func (k *conn) queue(m *engineio.Message) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return ErrConnClosed
	}
	if k.pending != nil {
		k.pending = append(k.pending, m)
		k.mu.Unlock()
		return nil
	}
	k.mu.Unlock()
	if err := k.client.sess.Send(m); err != nil {
		return ErrConnClosed
	}
	return nil
}

func (k *conn) Emit(event string, args ...any) error {
	var ack reflect.Value
	if n := len(args); n > 0 && args[n-1] != nil && reflect.TypeOf(args[n-1]).Kind() == reflect.Func {
		ack = reflect.ValueOf(args[n-1])
		args = args[:n-1]
	}
	id := int64(-1)
	if ack.IsValid() {
		cb, err := newAckCallback(ack)
		if err != nil {
			return err
		}
		k.mu.Lock()
		if k.closed {
			k.mu.Unlock()
			return ErrConnClosed
		}
		id = k.nextAck
		k.nextAck++
		if k.acks == nil {
			k.acks = make(map[int64]*handlerFunc)
		}
		k.acks[id] = cb
		k.mu.Unlock()
	}
	msg, err := encodeEvent(k.ns.name, event, id, args)
	if err != nil {
		if id >= 0 {
			k.mu.Lock()
			delete(k.acks, id)
			k.mu.Unlock()
		}
		return err
	}
	if err := k.queue(msg); err != nil {
		return err
	}
	if o := k.client.server.observer; o != nil {
		o.EventSent(k, event, args)
	}
	return nil
}

func (k *conn) Send(b *Broadcast) error {
	if b.namespace != k.ns.name {
		return ErrWrongNamespace
	}
	if k.pid != "" && b.withOffset != nil {
		return k.queue(b.withOffset)
	}
	return k.queue(b.msg)
}

// Close sends DISCONNECT for this namespace and runs OnDisconnect.
func (k *conn) Close() error {
	c := k.client
	c.mu.Lock()
	if !c.removeLocked(k) {
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	k.mu.Lock()
	pending := k.pending
	k.pending = nil
	k.mu.Unlock()
	for _, m := range pending {
		c.sess.Send(m)
	}
	c.send(&packet{Type: packetDisconnect, Namespace: k.ns.name})
	k.onClosed(ReasonServerNamespaceDisconnect)
	return nil
}

func (k *conn) onClosed(reason string) {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return
	}
	k.closed = true
	k.acks = nil
	k.mu.Unlock()
	k.client.server.mu.RLock()
	f := k.ns.onDisconnect
	k.client.server.mu.RUnlock()
	if f != nil {
		k.safely("disconnect", func() error { f(k, reason); return nil })
	}
	if o := k.client.server.observer; o != nil {
		o.SocketDisconnected(k, reason)
	}
}

func (k *conn) onEvent(p *packet) {
	event, args, err := splitArgs(p.Data)
	if err != nil || reservedEvents[event] {
		k.client.protocolError("invalid event payload")
		return
	}
	if o := k.client.server.observer; o != nil {
		o.EventReceived(k, event, args)
	}
	k.client.server.mu.RLock()
	h, received := k.ns.events[event], k.ns.received[event]
	k.client.server.mu.RUnlock()
	if h == nil {
		k.client.server.unhandled.Add(1)
		return // unknown events are ignored, as socket.io does
	}
	received.Add(1)
	var results []any
	err = k.safely(event, func() error {
		var callErr error
		results, callErr = h.call(reflect.ValueOf(Conn(k)), args, p.Attachments)
		return callErr
	})
	// Only a handler with results acknowledges, as a Node handler that
	// never calls its ack sends none: the client's timeout() then fires.
	if err != nil || !p.HasID || !h.acknowledges {
		return
	}
	data, attachments, err := encodeArgs(nil, "", results)
	if err != nil {
		k.client.server.log.Error("socketio: cannot encode ack", "event", event, "err", err)
		return
	}
	reply := packet{Type: packetAck, Namespace: k.ns.name, ID: p.ID, HasID: true, Data: data, Attachments: attachments}
	if len(attachments) > 0 {
		reply.Type = packetBinaryAck
	}
	k.queue(engineio.NewMessage(appendPacketText(nil, &reply), attachments))
}

func (k *conn) onAck(p *packet) {
	if !p.HasID {
		return
	}
	k.mu.Lock()
	cb := k.acks[p.ID]
	delete(k.acks, p.ID)
	k.mu.Unlock()
	if cb == nil {
		return
	}
	args, err := splitAckArgs(p.Data)
	if err != nil {
		k.client.protocolError("invalid ack payload")
		return
	}
	k.safely("ack", func() error {
		_, err := cb.call(reflect.Value{}, args, p.Attachments)
		return err
	})
}

// safely runs user code: a panic is logged with its stack and turned into an
// error, and the session goes on.
func (k *conn) safely(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			k.client.server.log.Error("socketio: handler panic", "handler", what, "namespace", k.ns.name, "sid", k.client.sess.ID(), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("socketio: handler %q panicked: %v", what, r)
		}
	}()
	err = f()
	var pe *handlerPanicError
	if errors.As(err, &pe) {
		k.client.server.log.Error("socketio: handler panic", "handler", what, "namespace", k.ns.name, "sid", k.client.sess.ID(), "panic", pe.value, "stack", string(pe.stack))
	} else if err != nil {
		k.client.server.log.Debug("socketio: handler failed", "handler", what, "err", err)
	}
	return err
}
