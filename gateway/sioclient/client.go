// Package sioclient is a small Socket.IO client that speaks WebSocket only
// (no long-polling), built for tests and load generation against the chat
// gateway.
//
// It supports Engine.IO v3 (Socket.IO protocol v4, socket.io-client 2.x:
// the server connects the root namespace by itself and the client pings) and
// Engine.IO v4 (Socket.IO protocol v5, socket.io-client 3.x/4.x: the client
// connects the root namespace and the server pings). Only the root namespace
// "/" and text packets are supported; binary packets are skipped.
//
// Every Client owns one reader goroutine, started by Dial and ended by Close
// (or by the connection failing). The v3 heartbeat runs on a runtime timer,
// not a goroutine. Handlers run on the reader goroutine, one at a time and in
// arrival order; they must not block, and must not wait for an
// acknowledgement or call Close, because the reader is the one that would
// deliver or finish it.
//
// The receive path avoids allocations: a packet is read into a buffer reused
// across messages, the event name is located without decoding the arguments,
// and Options.OnRawEvent sees both as slices of that buffer. Only OnEvent and
// On handlers cause the arguments to be decoded (and copied).
package sioclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Defaults of Options.
const (
	DefaultEIO              = 4
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	// DefaultReadBufferSize is the WebSocket read buffer per connection;
	// small, as a load generator holds many idle connections.
	DefaultReadBufferSize = 2048
	// DefaultMaxMessageSize bounds one received WebSocket message. The
	// participant list of a very large room is the biggest thing the chat
	// server sends.
	DefaultMaxMessageSize = 64 << 20
	DefaultHeartbeatGrace = 5 * time.Second
)

const (
	// writeBufferSize is gorilla's per-write frame buffer, taken from a
	// shared pool for the duration of one write only, so idle connections
	// hold none.
	writeBufferSize = 4096
	// retainedBufferLimit: a receive buffer grown past this by one large
	// message (a big participant list) is dropped afterwards rather than
	// kept for the life of the connection.
	retainedBufferLimit = 64 << 10
	// initialBufferSize is the receive buffer allocated at the first message.
	initialBufferSize = 512
	// closeWriteTimeout bounds the goodbye packets Close sends.
	closeWriteTimeout = time.Second
)

var (
	// ErrClosed is returned by calls made after Close, and by Err once Close
	// has ended the connection.
	ErrClosed = errors.New("sioclient: closed")
	// ErrServerDisconnect reports that the server disconnected the socket
	// (a Socket.IO DISCONNECT or an Engine.IO close packet).
	ErrServerDisconnect = errors.New("sioclient: disconnected by the server")
	// ErrHeartbeatTimeout reports that the server's heartbeat stopped.
	ErrHeartbeatTimeout = errors.New("sioclient: heartbeat timeout")
)

// ConnectError is the server's refusal of the namespace connection
// (a Socket.IO CONNECT_ERROR packet).
type ConnectError struct {
	// Message is the reason given by the server.
	Message string
	// Data is the raw payload of the packet.
	Data json.RawMessage
}

func (e *ConnectError) Error() string {
	return "sioclient: connection refused by the server: " + e.Message
}

