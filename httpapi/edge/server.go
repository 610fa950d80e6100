package edge

import (
	"log/slog"
	"net/http"
	"time"
)

// Defaults of Timeouts. No client of the original frontend comes near
// them: its requests are small, its long-polls are bounded by the
// heartbeat (see the package comment), and its WebSockets are exempt.
const (
	// DefaultHeaderTimeout bounds the request head: a browser sends it in
	// one packet.
	DefaultHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds a whole request with its body: 1 MB (the
	// largest Engine.IO POST) at 35 KB/s.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds each write of an answer: a client that
	// takes longer than this to accept one chunk has stopped reading.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection left idle: a
	// polling client re-polls at once, a browser reconnects when needed.
	DefaultIdleTimeout = 30 * time.Second
	// DefaultMaxHeaderBytes caps the request head: twice Node's 16 KiB,
	// which the original answered with 431 beyond.
	DefaultMaxHeaderBytes = 32 << 10
)

// deadlineSlack is how stale a write deadline may get before a Write moves
// it: moving it is a timer update in the runtime's poller.
const deadlineSlack = time.Second

// Timeouts configures NewServer; zero values take the defaults.
type Timeouts struct {
	Header, Read, Write, Idle time.Duration
	MaxHeaderBytes            int
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Header <= 0 {
		t.Header = DefaultHeaderTimeout
	}
	if t.Read <= 0 {
		t.Read = DefaultReadTimeout
	}
	if t.Write <= 0 {
		t.Write = DefaultWriteTimeout
	}
	if t.Idle <= 0 {
		t.Idle = DefaultIdleTimeout
	}
	if t.MaxHeaderBytes <= 0 {
		t.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	return t
}

// NewServer returns an http.Server serving h with the timeouts of t and the
// framing rule of the package comment. Serve it on a Listener for the
// connection caps.
func NewServer(h http.Handler, t Timeouts, logger *slog.Logger) *http.Server {
	t = t.withDefaults()
	if logger == nil {
		logger = slog.Default()
	}
	return &http.Server{
		Handler:           guard{next: h, writeTimeout: t.Write},
		ReadHeaderTimeout: t.Header,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    t.MaxHeaderBytes,
		// net/http's own messages (TLS handshake errors, panics already
		// recovered above, accept retries) at debug level.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
}

// guard applies the per-request rules before the handler runs.
type guard struct {
	next         http.Handler
	writeTimeout time.Duration
}

func (g guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if unsafeFraming(r) {
		// net/http honours a handler's Connection: close by closing after
		// the answer, without reading further requests from the buffer.
		w.Header().Set("Connection", "close")
	}
	rc := http.NewResponseController(w)
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		// No body to time: clear ReadTimeout's deadline, which would
		// otherwise cancel a request held longer (a long-poll).
		_ = rc.SetReadDeadline(time.Time{})
	}
	g.next.ServeHTTP(&progressWriter{ResponseWriter: w, rc: rc, timeout: g.writeTimeout}, r)
}

// unsafeFraming reports a request after which the connection must close:
// chunked (its Content-Length, if any, was dropped by net/http, so it may
// be a smuggling attempt) or HTTP/1.0 (whose Transfer-Encoding net/http
// ignores without a trace).
func unsafeFraming(r *http.Request) bool {
	return len(r.TransferEncoding) > 0 || !r.ProtoAtLeast(1, 1)
}

// progressWriter moves the write deadline ahead of every write, so
// WriteTimeout bounds a stalled write, not a whole answer.
type progressWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	movedAt time.Time
}

func (p *progressWriter) extend() {
	if now := time.Now(); now.Sub(p.movedAt) > deadlineSlack {
		_ = p.rc.SetWriteDeadline(now.Add(p.timeout))
		p.movedAt = now
	}
}

func (p *progressWriter) WriteHeader(status int) {
	p.extend()
	p.ResponseWriter.WriteHeader(status)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	p.extend()
	return p.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (and so Flush and Hijack through
// Echo's response) reach net/http's writer.
func (p *progressWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }
