package httpapi

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"chatgateway/rooms"
)

// Route paths, in Echo syntax.
const (
	pathRooms    = "/api/v1/rooms"
	pathRoom     = "/api/v1/rooms/:roomId"
	pathMessages = "/api/v1/rooms/:roomId/messages"
	// pathOpenAPI serves the OpenAPI description of these routes.
	pathOpenAPI = "/api/v1/openapi.json"
)

// Option configures the REST app.
type Option func(*config)

type config struct {
	body          bodyReader
	maxFieldBytes int
	writeLimit    WriteLimiter
	adminToken    string
	corsOrigins   []string
	onRefusal     func(reason string)
}

// Reasons a REST request is refused before it runs, as WithRefusalHook
// reports them.
const (
	RefusalWriteRate   = "rest-write-rate"
	RefusalAdminToken  = "admin-token"
	RefusalCrossOrigin = "cross-origin"
)

// WithRefusalHook has f called (synchronously, keep it cheap) for every
// REST request refused by the write rate limit, the admin token or the
// cross-origin check, with the Refusal* reason.
func WithRefusalHook(f func(reason string)) Option {
	return func(c *config) { c.onRefusal = f }
}

// WriteLimiter decides whether one more REST write (create, close) of the
// request's client goes through now; edge.RequestLimiter is one.
type WriteLimiter interface {
	Allow(r *http.Request) (ok bool, retryAfter time.Duration)
}

// Defaults for a WriteLimiter (REST_WRITE_RATE, REST_WRITE_BURST): a person
// creates a room now and then; a script that provisions rooms gets 100 at
// once, then 20 a second (the benchmark, which creates hundreds within
// seconds, raises them).
const (
	DefaultWriteRate  = 20
	DefaultWriteBurst = 100
)

// WithWriteLimiter refuses REST writes (POST /api/v1/rooms, DELETE
// /api/v1/rooms/:roomId) that l does not allow with 429, a Retry-After in
// whole seconds and a Nest-shaped body. Nil: no limit, as in the original.
func WithWriteLimiter(l WriteLimiter) Option {
	return func(c *config) { c.writeLimit = l }
}

// WithAdminToken makes REST writes require "Authorization: Bearer
// <token>"; others get 401. Empty: no authentication, as in the original.
func WithAdminToken(token string) Option {
	return func(c *config) { c.adminToken = token }
}

// WithMaxBodyBytes sets MaxBodyBytes: the largest request body accepted, in bytes
// after decompression (default DefaultMaxBodyBytes, body-parser's 100kb).
// Larger bodies get 413. Values below 1 keep the default.
func WithMaxBodyBytes(n int64) Option {
	return func(c *config) {
		if n > 0 {
			c.body.limit = n
		}
	}
}

// WithMaxFieldBytes sets MaxFieldBytes: the longest roomId and
// creatorUsername a room may be created with, in bytes of UTF-8, so that
// REST cannot create a room the Socket.IO side refuses to address (give it
// the gateway's MaxFieldBytes). Longer ones get Nest's validation 400.
// Values below 1 mean no cap, as in the original.
func WithMaxFieldBytes(n int) Option {
	return func(c *config) { c.maxFieldBytes = max(n, 0) }
}

// WithParameterLimit sets ParameterLimit: how many pairs a urlencoded body
// may hold (default DefaultParameterLimit). Values below 1 keep the default.
func WithParameterLimit(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.body.parameterLimit = n
		}
	}
}

// api holds the handlers' dependencies.
type api struct {
	svc           *rooms.Service
	logger        *slog.Logger
	body          bodyReader
	maxFieldBytes int
	writeLimit    WriteLimiter
	adminToken    []byte
	cors          *corsPolicy
	crossOrigin   *http.CrossOriginProtection
	onRefusal     func(reason string)
}

func (a *api) refused(reason string) {
	if a.onRefusal != nil {
		a.onRefusal(reason)
	}
}