// Options configure Dial. Zero values take the defaults.
type Options struct {
	// EIO is the Engine.IO protocol revision: 3 (socket.io-client 2.x) or
	// 4 (socket.io-client 3.x/4.x, the default).
	EIO int
	// LocalAddr is the source IP address of the TCP connection, e.g.
	// "127.0.0.2", so that load can be spread over several loopback
	// addresses (each has its own ephemeral port range). Empty lets the
	// system choose.
	LocalAddr string
	// Header is sent with the WebSocket handshake (cookies, origin...).
	Header http.Header
	// HandshakeTimeout bounds Dial: TCP connect, WebSocket upgrade, the
	// Engine.IO open packet and the namespace connection (default 10s).
	HandshakeTimeout time.Duration
	// WriteTimeout bounds each write (default 10s).
	WriteTimeout time.Duration
	// ReadBufferSize is the WebSocket read buffer (default 2048).
	ReadBufferSize int
	// MaxMessageSize bounds one received WebSocket message; a larger one
	// ends the connection (default 64 MiB).
	MaxMessageSize int64
	// HeartbeatGrace is added to the server's pingInterval+pingTimeout
	// before a silent server is declared gone (default 5s). The server
	// enforces the heartbeat itself; the slack keeps a client starved of
	// CPU by a heavy load run from giving up on a server that is fine.
	HeartbeatGrace time.Duration

	// OnRawEvent, when set, is called for every EVENT packet of the root
	// namespace with the event name and the raw JSON text of the arguments
	// that follow it, as on the wire: for a single argument exactly its JSON
	// value, for several the values separated by commas, empty for none.
	// An event name containing JSON escapes is unescaped first. Both slices
	// are only valid during the call.
	OnRawEvent func(name, payload []byte)
	// SkipEvent, when set, is asked about every EVENT packet too large to
	// fit the receive buffer as a whole (name and payload longer than about
	// 512 bytes), as soon as the event name is read: returning true discards
	// the rest of the message unread by any handler, sparing the copy of,
	// say, a big participant list the caller has no use for. The name is
	// only valid during the call. It runs on the reader goroutine.
	SkipEvent func(name []byte) bool
	// OnEvent, when set, is called for every EVENT packet with the decoded
	// event name and its arguments, which the handler may keep. It runs
	// after OnRawEvent.
	OnEvent func(event string, args []json.RawMessage)
	// Recover, when set (EIO 4 only), asks the server to recover a previous
	// socket (connection state recovery): its private id and the offset of
	// the last event processed, as Client.PID and Client.Offset reported
	// them. Client.Recovered tells whether it was.
	Recover *Recovery
}

// Recovery is what a socket.io-client 4.6+ presents to recover a socket.
type Recovery struct {
	PID string
	// Offset is empty when no event carried one yet.
	Offset string
}

// Client is one Socket.IO connection on the root namespace.
type Client struct {
	conn         *websocket.Conn
	eio          int
	sessionID    string
	socketID     string
	pid          string    // private id, when the server recovers sockets
	recover      *Recovery // what the handshake presented
	recovered    bool
	offset       atomic.Pointer[string] // the last recovery offset received
	pingInterval time.Duration
	pingTimeout  time.Duration
	grace        time.Duration
	writeTimeout time.Duration
	onRawEvent   func(name, payload []byte)
	onEvent      func(event string, args []json.RawMessage)

	handlersMu  sync.RWMutex
	handlers    map[string][]func(args []json.RawMessage)
	hasHandlers atomic.Bool

	writeMu     sync.Mutex
	writeClosed bool
	pingTimer   *time.Timer // v3 only: the client's heartbeat

	ackMu   sync.Mutex
	nextAck uint64
	acks    map[uint64]chan json.RawMessage // nil once the reader has ended

	errMu     sync.Mutex
	err       error
	closeOnce sync.Once
	done      chan struct{}

	// Reader goroutine only.
	skipEvent func(name []byte) bool
	small     []byte // the receive buffer kept between messages
	largeHint int    // size to start from when a message outgrows small
}

// writeBuffers is shared by every Client: a buffer is held only while one
// write is in progress.
var writeBuffers = &sync.Pool{}

