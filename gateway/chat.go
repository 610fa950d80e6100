package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
)

// Namespace is the Socket.IO namespace the chat lives in.
const Namespace = "/"

// Wire texts and codes of the gateway's own errors.
const (
	exceptionEvent         = "exception"
	codeUnsupportedType    = "messages.unsupported-type"
	codeUnknownRecipient   = "messages.unknown-recipient"
	internalErrorMessage   = "Internal server error"
	messageTypeGroup       = "group"
	messageTypeDirect      = "direct"
	exceptionStatusMessage = "error"
)

// Exception is the payload of the "exception" event, Nest's WsException
// shape. Code is set only on the gateway's own refusals (rate limits,
// identity), which the original did not have.
type Exception struct {
	Status  string `json:"status"`
	Message string `json:"message"`
	Code    string `json:"code,omitempty"`
}

// AckError is what "chat" and "messages" acknowledge on failure.
type AckError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Inbound payloads. Fields beyond these (the original frontend sends
// socketId, avatar, order...) are ignored, as the original stripped them.
type participantsPayload struct {
	// RoomID is not required here: like the original, an empty room id is an
	// unknown room (forbidden, then disconnect), which the service decides.
	RoomID   string `json:"roomId" validate:"fieldbytes"`
	Username string `json:"username" validate:"required,fieldbytes"`
	Avatar   string `json:"avatar" validate:"fieldbytes"`
}

type exchangesPayload struct {
	RoomID    string `json:"roomId" validate:"required,fieldbytes"`
	Username  string `json:"username" validate:"required,fieldbytes"`
	Content   string `json:"content" validate:"required,contentbytes"`
	CreatedAt string `json:"createdAt" validate:"fieldbytes"`
}

type chatPayload struct {
	RoomID   string `json:"roomId" validate:"required,fieldbytes"`
	Content  string `json:"content" validate:"required,contentbytes"`
	Username string `json:"username" validate:"fieldbytes"`
}

type messagesHeader struct {
	Type string `json:"type" validate:"required,fieldbytes"`
}

type directPayload struct {
	RoomID   string `json:"roomId" validate:"required,fieldbytes"`
	To       string `json:"to" validate:"required,fieldbytes"`
	Content  string `json:"content" validate:"required,contentbytes"`
	Username string `json:"username" validate:"fieldbytes"`
}

// messageHandler serves one type of the "messages" event; its result is the
// acknowledgement.
type messageHandler func(ctx context.Context, c socketio.Conn, raw json.RawMessage) any

// Gateway is the chat gateway: Socket.IO handlers on top of a registry that
// owns membership and a hub that owns delivery.
type Gateway struct {
	svc          *rooms.Service
	cfg          Config
	log          *slog.Logger
	now          func() time.Time // session times; a fake clock in tests
	members      *registry
	hub          *hub
	claims       *claimBook
	validate     *payloadValidator
	messageTypes map[string]messageHandler
	unsubscribe  func()
	cookieName   string // Engine.IO session cookie, read at Register

	stopBackground func()
	backgroundDone sync.WaitGroup

	stats gatewayCounters
}

// New builds a gateway on svc and subscribes it to the broker; ctx bounds
// the subscription (a Redis broker waits until Redis confirms it). It fails
// on an invalid cfg (an unknown Delivery, NodeTTL not above
// HeartbeatInterval) or when the broker cannot subscribe. With cfg.Nodes set
// it starts beating for this node at once; Shutdown stops it.
func New(ctx context.Context, svc *rooms.Service, cfg Config, logger *slog.Logger) (*Gateway, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkRetention(svc.ParticipantLimits().Retention, cfg); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	members := newRegistry()
	g := &Gateway{
		svc:      svc,
		cfg:      cfg,
		log:      logger,
		now:      time.Now,
		members:  members,
		validate: newPayloadValidator(cfg.MaxFieldBytes, svc.MaxContentBytes()),
		hub: newHub(hubConfig{
			delivery:         cfg.Delivery,
			reorderTimeout:   cfg.ReorderTimeout,
			reorderLimit:     cfg.ReorderLimit,
			storeTimeout:     cfg.StoreTimeout,
			listBroadcastMax: cfg.ListBroadcastMax,
			listInterval:     cfg.ListInterval,
			offsets:          cfg.recovery(),
		}, svc, members, logger),
	}
	g.claims = &claimBook{bySocket: make(map[*socketState]*pendingClaim), byKey: make(map[string][]*pendingClaim), retry: g.retryClaim}
	// One line per type of the "messages" event.
	g.messageTypes = map[string]messageHandler{
		messageTypeGroup:  g.groupMessage,
		messageTypeDirect: g.directMessage,
	}
	g.unsubscribe, err = cfg.Broker.Subscribe(ctx, brokerSubscriber{g})
	if err != nil {
		_ = g.hub.shutdown(context.Background())
		return nil, fmt.Errorf("gateway: broker subscription: %w", err)
	}
	svc.OnRoomClosed(g.roomClosed)
	bg, cancel := context.WithCancel(context.Background())
	g.stopBackground = cancel
	if cfg.Nodes != nil {
		g.backgroundDone.Go(func() { g.runLiveness(bg) })
	}
	if cfg.Delivery == DeliveryRoom {
		g.backgroundDone.Go(func() { g.pruneSessions(bg) })
	}
	g.backgroundDone.Go(func() { g.freeIdleRooms(bg) })
	return g, nil
}

// brokerSubscriber routes envelopes: take-overs concern sockets (the
// gateway's), everything else delivery (the hub's).
type brokerSubscriber struct{ g *Gateway }

func (b brokerSubscriber) Deliver(roomID string, env Envelope) {
	b.g.stats.received.Add(1)
	if env.Kind == KindTakeover {
		b.g.onTakeover(env)
		return
	}
	b.g.hub.Deliver(roomID, env)
}

func (b brokerSubscriber) Resync() {
	b.g.stats.resyncs.Add(1)
	b.g.hub.Resync()
}

// Observe makes o hear of every membership that begins or ends on this
// node. Call it before serving.
func (g *Gateway) Observe(o MembershipObserver) { g.members.watch = o }

func (b brokerSubscriber) ResyncRoom(roomID string) { b.g.hub.ResyncRoom(roomID) }

// NodeID is the name of this node in participant entries and the registry.
func (g *Gateway) NodeID() string { return g.cfg.NodeID }

// Register installs the handlers on srv's root namespace. Call it before
// serving.
func (g *Gateway) Register(srv *socketio.Server) {
	g.cookieName = srv.Engine().Config().Cookie
	g.hub.setEncoder(func(event, offset string, arg any) (*socketio.Broadcast, error) {
		if offset != "" {
			return srv.NewOffsetBroadcast(Namespace, event, offset, arg)
		}
		return srv.NewBroadcast(Namespace, event, arg)
	})
	srv.OnConnect(Namespace, g.onConnect)
	srv.OnDisconnect(Namespace, g.onDisconnect)
	if g.cfg.recovery() {
		srv.OnRecover(Namespace, g.onRecover)
	}
	srv.OnEvent(Namespace, "participants", g.onParticipants)
	srv.OnEvent(Namespace, "exchanges", g.onExchanges)
	srv.OnEvent(Namespace, "chat", g.onChat)
	srv.OnEvent(Namespace, "messages", g.onMessages)
}

// Shutdown stops delivery: later envelopes are dropped and the deliveries in
// flight are awaited until ctx ends. Shut the Socket.IO server down first so
// sockets get their close packets and their sessions are recorded.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.unsubscribe()
	g.stopBackground()
	g.backgroundDone.Wait()
	for _, c := range g.claims.all() {
		g.claims.remove(c.claimant)
	}
	if g.cfg.Nodes != nil {
		// Sockets were closed first, so this node's participants are
		// already disconnected; leaving the registry spares the others a
		// pointless reap.
		if err := g.cfg.Nodes.RemoveNode(ctx, g.cfg.NodeID); err != nil {
			g.log.Warn("gateway: cannot leave the node registry", "node", g.cfg.NodeID, "err", err)
		}
	}
	return g.hub.shutdown(ctx)
}