// New returns an *echo.Echo with the Nest-compatible error handler and 404s
// and the rooms routes registered. See the package comment for mounting
// Socket.IO on it.
func New(svc *rooms.Service, logger *slog.Logger, opts ...Option) *echo.Echo {
	cfg := config{body: bodyReader{limit: DefaultMaxBodyBytes, parameterLimit: DefaultParameterLimit}}
	for _, opt := range opts {
		opt(&cfg)
	}
	if logger == nil {
		logger = slog.Default()
	}
	a := &api{svc: svc, logger: logger, body: cfg.body, maxFieldBytes: cfg.maxFieldBytes, writeLimit: cfg.writeLimit,
		cors: newCORSPolicy(cfg.corsOrigins), onRefusal: cfg.onRefusal}
	if cfg.adminToken != "" {
		a.adminToken = []byte(cfg.adminToken)
	}
	var err error
	if a.crossOrigin, err = newCrossOriginGuard(cfg.corsOrigins); err != nil {
		// CheckCORSOrigins is the caller's way to refuse such a list.
		logger.Warn("httpapi: bad CORS origin ignored; cross-origin writes are refused", "err", err)
		a.crossOrigin, _ = newCrossOriginGuard(nil)
	}

	e := echo.New()
	e.HideBanner = true
	e.HidePort = true
	e.HTTPErrorHandler = a.handleError
	e.Pre(normalizeRoomsPath)

	// Route-level middleware, not a Group: an Echo group with middleware
	// registers a catch-all "/*" route, which is not ours to claim.
	e.POST(pathRooms, a.createRoom, a.corsHeaders, a.recoverPanics, a.refuseCrossSite, a.guardWrite)
	e.GET(pathMessages, a.getMessages, a.corsHeaders, a.recoverPanics)
	e.HEAD(pathMessages, a.getMessages, a.corsHeaders, a.recoverPanics) // Express answers HEAD with the GET route
	e.DELETE(pathRoom, a.closeRoom, a.corsHeaders, a.recoverPanics, a.refuseCrossSite, a.guardWrite)
	// Echo answers OPTIONS on a known path with 204 and Allow; Express had
	// no such route (and no CORS on REST), so it is a plain 404 unless
	// WithCORSOrigins allows the preflight's origin.
	e.GET(pathOpenAPI, serveOpenAPI, a.corsHeaders)
	for _, p := range []string{pathRooms, pathRoom, pathMessages, pathOpenAPI} {
		e.OPTIONS(p, a.preflight)
	}
	return e
}

// recoverPanics turns a panic in a REST handler into Nest's 500 instead of
// a dropped connection. It is installed on the REST routes only, so it never
// wraps a handler mounted later (Socket.IO's hijacks connections).
func (a *api) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("panic in %s %s: %v\n%s", c.Request().Method, c.Path(), r, debug.Stack())
			}
		}()
		return next(c)
	}
}

// guardWrite applies the write rate limit, then ADMIN_TOKEN, before a REST
// write runs. The limit counts every attempt, so it also slows down anyone
// guessing the token.
func (a *api) guardWrite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if a.writeLimit != nil {
			if ok, retry := a.writeLimit.Allow(req); !ok {
				a.refused(RefusalWriteRate)
				seconds := max(int64(math.Ceil(retry.Seconds())), 1)
				c.Response().Header().Set("Retry-After", strconv.FormatInt(seconds, 10))
				return &httpError{http.StatusTooManyRequests, "Too many room creations and closings from this address, retry in " + strconv.FormatInt(seconds, 10) + " s"}
			}
		}
		if a.adminToken != nil && !a.authorized(req) {
			a.refused(RefusalAdminToken)
			c.Response().Header().Set("WWW-Authenticate", `Bearer realm="rooms"`)
			return &httpError{http.StatusUnauthorized, "Unauthorized"}
		}
		return next(c)
	}
}

// authorized compares the bearer token in constant time.
func (a *api) authorized(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), a.adminToken) == 1
}

func (a *api) createRoom(c echo.Context) error {
	body, herr := a.body.read(c.Request())
	if herr != nil {
		return herr
	}
	roomID, creator := body.field("roomId"), body.field("creatorUsername")
	if verr := a.fieldErrors(namedField{"roomId", roomID}, namedField{"creatorUsername", creator}); verr != nil {
		return verr
	}
	err := a.svc.CreateRoom(c.Request().Context(), rooms.CreateRoomInput{RoomID: roomID.text, CreatorUsername: creator.text})
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusCreated)
}