// Dial connects to the Socket.IO server at rawURL (http, https, ws or wss;
// the path defaults to /socket.io/), completes the Engine.IO handshake and
// connects the root namespace. ctx bounds the handshake only.
func Dial(ctx context.Context, rawURL string, opts Options) (*Client, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	endpoint, err := websocketURL(rawURL, opts.EIO)
	if err != nil {
		return nil, err
	}
	netDialer := &net.Dialer{Control: BindAddressNoPort}
	if opts.LocalAddr != "" {
		ip := net.ParseIP(opts.LocalAddr)
		if ip == nil {
			return nil, fmt.Errorf("sioclient: LocalAddr %q is not an IP address", opts.LocalAddr)
		}
		netDialer.LocalAddr = &net.TCPAddr{IP: ip}
	}
	ctx, cancel := context.WithTimeout(ctx, opts.HandshakeTimeout)
	defer cancel()
	dialer := &websocket.Dialer{
		NetDialContext:   netDialer.DialContext,
		HandshakeTimeout: opts.HandshakeTimeout,
		ReadBufferSize:   opts.ReadBufferSize,
		WriteBufferSize:  writeBufferSize,
		WriteBufferPool:  writeBuffers,
	}
	conn, resp, err := dialer.DialContext(ctx, endpoint, opts.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("sioclient: websocket handshake with %s: %w (HTTP %s)", endpoint, err, resp.Status)
		}
		return nil, fmt.Errorf("sioclient: websocket handshake with %s: %w", endpoint, err)
	}
	conn.SetReadLimit(opts.MaxMessageSize)
	c := &Client{
		conn:         conn,
		eio:          opts.EIO,
		grace:        opts.HeartbeatGrace,
		writeTimeout: opts.WriteTimeout,
		onRawEvent:   opts.OnRawEvent,
		onEvent:      opts.OnEvent,
		recover:      opts.Recover,
		skipEvent:    opts.SkipEvent,
		acks:         make(map[uint64]chan json.RawMessage),
		done:         make(chan struct{}),
	}
	if err := c.handshake(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	c.extendHeartbeat()
	if c.eio == 3 {
		c.writeMu.Lock() // ping reads pingTimer under it
		c.pingTimer = time.AfterFunc(c.pingInterval, c.ping)
		c.writeMu.Unlock()
	}
	go c.read()
	return c, nil
}

func (o Options) withDefaults() (Options, error) {
	switch o.EIO {
	case 0:
		o.EIO = DefaultEIO
	case 3, 4:
	default:
		return o, fmt.Errorf("sioclient: EIO must be 3 or 4, not %d", o.EIO)
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = DefaultReadBufferSize
	}
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.HeartbeatGrace <= 0 {
		o.HeartbeatGrace = DefaultHeartbeatGrace
	}
	return o, nil
}

func websocketURL(rawURL string, eio int) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("sioclient: bad URL %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("sioclient: bad URL %q: scheme must be http, https, ws or wss", rawURL)
	}
	if u.Host == "" {
		return "", fmt.Errorf("sioclient: bad URL %q: no host", rawURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/socket.io/"
	}
	q := u.Query()
	q.Set("EIO", strconv.Itoa(eio))
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// openPacket is the part of the Engine.IO handshake data the client uses.
type openPacket struct {
	SID          string `json:"sid"`
	PingInterval int64  `json:"pingInterval"`
	PingTimeout  int64  `json:"pingTimeout"`
}

// handshake reads the open packet and completes the root namespace
// connection; it runs before the reader goroutine exists.
func (c *Client) handshake(ctx context.Context) error {
	if deadline, ok := ctx.Deadline(); ok {
		if err := c.conn.SetReadDeadline(deadline); err != nil {
			return err
		}
	}
	// A cancelled ctx must interrupt a blocked read too.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetReadDeadline(time.Now()) })
	defer stop()
	readPacket := func() ([]byte, error) {
		for {
			typ, data, err := c.conn.ReadMessage()
			if err != nil {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("sioclient: handshake: %w", ctx.Err())
				}
				var netErr net.Error
				if errors.As(err, &netErr) && netErr.Timeout() {
					// The read deadline is ctx's, which may fire first.
					return nil, fmt.Errorf("sioclient: handshake: %w", context.DeadlineExceeded)
				}
				return nil, fmt.Errorf("sioclient: handshake: %w", err)
			}
			if typ == websocket.TextMessage && len(data) > 0 {
				return data, nil
			}
		}
	}

	p, err := readPacket()
	if err != nil {
		return err
	}
	var open openPacket
	if p[0] != '0' || json.Unmarshal(p[1:], &open) != nil || open.SID == "" || open.PingInterval <= 0 || open.PingTimeout <= 0 {
		return fmt.Errorf("sioclient: handshake: bad open packet %.200q", p)
	}
	c.sessionID = open.SID
	c.pingInterval = time.Duration(open.PingInterval) * time.Millisecond
	c.pingTimeout = time.Duration(open.PingTimeout) * time.Millisecond

	if c.eio == 4 {
		connect := []byte("40")
		if r := c.recover; r != nil {
			auth := map[string]string{"pid": r.PID}
			if r.Offset != "" {
				auth["offset"] = r.Offset
			}
			b, err := json.Marshal(auth)
			if err != nil {
				return fmt.Errorf("sioclient: handshake: %w", err)
			}
			connect = append(connect, b...)
		}
		if err := c.writeText(connect); err != nil {
			return fmt.Errorf("sioclient: handshake: %w", err)
		}
	}
	for {
		p, err := readPacket()
		if err != nil {
			return err
		}
		switch {
		case string(p) == "2" && c.eio == 4:
			if err := c.writeText([]byte("3")); err != nil {
				return fmt.Errorf("sioclient: handshake: %w", err)
			}
		case bytes.HasPrefix(p, []byte("40")):
			return c.connected(p[2:])
		case bytes.HasPrefix(p, []byte("44")):
			return connectError(p[2:])
		case p[0] == '1':
			return fmt.Errorf("sioclient: handshake: %w", ErrServerDisconnect)
		}
	}
}

