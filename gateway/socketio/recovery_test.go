package socketio

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatgateway/gateway/engineio"
)

const recoveryWait = 5 * time.Second

type recoveryServer struct {
	url      string
	srv      *Server
	mu       sync.Mutex
	conns    chan Conn
	requests []RecoveryRequest
}

// startRecoveryServer serves namespace "/" with, when recover is set, a
// recovery handler granting pid "known" the socket id "old-sid".
func startRecoveryServer(t *testing.T, recover bool) *recoveryServer {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rs := &recoveryServer{conns: make(chan Conn, 10)}
	rs.srv = NewServer(Config{Engine: engineio.Config{Logger: logger}, Logger: logger})
	rs.srv.OnConnect("/", func(c Conn) error { rs.conns <- c; return nil })
	if recover {
		rs.srv.OnRecover("/", func(req RecoveryRequest) (Recovered, bool) {
			rs.mu.Lock()
			rs.requests = append(rs.requests, req)
			rs.mu.Unlock()
			if req.PID != "known" {
				return Recovered{}, false
			}
			return Recovered{SocketID: "old-sid", State: "state of old-sid"}, true
		})
	}
	hs := httptest.NewServer(rs.srv)
	t.Cleanup(func() {
		hs.Close()
		_ = rs.srv.Shutdown(t.Context())
	})
	rs.url = "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?transport=websocket&EIO="
	return rs
}

// dial opens a WebSocket session, connects "/" with the given CONNECT data
// (v5) and returns the CONNECT reply's data and the server's Conn.
func (rs *recoveryServer) dial(t *testing.T, eio string, connectData string) (*websocket.Conn, string, Conn) {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(rs.url+eio, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if open := readFrame(t, ws); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	if eio == "4" {
		if err := ws.WriteMessage(websocket.TextMessage, []byte("40"+connectData)); err != nil {
			t.Fatal(err)
		}
	}
	reply := readFrame(t, ws)
	if !strings.HasPrefix(reply, "40") {
		t.Fatalf("CONNECT reply %q", reply)
	}
	select {
	case c := <-rs.conns:
		return ws, reply[2:], c
	case <-time.After(recoveryWait):
		t.Fatal("OnConnect not called")
		return nil, "", nil
	}
}

func readFrame(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(recoveryWait))
	_, p, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(p)
}

func TestConnectionStateRecoveryWire(t *testing.T) {
	tests := []struct {
		name    string
		recover bool
		eio     string
		connect string
		// want: the reply's pid ("" none, "fresh" a new one, else exact),
		// the socket id ("fresh" or exact), and the event frame.
		wantPID, wantSID string
		wantRecovered    bool
		wantFrame        string
		wantRequest      *RecoveryRequest
	}{
		{"v5 with recovery: a pid, offsets on offset broadcasts", true, "4", "", "fresh", "fresh", false,
			`42["ev",{"a":1},"3.tag"]`, nil},
		{"v5 presenting a known pid", true, "4", `{"pid":"known","offset":"2.tag"}`, "known", "old-sid", true,
			`42["ev",{"a":1},"3.tag"]`, &RecoveryRequest{PID: "known", Offset: "2.tag", HasOffset: true}},
		{"v5 presenting a pid without an offset", true, "4", `{"pid":"known"}`, "known", "old-sid", true,
			`42["ev",{"a":1},"3.tag"]`, &RecoveryRequest{PID: "known"}},
		{"v5 presenting an unknown pid", true, "4", `{"pid":"stranger","offset":"1.x"}`, "fresh", "fresh", false,
			`42["ev",{"a":1},"3.tag"]`, &RecoveryRequest{PID: "stranger", Offset: "1.x", HasOffset: true}},
		{"v5 with a pid that is not a string", true, "4", `{"pid":5,"offset":"1.x"}`, "fresh", "fresh", false,
			`42["ev",{"a":1},"3.tag"]`, nil},
		{"v5 with an offset that is not a string", true, "4", `{"pid":"known","offset":7}`, "known", "old-sid", true,
			`42["ev",{"a":1},"3.tag"]`, &RecoveryRequest{PID: "known"}},
		{"v5 without recovery: no pid, plain events", false, "4", `{"pid":"known"}`, "", "fresh", false,
			`42["ev",{"a":1}]`, nil},
		{"v4: plain events", true, "3", "", "", "", false,
			`42["ev",{"a":1}]`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := startRecoveryServer(t, tt.recover)
			ws, reply, c := rs.dial(t, tt.eio, tt.connect)
			var r struct{ SID, PID string }
			if tt.eio == "4" {
				if err := json.Unmarshal([]byte(reply), &r); err != nil {
					t.Fatalf("CONNECT reply %q: %v", reply, err)
				}
			}
			switch tt.wantPID {
			case "":
				if r.PID != "" || c.PID() != "" {
					t.Fatalf("pid %q / %q, want none", r.PID, c.PID())
				}
			case "fresh":
				if r.PID == "" || r.PID == "known" || c.PID() != r.PID {
					t.Fatalf("pid %q / %q, want a fresh one", r.PID, c.PID())
				}
			default:
				if r.PID != tt.wantPID || c.PID() != tt.wantPID {
					t.Fatalf("pid %q / %q, want %q", r.PID, c.PID(), tt.wantPID)
				}
			}
			if tt.eio == "4" {
				if (tt.wantSID == "fresh") == (r.SID == "old-sid") || (tt.wantSID != "fresh" && r.SID != tt.wantSID) || c.ID() != r.SID {
					t.Fatalf("sid %q / %q, want %s", r.SID, c.ID(), tt.wantSID)
				}
			}
			state, recovered := c.Recovered()
			if recovered != tt.wantRecovered || (recovered && state != "state of old-sid") {
				t.Fatalf("Recovered() = (%v, %v), want %v", state, recovered, tt.wantRecovered)
			}
			rs.mu.Lock()
			requests := rs.requests
			rs.mu.Unlock()
			if (tt.wantRequest == nil) != (len(requests) == 0) || (tt.wantRequest != nil && (requests[0].PID != tt.wantRequest.PID || requests[0].Offset != tt.wantRequest.Offset || requests[0].HasOffset != tt.wantRequest.HasOffset)) {
				t.Fatalf("recovery requests %+v, want %+v", requests, tt.wantRequest)
			}
			b, err := rs.srv.NewOffsetBroadcast("/", "ev", "3.tag", map[string]int{"a": 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Send(b); err != nil {
				t.Fatal(err)
			}
			for {
				f := readFrame(t, ws)
				if f == "2" {
					continue // a ping
				}
				if f != tt.wantFrame {
					t.Fatalf("frame %q, want %q", f, tt.wantFrame)
				}
				break
			}
		})
	}
}
