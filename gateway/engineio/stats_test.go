package engineio

import (
	"testing"
	"time"
)

// waitStats waits until cond holds for the server's Stats.
func waitStats(t *testing.T, srv *Server, what string, cond func(Stats) bool) Stats {
	t.Helper()
	deadline := time.Now().Add(requestWait)
	for {
		st := srv.Stats()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never showed %s: %+v", what, st)
		}
		time.Sleep(5 * time.Millisecond) // a sampling interval; the condition decides
	}
}

// TestStatsFollowSessions: the open gauge follows a session through its
// handshake, its upgrade and its end; errors are counted by reason, as a
// handshake failure without a sid and a request error with one.
func TestStatsFollowSessions(t *testing.T) {
	srv, base := newTestServer(t, Config{})
	e := corsEnv{srv: srv, base: base}

	v3 := handshakeSID(t, base, 3)
	st := srv.Stats()
	if st.Open["3"]["polling"] != 1 || st.Opened["3"]["polling"] != 1 || st.SentMessages["polling"] != 1 {
		t.Fatalf("after a v3 handshake: %+v", st)
	}
	handshakeBytes := st.SentBytes["polling"]

	e.upgraded(t) // a v4 session, upgraded, with one echo over the WebSocket
	st = srv.Stats()
	if st.Open["4"]["polling"] != 0 || st.Open["4"]["websocket"] != 1 || st.Opened["4"]["polling"] != 1 || st.Upgrades["4"] != 1 {
		t.Fatalf("after a v4 upgrade: %+v", st)
	}
	if st.SentBytes["polling"] <= handshakeBytes {
		t.Fatalf("polling bytes after the v4 handshake: %+v", st.SentBytes)
	}
	// Counted once written, which may be just after the client read it.
	waitStats(t, srv, "the echo written over the WebSocket", func(st Stats) bool {
		return st.SentMessages["websocket"] == 1 && st.SentBytes["websocket"] == uint64(len("4after")+2)
	})

	get(t, base+"?EIO=9&transport=polling")
	get(t, base+"?EIO=4&transport=polling&sid=nosuchsession")
	st = srv.Stats()
	if st.HandshakeFailures["unsupported_protocol"] != 1 || st.RequestErrors["unknown_sid"] != 1 || st.HandshakeFailures["unknown_sid"] != 0 {
		t.Fatalf("error counters: handshake %v, request %v", st.HandshakeFailures, st.RequestErrors)
	}

	// The v3 client says goodbye; the v4 one loses its WebSocket (test
	// cleanup closes it, here its session is closed from the server).
	if status, _ := post(t, base+"?EIO=3&transport=polling&sid="+v3, "text/plain;charset=UTF-8", "1:1"); status != 200 {
		t.Fatalf("close packet: %d", status)
	}
	for _, sess := range []*Session{srv.lookupAny()} {
		if sess != nil {
			sess.Close()
		}
	}
	st = waitStats(t, srv, "every session gone", func(st Stats) bool {
		return st.Open["3"]["polling"] == 0 && st.Open["4"]["websocket"] == 0
	})
	if st.Closed["client_close"] != 1 || st.Closed["forced_close"] != 1 {
		t.Fatalf("closes by reason: %v", st.Closed)
	}
}

// lookupAny is one open (not closed) session, or nil.
func (s *Server) lookupAny() *Session {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, sess := range s.sessions {
		if !sess.isClosed() {
			return sess
		}
	}
	return nil
}