// connected takes the socket id from a CONNECT packet's data: the v5
// {"sid":...,"pid":...}; in v4 the root namespace socket is named by the
// session.
func (c *Client) connected(data []byte) error {
	if c.eio == 3 {
		c.socketID = c.sessionID
		return nil
	}
	var reply struct {
		SID string `json:"sid"`
		PID string `json:"pid"`
	}
	if json.Unmarshal(data, &reply) != nil || reply.SID == "" {
		return fmt.Errorf("sioclient: handshake: bad CONNECT packet %.200q", data)
	}
	c.socketID, c.pid = reply.SID, reply.PID
	// As socket.io-client: recovered when the server gave the pid back.
	c.recovered = c.recover != nil && reply.PID != "" && reply.PID == c.recover.PID
	if c.recovered && c.recover.Offset != "" {
		offset := c.recover.Offset
		c.offset.Store(&offset)
	}
	return nil
}

// PID is the private id the server gave the socket for connection state
// recovery ("" when it does not recover sockets).
func (c *Client) PID() string { return c.pid }

// Offset is the recovery offset of the last event received that carried
// one ("" for none).
func (c *Client) Offset() string {
	if p := c.offset.Load(); p != nil {
		return *p
	}
	return ""
}

// Recovered reports whether the server recovered the socket Options.Recover
// named: same socket id, its rooms, and the events it missed.
func (c *Client) Recovered() bool { return c.recovered }

func connectError(data []byte) error {
	e := &ConnectError{Data: json.RawMessage(bytes.Clone(data))}
	var withMessage struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(data, &withMessage) == nil && withMessage.Message != "" {
		e.Message = withMessage.Message // v5: {"message":...}
	} else if json.Unmarshal(data, &e.Message) != nil {
		e.Message = string(data) // v4: a JSON string, or anything else
	}
	return e
}

// ID is the Socket.IO socket id, as the server's handlers see it.
func (c *Client) ID() string { return c.socketID }

// SessionID is the Engine.IO session id.
func (c *Client) SessionID() string { return c.sessionID }

// EIO is the Engine.IO protocol revision in use (3 or 4).
func (c *Client) EIO() int { return c.eio }

// Done is closed once the connection has ended and the reader goroutine has
// returned.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err is nil while the connection is open, ErrClosed after Close, or why
// the connection ended otherwise.
func (c *Client) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// On adds a handler for one event; it receives the event's arguments,
// decoded and owned by the handler. Events received before On returns are
// not replayed: for events that may arrive at once, use Options.OnEvent.
func (c *Client) On(event string, handler func(args []json.RawMessage)) {
	c.handlersMu.Lock()
	defer c.handlersMu.Unlock()
	if c.handlers == nil {
		c.handlers = make(map[string][]func(args []json.RawMessage))
	}
	c.handlers[event] = append(c.handlers[event], handler)
	c.hasHandlers.Store(true)
}

