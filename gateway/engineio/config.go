package engineio

import (
	"log/slog"
	"net/http"
	"time"
)

// Config holds every limit and timing of the engine. Zero values take the
// documented defaults (socket.io 4's own where one exists).
type Config struct {
	// PingInterval and PingTimeout drive the heartbeat (defaults 25s / 20s).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// UpgradeTimeout bounds the probe-to-upgrade window (default 10s).
	UpgradeTimeout time.Duration
	// MaxPayload caps one HTTP long-polling body, in bytes, and is announced
	// to v4 clients as maxPayload (default 1e6, socket.io's maxHttpBufferSize).
	MaxPayload int64
	// MaxFrame caps one WebSocket message, in bytes (default 1e6).
	MaxFrame int64
	// MaxBufferedBytes caps a session's queued outbound data; a session over
	// it is closed as a slow consumer (default 4 MiB).
	MaxBufferedBytes int64
	// AllowedOrigins restricts CORS and the WebSocket Origin check. Empty
	// means every origin is reflected with credentials, as socket.io 2 does.
	AllowedOrigins []string
	// Cookie is the EIO3-style session cookie name; empty disables it.
	Cookie string
	// AdmitSession, when set, is asked before every new session (a polling
	// handshake or a WebSocket-only connection). An error refuses it with
	// 403 {"code":4,"message":<the error>}, as engine.io's allowRequest
	// does; otherwise release is called once when that session ends.
	AdmitSession func(r *http.Request) (release func(), err error)
	// DisableEIO3 refuses Engine.IO v3 clients.
	DisableEIO3 bool
	Logger      *slog.Logger
}
