package engineio

import (
	"net/http"
	"sync/atomic"
)

// errorReason names an error answer of the engine in Stats.
type errorReason uint8

const (
	reasonTransportUnknown errorReason = iota
	reasonUnknownSID
	reasonBadHandshakeMethod
	reasonBadRequest
	reasonOriginNotAllowed
	reasonAdmissionRefused
	reasonShuttingDown
	reasonUnsupportedProtocol
	reasonJSONP
	reasonPayloadTooLarge
	numErrorReasons
)

var errorReasonNames = [numErrorReasons]string{
	reasonTransportUnknown:    "transport_unknown",
	reasonUnknownSID:          "unknown_sid",
	reasonBadHandshakeMethod:  "bad_handshake_method",
	reasonBadRequest:          "bad_request",
	reasonOriginNotAllowed:    "origin_not_allowed",
	reasonAdmissionRefused:    "admission_refused",
	reasonShuttingDown:        "shutting_down",
	reasonUnsupportedProtocol: "unsupported_protocol",
	reasonJSONP:               "jsonp",
	reasonPayloadTooLarge:     "payload_too_large",
}

// closeReasons are the reasons OnClose reports, in the order of their
// counters; their metric names replace spaces with underscores.
var closeReasons = [...]string{
	ReasonTransportClose,
	ReasonTransportError,
	ReasonPingTimeout,
	ReasonParseError,
	ReasonServerClose,
	ReasonServerShutdown,
	ReasonSlowConsumer,
	ReasonClientClose,
}

var closeReasonNames = [len(closeReasons)]string{
	"transport_close", "transport_error", "ping_timeout", "parse_error",
	"forced_close", "server_shutdown", "slow_consumer", "client_close",
}

func closeReasonIndex(reason string) int {
	for i, r := range closeReasons {
		if r == reason {
			return i
		}
	}
	return -1
}

// counters are the engine's running totals: plain atomics, so counting
// costs nothing per recipient and the engine knows nothing of any
// monitoring system. Indexes: protocol-ProtocolV3, then transportKind.
type counters struct {
	open           [2][2]atomic.Int64
	opened         [2][2]atomic.Uint64
	upgrades       [2]atomic.Uint64
	handshakeFails [numErrorReasons]atomic.Uint64
	requestErrors  [numErrorReasons]atomic.Uint64
	closed         [len(closeReasons)]atomic.Uint64
	sentMessages   [2]atomic.Uint64
	sentBytes      [2]atomic.Uint64
}

// Stats is a snapshot of what the engine did since it started. Map keys
// are stable, lower-case names meant as metric labels.
type Stats struct {
	// Open is the sessions open now, by Engine.IO revision ("3", "4") and
	// transport ("polling", "websocket").
	Open map[string]map[string]int64
	// Opened counts sessions opened, by revision and first transport.
	Opened map[string]map[string]uint64
	// Upgrades counts polling sessions upgraded to WebSocket, by revision.
	Upgrades map[string]uint64
	// HandshakeFailures counts error answers to requests that would have
	// opened a session (no sid), by reason.
	HandshakeFailures map[string]uint64
	// RequestErrors counts error answers to requests of a session (with a
	// sid: unknown_sid when sticky sessions are missing), by reason.
	RequestErrors map[string]uint64
	// Closed counts sessions ended, by reason (slow_consumer: its outbound
	// queue overflowed MaxBufferedBytes).
	Closed map[string]uint64
	// SentMessages and SentBytes count what was written to clients, by
	// transport: Engine.IO packets (a Socket.IO packet with attachments is
	// one) and bytes of WebSocket frames or polling bodies.
	SentMessages map[string]uint64
	SentBytes    map[string]uint64
}

var (
	revisionNames  = [2]string{"3", "4"}
	transportNames = [2]string{transportPolling.String(), transportWebSocket.String()}
)

// Stats returns the engine's counters.
func (s *Server) Stats() Stats {
	c := &s.stats
	st := Stats{
		Open:              map[string]map[string]int64{},
		Opened:            map[string]map[string]uint64{},
		Upgrades:          map[string]uint64{},
		HandshakeFailures: map[string]uint64{},
		RequestErrors:     map[string]uint64{},
		Closed:            map[string]uint64{},
		SentMessages:      map[string]uint64{},
		SentBytes:         map[string]uint64{},
	}
	for p, rev := range revisionNames {
		st.Open[rev] = map[string]int64{}
		st.Opened[rev] = map[string]uint64{}
		for t, tr := range transportNames {
			st.Open[rev][tr] = c.open[p][t].Load()
			st.Opened[rev][tr] = c.opened[p][t].Load()
		}
		st.Upgrades[rev] = c.upgrades[p].Load()
	}
	for i, name := range errorReasonNames {
		st.HandshakeFailures[name] = c.handshakeFails[i].Load()
		st.RequestErrors[name] = c.requestErrors[i].Load()
	}
	for i, name := range closeReasonNames {
		st.Closed[name] = c.closed[i].Load()
	}
	for t, tr := range transportNames {
		st.SentMessages[tr] = c.sentMessages[t].Load()
		st.SentBytes[tr] = c.sentBytes[t].Load()
	}
	return st
}

// countError counts an error answer: a handshake failure when the request
// named no session.
func (s *Server) countError(r *http.Request, e *engineError) {
	if r.URL.Query().Get("sid") == "" {
		s.stats.handshakeFails[e.reason].Add(1)
	} else {
		s.stats.requestErrors[e.reason].Add(1)
	}
}

func (s *Server) countOpened(sess *Session) {
	p := sess.protocol - ProtocolV3
	s.stats.open[p][sess.transport].Add(1)
	s.stats.opened[p][sess.transport].Add(1)
}

// countGone takes a session out of the open gauge; t is its transport,
// which no longer changes once the session is closed.
func (s *Server) countGone(sess *Session, t transportKind) {
	s.stats.open[sess.protocol-ProtocolV3][t].Add(-1)
}

// countUpgrade moves an open session from polling to WebSocket.
func (s *Server) countUpgrade(sess *Session) {
	p := sess.protocol - ProtocolV3
	s.stats.open[p][transportPolling].Add(-1)
	s.stats.open[p][transportWebSocket].Add(1)
	s.stats.upgrades[p].Add(1)
}

func (s *Server) countClosed(reason string) {
	if i := closeReasonIndex(reason); i >= 0 {
		s.stats.closed[i].Add(1)
	}
}

func (s *Server) countSent(t transportKind, messages, bytes int) {
	s.stats.sentMessages[t].Add(uint64(messages))
	s.stats.sentBytes[t].Add(uint64(bytes))
}