// Emit sends an event. Arguments are encoded with encoding/json, except a
// json.RawMessage, which is sent as is and must be valid JSON. It is safe
// for concurrent use; it returns once the packet is written to the socket.
func (c *Client) Emit(event string, args ...any) error {
	return c.emit(event, -1, args)
}

// EmitWithAck sends an event asking for an acknowledgement and waits for it
// until ctx ends. The result is the acknowledgement's argument array, e.g.
// [{"order":1,...}] (or [] for an empty acknowledgement).
func (c *Client) EmitWithAck(ctx context.Context, event string, args ...any) (json.RawMessage, error) {
	ch := make(chan json.RawMessage, 1)
	c.ackMu.Lock()
	if c.acks == nil {
		c.ackMu.Unlock()
		return nil, c.endedErr()
	}
	id := c.nextAck
	c.nextAck++
	c.acks[id] = ch
	c.ackMu.Unlock()
	forget := func() {
		c.ackMu.Lock()
		if c.acks != nil {
			delete(c.acks, id)
		}
		c.ackMu.Unlock()
	}
	if err := c.emit(event, int64(id), args); err != nil {
		forget()
		return nil, err
	}
	select {
	case ack := <-ch:
		return ack, nil
	case <-ctx.Done():
		forget()
		return nil, ctx.Err()
	case <-c.done:
		// The ack may have been delivered just before the end.
		select {
		case ack := <-ch:
			return ack, nil
		default:
		}
		return nil, c.endedErr()
	}
}

func (c *Client) endedErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// packetBuffers recycles encoded packets between emits.
var packetBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func (c *Client) emit(event string, ackID int64, args []any) error {
	bp := packetBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= retainedBufferLimit {
			packetBuffers.Put(bp)
		}
	}()
	p, err := AppendEvent((*bp)[:0], event, ackID, args...)
	*bp = p
	if err != nil {
		return err
	}
	return c.writeText(p)
}

// AppendEvent appends the Engine.IO MESSAGE / Socket.IO EVENT packet for
// event and args on the root namespace to dst, with an acknowledgement id
// unless ackID is negative. Arguments are encoded as by Emit.
func AppendEvent(dst []byte, event string, ackID int64, args ...any) ([]byte, error) {
	dst = append(dst, '4', '2')
	if ackID >= 0 {
		dst = strconv.AppendInt(dst, ackID, 10)
	}
	dst = append(dst, '[')
	var err error
	if dst, err = appendJSON(dst, event); err != nil {
		return dst, err
	}
	for _, a := range args {
		dst = append(dst, ',')
		if dst, err = appendJSON(dst, a); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}

func appendJSON(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case json.RawMessage:
		if len(v) == 0 {
			return dst, errors.New("sioclient: empty json.RawMessage argument")
		}
		return append(dst, v...), nil
	case string:
		if plainASCII(v) {
			dst = append(dst, '"')
			dst = append(dst, v...)
			return append(dst, '"'), nil
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("sioclient: encode argument: %w", err)
	}
	return append(dst, b...), nil
}

// plainASCII reports whether s is printable ASCII needing no JSON escape
// (encoding/json would also escape <, > and &).
func plainASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x20 || b > 0x7e || b == '"' || b == '\\' || b == '<' || b == '>' || b == '&' {
			return false
		}
	}
	return true
}

// WritePacket sends one already encoded Engine.IO packet as a text frame,
// e.g. one built with AppendEvent. It is safe for concurrent use.
func (c *Client) WritePacket(packet []byte) error {
	return c.writeText(packet)
}

func (c *Client) writeText(p []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeClosed {
		return c.endedErr()
	}
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return err
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, p); err != nil {
		// gorilla/websocket cannot write again after a failed write.
		c.writeClosed = true
		c.fail(fmt.Errorf("sioclient: write: %w", err))
		return err
	}
	return nil
}

