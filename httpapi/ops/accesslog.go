package ops

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Paths of the operator endpoints on the main port.
const (
	PathHealthz = "/healthz"
	PathReadyz  = "/readyz"
	PathMetrics = "/metrics"
)

// engineIOPrefix is where the Socket.IO engine is mounted.
const engineIOPrefix = "/socket.io/"

// redacted replaces secrets in what is logged.
const redacted = "xxxxx"

// secretParams are query parameters never logged as sent: socket.io-client
// 2.x sends its JWT as ?token= (AUTH_JWT_SECRET).
var secretParams = []string{"token"}

// AccessLog logs one line per request at info for REST and for Engine.IO
// handshakes (method, path with secrets redacted, status, duration, remote
// address); the requests of an open Engine.IO session (polls, posts) and
// the probes of /healthz, /readyz and /metrics only at debug, since a
// client makes one every few seconds.
func AccessLog(next http.Handler, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		level := accessLevel(r)
		if !logger.Enabled(r.Context(), level) {
			next.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		// Read before the handler: routing may rewrite the URL in place.
		uri := RedactedRequestURI(r.URL)
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		status := rec.status
		if status == 0 {
			status = http.StatusOK // nothing written: net/http answers 200
		}
		logger.LogAttrs(context.WithoutCancel(r.Context()), level, "http request",
			slog.String("method", r.Method),
			slog.String("path", uri),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

func accessLevel(r *http.Request) slog.Level {
	switch p := r.URL.Path; {
	case p == PathHealthz || p == PathReadyz || p == PathMetrics:
		return slog.LevelDebug
	case strings.HasPrefix(p, engineIOPrefix) && r.URL.Query().Get("sid") != "":
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// RedactedRequestURI is the request's path and query with the values of
// secret parameters replaced.
func RedactedRequestURI(u *url.URL) string {
	path := u.EscapedPath()
	if u.RawQuery == "" {
		return path
	}
	parts := strings.Split(u.RawQuery, "&")
	for i, part := range parts {
		name, _, hasValue := strings.Cut(part, "=")
		if !hasValue {
			continue
		}
		if unescaped, err := url.QueryUnescape(name); err == nil {
			name = unescaped
		}
		for _, secret := range secretParams {
			if strings.EqualFold(name, secret) {
				parts[i] = part[:strings.IndexByte(part, '=')+1] + redacted
			}
		}
	}
	return path + "?" + strings.Join(parts, "&")
}

// statusRecorder remembers the status an answer got; a WebSocket handshake
// is hijacked and its 101 written on the raw connection, so a hijack
// counts as 101.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Hijack is what gorilla/websocket calls (through Echo's response).
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err == nil && s.status == 0 {
		s.status = http.StatusSwitchingProtocols
	}
	return conn, rw, err
}

// Unwrap lets http.ResponseController reach the writer below (Flush).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
