package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"golang.org/x/time/rate"

	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
)

// Identity selects whether a socket may speak for anyone.
type Identity string

const (
	// IdentityBound: a socket posts only into rooms it joined (or got back
	// by a restore), only as the username it joined with, and direct
	// messages come from that name. The original frontend does exactly
	// that, so it is unaffected.
	IdentityBound Identity = "bound"
	// IdentityOpen keeps the original's behaviour: any socket posts
	// anywhere under any name.
	IdentityOpen Identity = "open"
)

// Codes of the gateway's own refusals. They are sent as an ack error, or
// in the code field of an "exception" event (which the original's
// exceptions never had, so a client can tell them apart).
const (
	CodeRateLimited      = "rate-limited"
	CodeIdentityMismatch = "identity.mismatch"
	CodeNotJoined        = "room.not-joined"
	CodeTooManyRooms     = "rooms.too-many"
	CodeUnauthorized     = "unauthorized"
)

// Authenticator turns the token a client presents into the username it may
// use (see gateway/jwtauth). With one configured, every socket must present
// a valid token, and joins under another name are refused.
type Authenticator interface {
	Authenticate(token string) (username string, err error)
}

func refusal(code, format string, args ...any) *rooms.Error {
	return &rooms.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// isRefusal reports whether err is one of the refusals the original never
// made: the gateway's own, and a full room (rooms.CodeRoomFull).
func isRefusal(err error) bool {
	var e *rooms.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code {
	case CodeRateLimited, CodeIdentityMismatch, CodeNotJoined, CodeTooManyRooms, CodeUnauthorized, rooms.CodeRoomFull:
		return true
	}
	return false
}

// newEventLimiter is a socket's token bucket, or nil when events are not
// limited.
func newEventLimiter(perSecond float64, burst int) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), burst)
}

// admit charges one event to the socket's budget.
func (g *Gateway) admit(s *socketState) error {
	if s == nil || s.events == nil || s.events.Allow() {
		return nil
	}
	return refusal(CodeRateLimited, "Too many events: at most %g per second (burst %d); this one was not processed", g.cfg.EventRate, g.cfg.EventBurst)
}

// speaker checks that the socket may post into roomID as username (empty:
// the name it joined with) and returns the name to post under. In open
// identity it returns username, or the socket's name for an empty one. A
// socket that is not in a room that does not exist (never created, or
// closed since it joined) is told so, as the original would have.
func (g *Gateway) speaker(ctx context.Context, c socketio.Conn, roomID, username string) (string, error) {
	if !g.bound() {
		if username == "" {
			username = g.members.username(c.ID(), roomID)
		}
		return username, nil
	}
	s := socketOf(c)
	var joined string
	if s != nil {
		joined = g.members.joinedAs(s, roomID)
		if joined == "" {
			// A 2.x client waiting for its previous session to end (its
			// connection died unnoticed, its node is not reaped yet) still
			// believes it is in that session's rooms: it speaks there under
			// that session's name, which its cookie proves as much as a
			// granted restore would.
			joined = g.claims.claimedName(s, roomID)
		}
	}
	if joined == "" {
		if _, err := g.svc.LastOrder(ctx, roomID); errors.Is(err, rooms.ErrRoomNotFound) {
			return "", err
		}
		return "", refusal(CodeNotJoined, "This socket has not joined room '%s'", roomID)
	}
	if username != "" && username != joined {
		return "", refusal(CodeIdentityMismatch, "This socket joined room '%s' as '%s', not '%s'", roomID, joined, username)
	}
	return joined, nil
}

func (g *Gateway) bound() bool {
	return g.cfg.Identity == IdentityBound || g.cfg.Auth != nil
}

// authenticate checks a connecting socket's token: the v5 auth payload's
// "token", else the "token" query parameter (socket.io-client 2.x has no
// auth payload). It returns the username the token grants.
func (g *Gateway) authenticate(c socketio.Conn) (string, error) {
	h := c.Handshake()
	token := ""
	if len(h.Auth) > 0 {
		var auth struct {
			Token string `json:"token"`
		}
		if json.Unmarshal(h.Auth, &auth) == nil {
			token = auth.Token
		}
	}
	if token == "" {
		token = url.Values(h.Query).Get("token")
	}
	if token == "" {
		return "", refusal(CodeUnauthorized, "A token is required")
	}
	user, err := g.cfg.Auth.Authenticate(token)
	if err != nil || user == "" {
		g.log.Debug("gateway: token refused", "socket", c.ID(), "remote", c.RemoteAddr(), "err", err)
		return "", refusal(CodeUnauthorized, "The token is not valid")
	}
	return user, nil
}

// roomIdleAfter is how long a room with no local member keeps its delivery
// state after its last delivery; then the sweep frees it (the next post or
// join reads its position from the store again).
const roomIdleAfter = time.Minute