// ping is the v3 heartbeat: the client pings every pingInterval and the
// server answers with a pong. It runs on a timer, re-arming itself.
func (c *Client) ping() {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeClosed {
		return
	}
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.writeTimeout)); err != nil {
		return
	}
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte("2")); err != nil {
		c.writeClosed = true
		c.fail(fmt.Errorf("sioclient: write ping: %w", err))
		return
	}
	c.pingTimer.Reset(c.pingInterval)
}

// extendHeartbeat moves the read deadline past the next expected heartbeat:
// a server ping (v4) or the answer to ours (v3) must come within
// pingInterval+pingTimeout, plus the grace.
func (c *Client) extendHeartbeat() {
	_ = c.conn.SetReadDeadline(time.Now().Add(c.pingInterval + c.pingTimeout + c.grace))
}

// fail records the first cause of the end and closes the connection, which
// ends the reader.
func (c *Client) fail(err error) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = err
	}
	c.errMu.Unlock()
	c.conn.Close()
}

// Close disconnects: it sends a Socket.IO DISCONNECT and a WebSocket close,
// closes the connection and waits for the reader goroutine to return. It
// must not be called from a handler.
func (c *Client) Close() error { return c.close(true) }

// Drop cuts the connection without a word, as a network failure does: the
// server sees its transport close, not a client leaving, so it keeps the
// session for a recovery.
func (c *Client) Drop() error { return c.close(false) }

func (c *Client) close(polite bool) error {
	c.closeOnce.Do(func() {
		c.errMu.Lock()
		if c.err == nil {
			c.err = ErrClosed
		}
		c.errMu.Unlock()
		c.writeMu.Lock()
		if !c.writeClosed && polite {
			c.writeClosed = true
			deadline := time.Now().Add(closeWriteTimeout)
			if c.conn.SetWriteDeadline(deadline) == nil && c.conn.WriteMessage(websocket.TextMessage, []byte("41")) == nil {
				_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), deadline)
			}
		}
		if c.pingTimer != nil {
			c.pingTimer.Stop()
		}
		c.writeMu.Unlock()
		c.conn.Close()
	})
	<-c.done
	return nil
}

// read is the reader goroutine.
func (c *Client) read() {
	defer func() {
		c.writeMu.Lock()
		c.writeClosed = true
		if c.pingTimer != nil {
			c.pingTimer.Stop()
		}
		c.writeMu.Unlock()
		c.conn.Close()
		c.ackMu.Lock()
		c.acks = nil
		c.ackMu.Unlock()
		close(c.done)
	}()
	for {
		typ, r, err := c.conn.NextReader()
		if err != nil {
			c.fail(c.readError(err))
			return
		}
		if typ != websocket.TextMessage {
			if _, err := io.Copy(io.Discard, r); err != nil {
				c.fail(c.readError(err))
				return
			}
			continue
		}
		msg, err := c.readMessage(r)
		if err != nil {
			c.fail(c.readError(err))
			return
		}
		if msg == nil {
			continue // skipped
		}
		err = c.handle(msg)
		if cap(msg) > retainedBufferLimit {
			c.largeHint = len(msg) + len(msg)/4
			putLarge(msg)
		}
		if err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *Client) readError(err error) error {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return ErrHeartbeatTimeout
	}
	return fmt.Errorf("sioclient: read: %w", err)
}

// readMessage reads one text message to its end and returns it, or nil
// if SkipEvent discarded it. Messages up to retainedBufferLimit are read
// into the client's own buffer; larger ones into a pooled buffer, which the
// caller returns with putLarge.
func (c *Client) readMessage(r io.Reader) ([]byte, error) {
	b := c.small[:0]
	if b == nil {
		b = make([]byte, 0, initialBufferSize)
	}
	b, eof, err := fill(r, b)
	if err != nil {
		return nil, err
	}
	if !eof && c.skipEvent != nil {
		if name, ok := peekEventName(b); ok && c.skipEvent(name) {
			c.small = b
			_, err := io.Copy(io.Discard, r)
			return nil, err
		}
	}
	for !eof {
		switch {
		case cap(b) < retainedBufferLimit:
			nb := make([]byte, len(b), min(2*cap(b), retainedBufferLimit))
			copy(nb, b)
			b = nb
		default:
			nb := append(getLarge(max(2*cap(b), c.largeHint)), b...)
			if cap(b) > retainedBufferLimit {
				putLarge(b)
			}
			b = nb
		}
		if b, eof, err = fill(r, b); err != nil {
			if cap(b) > retainedBufferLimit {
				putLarge(b)
			}
			return nil, err
		}
	}
	if cap(b) <= retainedBufferLimit {
		c.small = b
	}
	return b, nil
}

