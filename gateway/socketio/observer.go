package socketio

import (
	"encoding/json"

	"chatgateway/gateway/engineio"
)

// Observer watches every session and socket of a server, in every
// namespace: the feed of the Socket.IO Admin UI (package gateway/admin).
// Its methods run inline, on the goroutine of the event they report, so
// they must be quick and must not block; they may Emit and Send (which
// only queue) but must not Close a socket.
//
// Broadcasts (Conn.Send) are not reported: they are encoded once for all
// their recipients, and reporting them would cost per recipient, as
// socket.io's onAnyOutgoing does not report them either.
type Observer interface {
	// SessionOpened: an Engine.IO session began, on transport ("polling"
	// or "websocket").
	SessionOpened(sessionID, transport string)
	// SessionUpgraded: the session moved from polling to WebSocket.
	SessionUpgraded(sessionID string)
	// SessionClosed: the session ended, for reason (engineio's Reason*).
	SessionClosed(sessionID, reason string)
	// MessageReceived: an Engine.IO message of size bytes arrived.
	MessageReceived(sessionID string, size int)
	// SocketConnected: a socket joined a namespace (its CONNECT reply is
	// queued).
	SocketConnected(c Conn)
	// SocketDisconnected: the socket left its namespace, for reason.
	SocketDisconnected(c Conn, reason string)
	// EventReceived: a socket sent an event, reported before its handler
	// runs; args are its arguments as sent (binary ones as placeholders).
	EventReceived(c Conn, event string, args []json.RawMessage)
	// EventSent: the server emitted an event to one socket (Conn.Emit).
	EventSent(c Conn, event string, args []any)
}

// SetObserver installs o (nil: none). Call it before serving.
func (s *Server) SetObserver(o Observer) { s.observer = o }

// LookupSession returns the open Engine.IO session with that id, or nil.
func (s *Server) LookupSession(id string) *engineio.Session { return s.engine.LookupSession(id) }

// OnUpgrade implements engineio.UpgradeHandler.
func (h *engineHandler) OnUpgrade(sess *engineio.Session) {
	if o := h.observer; o != nil {
		o.SessionUpgraded(sess.ID())
	}
}
