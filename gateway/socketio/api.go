// Package socketio implements the Socket.IO protocol, revisions 4
// (socket.io-client 2.x, over Engine.IO v3) and 5 (socket.io-client 3.x/4.x,
// over Engine.IO v4), on top of package engineio.
//
// The programming model follows googollee/go-socket.io: OnConnect,
// OnDisconnect and OnEvent per namespace, handlers with typed arguments whose
// return values become the acknowledgement.
package socketio

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"
)

// Handshake is what the client presented when it opened the session and
// connected to the namespace.
type Handshake struct {
	Query  url.Values
	Header http.Header
	// Auth is the CONNECT payload of a protocol v5 client (nil for v4).
	Auth json.RawMessage
	Time time.Time
	// Protocol is the Engine.IO revision (3 or 4).
	Protocol int
}

// Conn is one client socket connected to one namespace.
type Conn interface {
	// ID is the socket id: for EIO3 clients the engine session id on "/" and
	// "/nsp#<sid>" elsewhere (socket.io 2 semantics); for v5 a fresh random id.
	ID() string
	// SessionID is the Engine.IO session id shared by all namespaces of a client.
	SessionID() string
	Namespace() string
	// Emit sends an event. If the last argument is a func, it is an ack
	// callback: its parameters are decoded from the client's ack like
	// OnEvent handler arguments. Emit never blocks: it queues, and fails
	// with ErrConnClosed once the connection is gone.
	Emit(event string, args ...any) error
	// Send queues a pre-encoded broadcast (see Server.NewBroadcast). It never
	// blocks; when the outbound queue overflows the connection is closed.
	Send(b *Broadcast) error
	// Close disconnects the socket from its namespace (a DISCONNECT packet)
	// and, if it was the last namespace, the session.
	Close() error
	RemoteAddr() string
	Handshake() Handshake
	// Context returns the value stored with SetContext; safe for concurrent use.
	Context() any
	SetContext(v any)
	// PID is the socket's private id when the namespace has connection
	// state recovery (see Server.OnRecover), else "".
	PID() string
	// Recovered reports whether the socket is a recovered one, with the
	// state the namespace's OnRecover handler gave.
	Recovered() (state any, ok bool)
}

// The Server type and its methods live in server.go:
//
//	func NewServer(cfg Config) *Server
//	func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request)
//	func (s *Server) OnConnect(ns string, f func(Conn) error)
//	func (s *Server) OnDisconnect(ns string, f func(c Conn, reason string))
//	func (s *Server) OnEvent(ns, event string, handler any)
//	func (s *Server) NewBroadcast(ns, event string, args ...any) (*Broadcast, error)
//	func (s *Server) NewOffsetBroadcast(ns, event, offset string, args ...any) (*Broadcast, error)
//	func (s *Server) OnRecover(ns string, f func(RecoveryRequest) (Recovered, bool))
//	func (s *Server) Shutdown(ctx context.Context) error
//
// OnEvent handler shapes (checked at registration, panics on a bad shape):
//
//	func(c Conn)
//	func(c Conn, a T1, b T2, ...)            // each arg decoded from JSON into T
//	func(c Conn, a T1, ...) (R1, R2, ...)    // results become the ack args
//	func(c Conn, args ...any) Args           // Args is spread: any number of ack args
//
// Acknowledgements follow Node's socket.io, where a handler acknowledges by
// calling the ack function it was given: here a handler acknowledges by
// having results. When the client asked for an ack (an EVENT with an id), a
// handler with results answers an ACK carrying them (an empty Args answers
// an ACK with no arguments, like ack() in Node); a handler without results
// answers none, so the client's own timeout (socket.timeout(ms).emit in
// socket.io-client 4) fires, as against a Node handler that never calls its
// ack. Nor is an ack sent when the arguments cannot be bound or the handler
// panics. There is no separate ack function: every handler here decides its
// answer before it returns.
//
// A parameter of type []byte receives a binary attachment; any, map[string]any
// and []any receive decoded JSON where attachments appear as []byte; structs
// with []byte fields receive attachments in those fields; json.RawMessage
// receives the raw JSON (placeholders left in place). Missing trailing
// arguments are zero values. An OnConnect error refuses the connection with a
// CONNECT_ERROR carrying err.Error().