// fill reads r into b until b is full or r ends (eof).
func fill(r io.Reader, b []byte) (_ []byte, eof bool, _ error) {
	for len(b) < cap(b) {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, true, nil
		}
		if err != nil {
			return b, false, err
		}
	}
	return b, false, nil
}

// peekEventName finds the event name at the start of a root-namespace
// EVENT packet, 42["name", or 42<id>["name", if it is all there and holds
// no escape.
func peekEventName(p []byte) ([]byte, bool) {
	if len(p) < 4 || p[0] != '4' || p[1] != '2' {
		return nil, false
	}
	i := 2
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	if i+1 >= len(p) || p[i] != '[' || p[i+1] != '"' {
		return nil, false
	}
	start := i + 2
	for j := start; j < len(p); j++ {
		switch p[j] {
		case '\\':
			return nil, false
		case '"':
			return p[start:j], true
		}
	}
	return nil, false
}

// Receive buffers above retainedBufferLimit come from pools by size class
// (2 x retainedBufferLimit, doubling), shared by every client: a client
// keeps none between messages, and the next large message reuses one
// instead of growing (copying and zeroing) a new buffer step by step.
const largeClasses = 12

var largeBuffers [largeClasses]sync.Pool

func largeClass(size int) int {
	k := 0
	for k < largeClasses && (2*retainedBufferLimit)<<k < size {
		k++
	}
	return k
}

func getLarge(size int) []byte {
	k := largeClass(size)
	if k == largeClasses {
		return make([]byte, 0, size)
	}
	if b, ok := largeBuffers[k].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, (2*retainedBufferLimit)<<k)
}

func putLarge(b []byte) {
	k := largeClass(cap(b))
	if k == largeClasses || (2*retainedBufferLimit)<<k != cap(b) {
		return // not one of the pooled sizes
	}
	b = b[:0]
	largeBuffers[k].Put(&b)
}

// handle processes one Engine.IO packet; an error ends the connection.
func (c *Client) handle(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	switch p[0] {
	case '4': // message: a Socket.IO packet
		return c.handleSocketIO(p[1:])
	case '2': // ping
		if c.eio == 4 {
			c.extendHeartbeat()
			return c.writeText([]byte("3"))
		}
	case '3': // pong
		if c.eio == 3 {
			c.extendHeartbeat()
		}
	case '1': // close
		return ErrServerDisconnect
	}
	return nil // open, noop, upgrade: nothing to do
}

func (c *Client) handleSocketIO(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	typ := p[0]
	p = p[1:]
	if len(p) > 0 && p[0] == '/' {
		// Only the root namespace is served; "/," is the root spelled out.
		comma := bytes.IndexByte(p, ',')
		if comma < 0 {
			return nil
		}
		if comma != 1 {
			return nil
		}
		p = p[comma+1:]
	}
	digits := 0
	for digits < len(p) && p[digits] >= '0' && p[digits] <= '9' {
		digits++
	}
	id, data := p[:digits], p[digits:]
	switch typ {
	case '2': // EVENT (a server-requested ack is not answered)
		c.dispatchEvent(data)
	case '3': // ACK
		c.deliverAck(id, data)
	case '1': // DISCONNECT
		return ErrServerDisconnect
	case '4': // CONNECT_ERROR after connection
		return connectError(data)
	}
	return nil
}

func (c *Client) deliverAck(id, data []byte) {
	n, err := strconv.ParseUint(string(id), 10, 64)
	if err != nil {
		return
	}
	c.ackMu.Lock()
	ch := c.acks[n]
	delete(c.acks, n)
	c.ackMu.Unlock()
	if ch != nil {
		ch <- json.RawMessage(bytes.Clone(data))
	}
}