func (g *Gateway) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(g.hub.ctx, g.cfg.StoreTimeout)
}

func (g *Gateway) onConnect(c socketio.Conn) error {
	s := &socketState{conn: c, id: c.ID(), events: newEventLimiter(g.cfg.EventRate, g.cfg.EventBurst)}
	if g.cfg.Auth != nil {
		user, err := g.authenticate(c)
		if err != nil {
			g.stats.countRefusal(err)
			return err
		}
		s.authUser = user
	}
	if g.cfg.Delivery == DeliveryRoom {
		switch {
		case c.PID() != "":
			s.sessionKey, s.recoverable = pidSessionPrefix+c.PID(), true
		case c.Handshake().Protocol == 3 && g.cfg.RejoinGrace >= 0:
			s.sessionKey = eioSessionPrefix + c.SessionID()
		}
	}
	c.SetContext(s)
	g.members.add(s)
	g.log.Debug("gateway: socket connected", "socket", s.id, "remote", c.RemoteAddr(), "eio", c.Handshake().Protocol)
	if state, ok := c.Recovered(); ok {
		if plan, ok := state.(*restorePlan); ok {
			g.restore(s, plan)
		}
		return nil
	}
	if !strings.HasPrefix(s.sessionKey, eioSessionPrefix) {
		return nil
	}
	if claimed := cookieValue(c.Handshake().Header, g.cookieName); g.cookieName != "" && claimed != "" && claimed != c.SessionID() {
		g.claim(s, claimed)
	} else if g.cfg.Nodes != nil {
		// Across nodes, another node can only tell this session is live
		// (should a second tab present its cookie) from the store.
		ctx, cancel := g.opContext()
		defer cancel()
		if err := g.cfg.Sessions.OpenSession(ctx, s.sessionKey, s.id, g.cfg.NodeID); err != nil {
			g.log.Warn("gateway: cannot record a session", "socket", s.id, "err", err)
		}
	}
	return nil
}