type namedField struct {
	name  string
	field dtoField
}

// fieldErrors reports object/array members and members longer than
// MaxFieldBytes, alongside any empty field, or nil when there is neither
// (empty fields alone are the service's to report).
//
// The original accepted objects (class-validator's IsNotEmpty passes for
// {}) and then keyed a room by an object nobody could ever address again;
// here they fail validation with class-validator's IsString wording. It
// also accepted any length, so a REST client could create a room no socket
// can join (socket fields are capped at MAX_FIELD); the same cap applies
// here, worded as the gateway words it.
func (a *api) fieldErrors(fields ...namedField) error {
	v := &rooms.ValidationError{}
	refused := false
	for _, f := range fields {
		switch {
		case f.field.notString:
			refused = true
			v.Violations = append(v.Violations, rooms.Violation{Field: f.name, Message: f.name + " must be a string"})
		case a.maxFieldBytes > 0 && len(f.field.text) > a.maxFieldBytes:
			refused = true
			v.Violations = append(v.Violations, rooms.Violation{Field: f.name, Message: fmt.Sprintf("%s must be shorter than or equal to %d bytes", f.name, a.maxFieldBytes)})
		case f.field.text == "":
			v.Violations = append(v.Violations, rooms.Violation{Field: f.name, Message: f.name + " should not be empty"})
		}
	}
	if !refused {
		return nil
	}
	return v
}

func (a *api) getMessages(c echo.Context) error {
	if _, herr := a.body.read(c.Request()); herr != nil {
		return herr
	}
	roomID, err := roomIDParam(c)
	if err != nil {
		return err
	}
	rawQuery := c.Request().URL.RawQuery
	from, ok := indexParam(rawQuery, "fromIndex")
	if !ok {
		return badRequest("Validation failed (numeric string is expected)")
	}
	to, ok := indexParam(rawQuery, "toIndex")
	if !ok {
		return badRequest("Validation failed (numeric string is expected)")
	}
	fromArg, toArg := indexArgs(from, to)
	err = a.svc.ReadMessages(c.Request().Context(), roomID, fromArg, toArg, func(r rooms.MessageRange) error {
		return sendHistory(c, r)
	})
	if errors.Is(err, rooms.ErrRoomNotFound) {
		// The original answered a history read of an unknown room, or of
		// one closed while it was read, 403 Forbidden.
		err = rooms.Forbidden()
	}
	if err != nil && c.Response().Committed {
		// Too late for an error answer: the connection ends short of
		// its Content-Length instead.
		level := slog.LevelDebug // the client went away, most likely
		if errors.Is(err, errHistoryChanged) {
			level = slog.LevelWarn
		}
		a.logger.Log(c.Request().Context(), level, "history response cut short", "room", roomID, "err", err)
	}
	return err
}

func indexParam(rawQuery, name string) (float64, bool) {
	v, ok := singleQueryValue(rawQuery, name)
	if !ok {
		return 0, false
	}
	return parseIndexParam(v)
}

func (a *api) closeRoom(c echo.Context) error {
	if _, herr := a.body.read(c.Request()); herr != nil {
		return herr
	}
	roomID, err := roomIDParam(c)
	if err != nil {
		return err
	}
	if err := a.svc.CloseRoom(c.Request().Context(), roomID); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// roomIDParam decodes :roomId like Express's decode_param.
func roomIDParam(c echo.Context) (string, error) {
	raw := c.Param("roomId")
	id, ok := decodeURIComponent(raw)
	if !ok {
		// Express 4 raises this as a 400 URIError, which Nest 7 turned into
		// a 500; a malformed escape is the client's mistake, so 400 it is.
		return "", badRequest("Failed to decode param '" + raw + "'")
	}
	return id, nil
}

// errNotFound marks "no such route" for the error handler.
var errNotFound = errors.New("route not found")

// handleError renders every failure in the shape the original used.
func (a *api) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	req := c.Request()
	status, body := a.renderError(err, c)
	if status == http.StatusNotFound && isRouteNotFound(err) {
		// body-parser ran before routing in Express, so a bad body wins.
		if _, herr := a.body.read(req); herr != nil {
			status, body = herr.status, nestErrorJSON(herr.status, herr.message)
		}
	}
	if werr := sendJSON(c, status, body); werr != nil {
		a.logger.Debug("write error response", "err", werr)
	}
}