func (c *Client) dispatchEvent(data []byte) {
	name, payload, ok := SplitEvent(data)
	if !ok {
		return
	}
	offset := ""
	if c.pid != "" {
		// A server that recovers sockets appends an offset to the events a
		// client can resume after: a last argument that is a string. It
		// is kept here, not handed to the handlers.
		if rest, last, ok := splitLastString(payload); ok {
			offset, payload = string(last), rest
			c.offset.Store(&offset)
		}
	}
	if c.onRawEvent != nil {
		c.onRawEvent(name, payload)
	}
	hasHandlers := c.hasHandlers.Load()
	if c.onEvent == nil && !hasHandlers {
		return
	}
	var all []json.RawMessage
	if json.Unmarshal(data, &all) != nil || len(all) == 0 {
		return
	}
	event, args := string(name), all[1:]
	if offset != "" && len(args) > 0 {
		args = args[:len(args)-1]
	}
	if c.onEvent != nil {
		c.onEvent(event, args)
	}
	if hasHandlers {
		c.handlersMu.RLock()
		hs := c.handlers[event]
		c.handlersMu.RUnlock()
		for _, h := range hs {
			h(args)
		}
	}
}

// SplitEvent splits the data of an EVENT packet, a JSON array starting with
// the event name, into the name and the raw text of the remaining arguments
// (see Options.OnRawEvent), without decoding the arguments. The slices
// share data's memory unless the name holds escapes. ok is false when data
// does not start with a string inside an array; the arguments are not
// validated.
func SplitEvent(data []byte) (name, payload []byte, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return nil, nil, false
	}
	i = skipSpace(data, i+1)
	if i >= len(data) || data[i] != '"' {
		return nil, nil, false
	}
	start := i
	escaped := false
	for i++; i < len(data); i++ {
		if data[i] == '\\' {
			escaped = true
			i++
			continue
		}
		if data[i] == '"' {
			break
		}
	}
	if i >= len(data) {
		return nil, nil, false
	}
	name = data[start+1 : i]
	if escaped {
		var s string
		if json.Unmarshal(data[start:i+1], &s) != nil {
			return nil, nil, false
		}
		name = []byte(s)
	}
	i = skipSpace(data, i+1)
	if i >= len(data) {
		return nil, nil, false
	}
	switch data[i] {
	case ']':
		return name, nil, true
	case ',':
	default:
		return nil, nil, false
	}
	end := len(data)
	for end > i && isSpace(data[end-1]) {
		end--
	}
	if end <= i+1 || data[end-1] != ']' {
		return nil, nil, false
	}
	payload = data[i+1 : end-1]
	// Leading and trailing spaces of the payload are trimmed too.
	j := 0
	for j < len(payload) && isSpace(payload[j]) {
		j++
	}
	payload = payload[j:]
	for len(payload) > 0 && isSpace(payload[len(payload)-1]) {
		payload = payload[:len(payload)-1]
	}
	return name, payload, true
}

// splitLastString splits an event payload (see SplitEvent) whose last
// argument is a JSON string without escapes, as recovery offsets are, into
// the arguments before it and the string's text.
func splitLastString(payload []byte) (rest, last []byte, ok bool) {
	n := len(payload)
	if n < 2 || payload[n-1] != '"' {
		return nil, nil, false
	}
	open := bytes.LastIndexByte(payload[:n-1], '"')
	if open < 0 || bytes.IndexByte(payload[open+1:n-1], '\\') >= 0 {
		return nil, nil, false
	}
	i := open - 1
	for i >= 0 && isSpace(payload[i]) {
		i--
	}
	switch {
	case i < 0:
		return nil, nil, false // the only argument: an event of its own
	case payload[i] == ',':
		j := i - 1
		for j >= 0 && isSpace(payload[j]) {
			j--
		}
		return payload[:j+1], payload[open+1 : n-1], true
	}
	return nil, nil, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
