package admin

import (
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"time"

	"chatgateway/gateway"
	"chatgateway/gateway/socketio"
)

// observer feeds the admin from the Socket.IO server (socketio.Observer)
// and the chat gateway (gateway.MembershipObserver), keeping those
// methods off Admin's API.
type observer struct{ a *Admin }

var (
	_ socketio.Observer          = observer{}
	_ gateway.MembershipObserver = observer{}
)

func (o observer) SessionOpened(sessionID, transport string) {
	a := o.a
	a.mu.Lock()
	defer a.mu.Unlock()
	a.clients[sessionID] = &clientEntry{transport: transport, sockets: make(map[socketKey]bool, 1)}
	a.connections++
}

func (o observer) SessionUpgraded(sessionID string) {
	a := o.a
	a.mu.Lock()
	defer a.mu.Unlock()
	cl := a.clients[sessionID]
	if cl == nil {
		return
	}
	cl.transport = "websocket"
	if a.feedsDashboards() {
		for key := range cl.sockets {
			a.broadcastLocked("socket_updated", map[string]string{"id": key.id, "nsp": key.nsp, "transport": cl.transport})
		}
	}
}

func (o observer) SessionClosed(sessionID, reason string) {
	a := o.a
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.clients, sessionID)
	a.departures[reason]++
}

func (o observer) MessageReceived(_ string, size int) {
	o.a.packetsIn.Add(1)
	o.a.bytesIn.Add(int64(size))
}

func (o observer) SocketConnected(c socketio.Conn) {
	a := o.a
	key := socketKey{nsp: c.Namespace(), id: c.ID()}
	e := &socketEntry{conn: c, clientID: clientID(c.SessionID()), issued: c.Handshake().Time, rooms: map[string]string{}}
	a.mu.Lock()
	defer a.mu.Unlock()
	if key.nsp == gateway.Namespace {
		if joined, ok := a.pending[key.id]; ok {
			e.rooms = joined
			delete(a.pending, key.id)
		}
	}
	a.sockets[key] = e
	if cl := a.clients[c.SessionID()]; cl != nil {
		cl.sockets[key] = true
	}
	if a.feedsDashboards() {
		a.broadcastLocked("socket_connected", a.serializeLocked(key, e), now())
	}
	if key.nsp == a.ns && a.admins[key.id] == c {
		// A new dashboard gets the figures at once, not up to 2 s later.
		_ = c.Emit("server_stats", a.statsLocked(time.Now(), false))
	}
}

func (o observer) SocketDisconnected(c socketio.Conn, reason string) {
	a := o.a
	key := socketKey{nsp: c.Namespace(), id: c.ID()}
	a.mu.Lock()
	defer a.mu.Unlock()
	if key.nsp == a.ns && a.admins[key.id] == c {
		delete(a.admins, key.id)
		a.hasAdmins.Store(len(a.admins) > 0)
	}
	e := a.sockets[key]
	if e == nil || e.conn != c {
		return
	}
	delete(a.sockets, key)
	if cl := a.clients[c.SessionID()]; cl != nil {
		delete(cl.sockets, key)
	}
	if a.feedsDashboards() {
		ts := now()
		a.broadcastLocked("socket_disconnected", key.nsp, key.id, reason, ts)
		// As socket.io's adapter does when a socket leaves: every room,
		// its private one included.
		for _, room := range socketRooms(key.id, e) {
			a.broadcastLocked("room_left", key.nsp, room, key.id, ts)
		}
	}
}

func (o observer) EventReceived(c socketio.Conn, event string, args []json.RawMessage) {
	if !o.a.feedsEventsOf(c) {
		return
	}
	all := make([]any, 0, 1+len(args))
	all = append(all, event)
	for _, arg := range args {
		all = append(all, arg)
	}
	o.a.feedEvent("event_received", c, all)
}

func (o observer) EventSent(c socketio.Conn, event string, args []any) {
	if !o.a.feedsEventsOf(c) {
		return
	}
	o.a.feedEvent("event_sent", c, append([]any{event}, args...))
}