func isRouteNotFound(err error) bool {
	var he *echo.HTTPError
	return errors.Is(err, errNotFound) ||
		(errors.As(err, &he) && (he.Code == http.StatusNotFound || he.Code == http.StatusMethodNotAllowed))
}

func (a *api) renderError(err error, c echo.Context) (int, []byte) {
	req := c.Request()
	if isRouteNotFound(err) {
		// Nest's fallback: "Cannot <METHOD> <url as requested>".
		return http.StatusNotFound, nestErrorJSON(http.StatusNotFound, "Cannot "+req.Method+" "+req.RequestURI)
	}

	var herr *httpError
	if errors.As(err, &herr) {
		return herr.status, nestErrorJSON(herr.status, herr.message)
	}

	var verr *rooms.ValidationError
	if errors.As(err, &verr) {
		return http.StatusBadRequest, nestValidationJSON(verr.Messages())
	}

	var derr *rooms.Error
	if errors.As(err, &derr) {
		switch derr.Code {
		case rooms.CodeRoomConflict:
			return http.StatusConflict, codeMessageJSON(derr.Code, derr.Message)
		case rooms.CodeRoomNotFound:
			return http.StatusNotFound, codeMessageJSON(derr.Code, derr.Message)
		case rooms.CodeAccessForbidden:
			return http.StatusForbidden, codeMessageJSON(derr.Code, derr.Message)
		case rooms.CodeValidation:
			return http.StatusBadRequest, codeMessageJSON(derr.Code, derr.Message)
		case rooms.CodeUnavailable:
			a.logger.Warn("store unavailable", "method", req.Method, "path", req.URL.Path, "err", err)
			msg := derr.Message
			if msg == "" {
				msg = http.StatusText(http.StatusServiceUnavailable)
			}
			return http.StatusServiceUnavailable, nestErrorJSON(http.StatusServiceUnavailable, msg)
		}
	}

	var echoErr *echo.HTTPError
	if errors.As(err, &echoErr) && echoErr.Code >= 400 && echoErr.Code < 500 {
		// Raised by Echo itself or a middleware someone added.
		msg, ok := echoErr.Message.(string)
		if !ok || msg == "" {
			msg = http.StatusText(echoErr.Code)
		}
		return echoErr.Code, nestErrorJSON(echoErr.Code, msg)
	}

	a.logger.Error("unexpected error", "method", req.Method, "path", req.URL.Path, "err", err)
	return http.StatusInternalServerError, internalErrorJSON
}

// normalizeRoomsPath gives Express's route matching to the rooms routes:
// case-insensitive, one optional trailing slash, matched on the raw
// (still percent-encoded) path so that "%2F" inside a room id is not a
// separator. Other paths, /socket.io/ among them, are left alone.
func normalizeRoomsPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		if canonical, ok := canonicalRoomsPath(u.EscapedPath()); ok {
			u.RawPath = canonical
			// Path is unused by the router once RawPath is set, but keep
			// the pair consistent for anyone reading it later.
			if p, err := url.PathUnescape(canonical); err == nil {
				u.Path = p
			}
		}
		return next(c)
	}
}

// canonicalRoomsPath maps a raw path that Express would route to one of the
// rooms routes onto the exact Echo route path, keeping the raw room id.
func canonicalRoomsPath(raw string) (string, bool) {
	const prefix = "/api/v1/rooms"
	if len(raw) < len(prefix) || !strings.EqualFold(raw[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSuffix(raw[len(prefix):], "/")
	if rest == "" {
		return prefix, true
	}
	if rest[0] != '/' {
		return "", false
	}
	segments := strings.Split(rest[1:], "/")
	switch {
	case len(segments) == 1 && segments[0] != "":
		return prefix + "/" + segments[0], true
	case len(segments) == 2 && segments[0] != "" && strings.EqualFold(segments[1], "messages"):
		return prefix + "/" + segments[0] + "/messages", true
	}
	return "", false
}