// socketOf is the gateway's state of a connected socket.
func socketOf(c socketio.Conn) *socketState {
	s, _ := c.Context().(*socketState)
	return s
}

func cookieValue(h http.Header, name string) string {
	if name == "" {
		return ""
	}
	ck, err := (&http.Request{Header: h}).Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

// onDisconnect marks the socket's participant entries disconnected and
// re-broadcasts those lists, and records the session's end. Rooms closed
// (even re-created) since the join have no entry for it any more and are
// skipped: the original crashed there.
func (g *Gateway) onDisconnect(c socketio.Conn, reason string) {
	g.log.Debug("gateway: socket disconnected", "socket", c.ID(), "reason", reason)
	s := socketOf(c)
	if s == nil {
		return
	}
	memberships := g.members.remove(s)
	g.dropClaim(s, false)
	slices.SortFunc(memberships, func(a, b *membership) int { return strings.Compare(a.roomID, b.roomID) })
	for _, mb := range memberships {
		g.log.Debug("gateway: socket left a room", "socket", s.id, "room", mb.roomID, "username", mb.username)
		g.leave(mb.roomID, s.id)
		mb.release()
	}
	g.depart(s, memberships, reason)
}

func (g *Gateway) leave(roomID, socketID string) {
	ctx, cancel := g.opContext()
	defer cancel()
	changed, err := g.svc.Leave(ctx, roomID, socketID, g.cfg.NodeID)
	if err != nil {
		g.log.Warn("gateway: cannot mark participant disconnected", "room", roomID, "socket", socketID, "err", err)
		return
	}
	if changed {
		_ = g.publish(ctx, roomID, Envelope{Kind: KindParticipants})
	}
}

// onParticipants joins the socket to a room and broadcasts the room's
// participant list. A refusal answers "exception" and disconnects the
// socket (the original disconnected without a word); an unavailable store
// or a full room answer "exception" (the latter with its code) and keep
// the socket, so the client can retry.
func (g *Gateway) onParticipants(c socketio.Conn, raw json.RawMessage) {
	s := socketOf(c)
	if err := g.admit(s); err != nil {
		_ = c.Emit(exceptionEvent, g.exception(err))
		return
	}
	var in participantsPayload
	if err := g.validate.decode(raw, &in); err != nil {
		g.refuse(c, g.errorText(err))
		return
	}
	if s != nil && s.authUser != "" && in.Username != s.authUser {
		_ = c.Emit(exceptionEvent, g.exception(refusal(CodeIdentityMismatch, "This socket's token is for '%s', not '%s'", s.authUser, in.Username)))
		return
	}
	if s != nil && g.members.joinedAs(s, in.RoomID) == "" && g.members.roomCount(s) >= g.cfg.MaxRoomsPerSocket {
		_ = c.Emit(exceptionEvent, g.exception(refusal(CodeTooManyRooms, "This socket is in %d rooms already, the most it may join", g.cfg.MaxRoomsPerSocket)))
		return
	}
	ctx, cancel := g.opContext()
	defer cancel()
	err := g.svc.Join(ctx, rooms.Participant{RoomID: in.RoomID, Username: in.Username, Avatar: in.Avatar, SocketID: c.ID(), NodeID: g.cfg.NodeID})
	if errors.Is(err, rooms.ErrUnavailable) || errors.Is(err, rooms.ErrRoomFull) {
		// Not the client's fault: it may retry on the same socket, and a
		// full room frees up as its participants leave.
		_ = c.Emit(exceptionEvent, g.exception(err))
		return
	}
	if errors.Is(err, rooms.ErrRoomNotFound) {
		// The original's answer to a join to a missing room.
		err = rooms.Forbidden()
	}
	if err != nil {
		g.refuse(c, g.errorText(err))
		return
	}
	mb := &membership{roomID: in.RoomID, username: in.Username, avatar: in.Avatar}
	g.watchRoom(ctx, mb)
	rm, err := g.hub.prepare(ctx, in.RoomID)
	if err != nil {
		g.log.Warn("gateway: cannot prepare room delivery", "room", in.RoomID, "err", err)
	}
	if rm != nil {
		mb.since = rm.delivered.Load()
	}
	if s == nil || !g.members.join(s, mb) {
		mb.release()
		g.leave(in.RoomID, c.ID()) // the socket went away meanwhile
		return
	}
	g.log.Debug("gateway: socket joined a room", "socket", s.id, "room", in.RoomID, "username", in.Username)
	// A reconnecting original frontend never joins by itself: a joining
	// socket waiting for a live session's end is another page.
	g.dropClaim(s, true)
	if s.sessionKey != "" {
		g.recordRoom(ctx, s, rooms.SessionRoom{RoomID: in.RoomID, Username: in.Username, Avatar: in.Avatar, Since: mb.since})
	}
	_ = g.publish(ctx, in.RoomID, Envelope{Kind: KindParticipants, Sender: c.ID()})
}

func (g *Gateway) refuse(c socketio.Conn, message string) {
	g.log.Debug("gateway: join refused; disconnecting the socket", "socket", c.ID(), "reason", message)
	_ = c.Emit(exceptionEvent, Exception{Status: exceptionStatusMessage, Message: message})
	_ = c.Close()
}

// onExchanges is the original's message event: stored, then broadcast as
// event <roomId>. Failures go to the sender alone as "exception". It has no
// results, so it acknowledges nothing, like the original.
func (g *Gateway) onExchanges(c socketio.Conn, raw json.RawMessage) {
	if err := g.exchange(c, raw); err != nil {
		_ = c.Emit(exceptionEvent, g.exception(err))
	}
}

func (g *Gateway) exchange(c socketio.Conn, raw json.RawMessage) error {
	if err := g.admit(socketOf(c)); err != nil {
		return err
	}
	var in exchangesPayload
	if err := g.validate.decode(raw, &in); err != nil {
		return err
	}
	ctx, cancel := g.opContext()
	defer cancel()
	username, err := g.speaker(ctx, c, in.RoomID, in.Username)
	if err != nil {
		return err
	}
	_, err = g.post(ctx, in.RoomID, rooms.NewMessage{Username: username, Content: in.Content, CreatedAt: in.CreatedAt})
	return err
}

// onChat is exchanges with an acknowledgement: the stored message, or an
// AckError. The username defaults to the one the socket joined with.
func (g *Gateway) onChat(c socketio.Conn, raw json.RawMessage) any {
	if err := g.admit(socketOf(c)); err != nil {
		return g.ackError(err)
	}
	ctx, cancel := g.opContext()
	defer cancel()
	return g.groupMessage(ctx, c, raw)
}

func (g *Gateway) groupMessage(ctx context.Context, c socketio.Conn, raw json.RawMessage) any {
	var in chatPayload
	if err := g.validate.decode(raw, &in); err != nil {
		return g.ackError(err)
	}
	username, err := g.speaker(ctx, c, in.RoomID, in.Username)
	if err != nil {
		return g.ackError(err)
	}
	msg, err := g.post(ctx, in.RoomID, rooms.NewMessage{Username: username, Content: in.Content})
	if err != nil {
		return g.ackError(err)
	}
	return msg
}

// onMessages dispatches on payload.type, like Nest's
// @SubscribeMessage({channel: 'messages', type: ...}).
func (g *Gateway) onMessages(c socketio.Conn, raw json.RawMessage) any {
	if err := g.admit(socketOf(c)); err != nil {
		return g.ackError(err)
	}
	var head messagesHeader
	if err := g.validate.decode(raw, &head); err != nil {
		return g.ackError(err)
	}
	handle := g.messageTypes[head.Type]
	if handle == nil {
		return AckError{Code: codeUnsupportedType, Message: fmt.Sprintf("Unsupported message type '%s'", head.Type)}
	}
	ctx, cancel := g.opContext()
	defer cancel()
	return handle(ctx, c, raw)
}

// directMessage goes only to the sockets of participant "to" in the room and
// back to the sender; it is not stored.
func (g *Gateway) directMessage(ctx context.Context, c socketio.Conn, raw json.RawMessage) any {
	var in directPayload
	if err := g.validate.decode(raw, &in); err != nil {
		return g.ackError(err)
	}
	from, err := g.speaker(ctx, c, in.RoomID, in.Username)
	if err != nil {
		return g.ackError(err)
	}
	if from == "" {
		return g.ackError(invalid("username", "username should not be empty"))
	}
	list, err := g.svc.Participants(ctx, in.RoomID)
	if err != nil {
		return g.ackError(err)
	}
	known := false
	for _, p := range list {
		if p.Username == in.To {
			known = true
			break
		}
	}
	if !known {
		return AckError{Code: codeUnknownRecipient, Message: fmt.Sprintf("No participant '%s' in room '%s'", in.To, in.RoomID)}
	}
	dm := DirectMessage{
		Type:      messageTypeDirect,
		RoomID:    in.RoomID,
		From:      from,
		To:        in.To,
		Content:   in.Content,
		CreatedAt: rooms.JSTime(g.now()),
	}
	if err := g.publish(ctx, in.RoomID, Envelope{Kind: KindDirect, Direct: &dm, Sender: c.ID()}); err != nil {
		return g.ackError(err)
	}
	return dm
}

// post stores a message and publishes it. The room's sequencer is prepared
// first, so the order the store assigns is one it will release.
func (g *Gateway) post(ctx context.Context, roomID string, m rooms.NewMessage) (rooms.Message, error) {
	if _, err := g.hub.prepare(ctx, roomID); err != nil {
		return rooms.Message{}, err
	}
	msg, err := g.svc.Post(ctx, roomID, m)
	if err != nil {
		return rooms.Message{}, err
	}
	// Stored: publish even if the caller's context ends now.
	pubCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.StoreTimeout)
	defer cancel()
	if err := g.publish(pubCtx, roomID, Envelope{Kind: KindMessage, Message: &msg}); err != nil {
		// Members still get it: the next message's gap is filled from the store.
		g.log.Error("gateway: stored message not published", "room", roomID, "order", msg.Order, "err", err)
	}
	return msg, nil
}

