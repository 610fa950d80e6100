package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"strings"
)

// LOG_FORMAT values.
const (
	logFormatText = "text"
	logFormatJSON = "json"
)

// newLogger writes records of cfg's level and format to w, with every
// secret of cfg scrubbed from messages and attributes.
func newLogger(w io.Writer, cfg config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == logFormatJSON {
		h = slog.NewJSONHandler(w, opts)
	}
	if secrets := secretsOf(cfg); len(secrets) > 0 {
		h = redactingHandler{next: h, secrets: secrets}
	}
	return slog.New(h)
}

// minScrubbedSecret is the shortest secret scrubbed from log text: a
// shorter one (a test's ADMIN_TOKEN=t) would mangle every line, and the
// places that print settings redact them anyway (redactStore, hideAll).
const minScrubbedSecret = 6

// secretsOf is every secret value of cfg worth scrubbing from logs: the
// Redis password, ADMIN_TOKEN, AUTH_JWT_SECRET and ADMIN_UI_PASSWORD's hash.
func secretsOf(cfg config) []string {
	var out []string
	add := func(s string) {
		if len(s) >= minScrubbedSecret {
			out = append(out, s)
		}
	}
	add(cfg.AdminToken)
	add(cfg.JWTSecret)
	add(cfg.AdminUIPassword)
	if spec, err := parseStore(cfg.Store); err == nil && spec.kind == storeRedis {
		// As written (percent-encoded) and as sent to Redis.
		if _, rest, ok := strings.Cut(spec.url, "://"); ok {
			if at := strings.LastIndex(rest, "@"); at >= 0 {
				if _, password, ok := strings.Cut(rest[:at], ":"); ok {
					add(password)
				}
			}
		}
		if u, err := url.Parse(spec.url); err == nil && u.User != nil {
			if password, ok := u.User.Password(); ok {
				add(password)
			}
		}
	}
	return out
}

// redactingHandler is the last line of defence: whatever a dependency puts
// in an error (a URL, a command line), no secret reaches the log.
type redactingHandler struct {
	next    slog.Handler
	secrets []string
}

func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(h.attr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	scrubbed := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		scrubbed[i] = h.attr(a)
	}
	return redactingHandler{next: h.next.WithAttrs(scrubbed), secrets: h.secrets}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{next: h.next.WithGroup(name), secrets: h.secrets}
}

func (h redactingHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, h.scrub(v.String()))
	case slog.KindGroup:
		group := v.Group()
		scrubbed := make([]slog.Attr, len(group))
		for i, g := range group {
			scrubbed[i] = h.attr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(scrubbed...)}
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, h.scrub(err.Error()))
		}
	}
	return a
}

func (h redactingHandler) scrub(s string) string {
	for _, secret := range h.secrets {
		if strings.Contains(s, secret) {
			s = strings.ReplaceAll(s, secret, redactedSecret)
		}
	}
	return s
}
