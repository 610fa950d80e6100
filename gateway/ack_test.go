package gateway

import (
	"strings"
	"testing"

	"chatgateway/gateway/engineio"
)

// TestOnlyChatAndMessagesAcknowledge checks, on the wire, which chat events
// answer a client that asked for an acknowledgement: chat and messages do,
// with their documented values; exchanges and participants never did on the
// original server and do not here, so a client's timeout() fires. Each event
// is sent with ack id 1, then a chat call with ack id 2; one socket's packets
// are answered in order, so the first ACK read tells whether id 1 was
// answered.
func TestOnlyChatAndMessagesAcknowledge(t *testing.T) {
	tests := []struct {
		name  string
		event string
		arg   string
		acks  bool
	}{
		{"exchanges", "exchanges", `{"roomId":"r","username":"alice","content":"hi"}`, false},
		{"exchanges to a missing room", "exchanges", `{"roomId":"missing","username":"alice","content":"hi"}`, false},
		{"participants", "participants", `{"roomId":"r","username":"alice","avatar":"a"}`, false},
		{"chat", "chat", `{"roomId":"r","content":"hi"}`, true},
		{"messages group", "messages", `{"type":"group","roomId":"r","content":"hi"}`, true},
		{"messages of an unknown type", "messages", `{"type":"shout","roomId":"r","content":"hi"}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startEngineServer(t, engineio.Config{}, Config{})
			c := dialWS(t, s.addr, 0)
			c.write(`421["` + tc.event + `",` + tc.arg + `]`)
			c.write(`422["chat",{"roomId":"r","content":"marker"}]`)
			first := c.readUntilAck()
			if got := strings.HasPrefix(first, "431["); got != tc.acks {
				t.Fatalf("first ACK %q: acknowledged %v, want %v", first, got, tc.acks)
			}
			if tc.acks {
				if next := c.readUntilAck(); !strings.HasPrefix(next, "432[") {
					t.Fatalf("marker ACK %q, want id 2", next)
				}
			} else if !strings.HasPrefix(first, "432[") {
				t.Fatalf("first ACK %q, want the marker's (id 2)", first)
			}
		})
	}
}

// readUntilAck reads synchronously, answering pings and skipping events,
// until an ACK packet arrives, and returns it.
func (c *wsClient) readUntilAck() string {
	c.t.Helper()
	return c.readUntil(func(p string) bool { return strings.HasPrefix(p, "43") })
}