func (g *Gateway) publish(ctx context.Context, roomID string, env Envelope) error {
	g.stats.published.Add(1)
	err := g.cfg.Broker.Publish(ctx, roomID, env)
	if err != nil {
		g.stats.publishErrors.Add(1)
	}
	return err
}

// roomClosed is the rooms service hook for a room closed over REST.
func (g *Gateway) roomClosed(ctx context.Context, roomID string) {
	if err := g.publish(ctx, roomID, Envelope{Kind: KindClosed}); err != nil {
		g.log.Error("gateway: room closure not published", "room", roomID, "err", err)
	}
}

// exception is the "exception" event for err; the gateway's own refusals
// carry their code.
func (g *Gateway) exception(err error) Exception {
	e := Exception{Status: exceptionStatusMessage, Message: g.errorText(err)}
	if isRefusal(err) {
		e.Code = rooms.ErrorCode(err)
		g.refused(err)
	}
	return e
}

// errorText is the human message of err for an "exception" event. Errors
// that are not the domain's are logged and hidden behind Nest's generic text.
func (g *Gateway) errorText(err error) string {
	var domainErr *rooms.Error
	var validationErr *rooms.ValidationError
	switch {
	case errors.As(err, &validationErr):
		return strings.Join(validationErr.Messages(), "; ")
	case errors.As(err, &domainErr):
		return domainErr.Message
	default:
		g.log.Error("gateway: internal error", "err", err)
		return internalErrorMessage
	}
}

func (g *Gateway) ackError(err error) AckError {
	if isRefusal(err) {
		g.refused(err)
	}
	var validationErr *rooms.ValidationError
	if errors.As(err, &validationErr) {
		return AckError{Code: rooms.CodeValidation, Message: g.errorText(err)}
	}
	var domainErr *rooms.Error
	if errors.As(err, &domainErr) {
		return AckError{Code: domainErr.Code, Message: domainErr.Message}
	}
	return AckError{Code: rooms.CodeInternal, Message: g.errorText(err)}
}

// refused counts and logs one of the gateway's own refusals.
func (g *Gateway) refused(err error) {
	g.stats.countRefusal(err)
	g.log.Debug("gateway: event refused", "code", rooms.ErrorCode(err), "err", err)
}