// feedsEventsOf reports whether c's events go to dashboards: in
// development mode, while one is connected, and never the admin
// namespace's (what dashboards are sent is not news, and reporting it
// would report the report).
func (a *Admin) feedsEventsOf(c socketio.Conn) bool {
	return a.feedsDashboards() && c.Namespace() != a.ns
}

// feedEvent sends kind (nsp, socket id, [event, args...], time).
func (a *Admin) feedEvent(kind string, c socketio.Conn, eventAndArgs []any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.broadcastLocked(kind, c.Namespace(), c.ID(), eventAndArgs, now())
}

func (o observer) RoomJoined(socketID, roomID, username string) {
	a := o.a
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.sockets[socketKey{nsp: gateway.Namespace, id: socketID}]
	if e == nil {
		// Restored in its connect handler: reported before the socket.
		joined := a.pending[socketID]
		if joined == nil {
			if len(a.pending) >= maxPendingSockets {
				return
			}
			joined = map[string]string{}
			a.pending[socketID] = joined
		}
		joined[roomID] = username
		return
	}
	_, already := e.rooms[roomID]
	e.rooms[roomID] = username
	if !a.feedsDashboards() {
		return
	}
	if !already {
		a.broadcastLocked("room_joined", gateway.Namespace, roomID, socketID, now())
	}
	a.broadcastLocked("socket_updated", map[string]any{"id": socketID, "nsp": gateway.Namespace, "data": socketData(e)})
}

func (o observer) RoomLeft(socketID, roomID string) {
	a := o.a
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.sockets[socketKey{nsp: gateway.Namespace, id: socketID}]
	if e == nil {
		delete(a.pending[socketID], roomID)
		return
	}
	if _, in := e.rooms[roomID]; !in {
		return
	}
	delete(e.rooms, roomID)
	if a.feedsDashboards() {
		a.broadcastLocked("room_left", gateway.Namespace, roomID, socketID, now())
	}
}

// clientAddress is the client's IP as the npm package shows it: a proxy's
// X-Forwarded-For (or Cloudflare's header) first, else the peer address.
func clientAddress(hs socketio.Handshake, remote string) string {
	for _, h := range []string{"Cf-Connecting-Ip", "X-Forwarded-For"} {
		if v := hs.Header.Get(h); v != "" {
			return v
		}
	}
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// Secrets are not shown to the dashboard: a JWT in the query (2.x
// clients' ?token=) or a header would let whoever reads the page act as
// that client, and the io cookie names a session a reconnection may claim.
var (
	redactedHeaderNames = map[string]bool{"authorization": true, "cookie": true, "proxy-authorization": true}
	redactedQueryNames  = map[string]bool{"token": true}
)

const redacted = "[redacted]"

// redactedHeaders are the handshake's headers as Node shows them: lower
// case, repeated values joined with ", ".
func redactedHeaders(hs socketio.Handshake) map[string]string {
	out := make(map[string]string, len(hs.Header))
	for k, vs := range hs.Header {
		name := strings.ToLower(k)
		if redactedHeaderNames[name] {
			out[name] = redacted
			continue
		}
		out[name] = strings.Join(vs, ", ")
	}
	return out
}

func redactedQuery(hs socketio.Handshake) map[string]string {
	out := make(map[string]string, len(hs.Query))
	for k, vs := range hs.Query {
		if redactedQueryNames[k] {
			out[k] = redacted
			continue
		}
		out[k] = strings.Join(vs, ",")
	}
	return out
}

// handshakeURL is the engine path and query of the handshake, secrets
// redacted.
func handshakeURL(hs socketio.Handshake) string {
	q := url.Values{}
	for k, vs := range hs.Query {
		if redactedQueryNames[k] {
			q.Set(k, redacted)
			continue
		}
		q[k] = vs
	}
	return "/socket.io/?" + q.Encode()
}
