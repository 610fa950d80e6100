package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatgateway/gateway/sioclient"
	"chatgateway/rooms"
)

const eventTimeout = 15 * time.Second

// chatClient is one Socket.IO client of the chat, recording what it gets.
type chatClient struct {
	t        *testing.T
	name     string
	node     string
	conn     *sioclient.Client
	mu       sync.Mutex
	messages map[string][]rooms.Message     // room -> messages in arrival order
	lists    map[string][]rooms.Participant // room -> latest participant list
	// exceptionCodes are the codes of the "exception" events received.
	exceptionCodes []string
	changed        chan struct{} // signalled on every event
}

func dialChat(t *testing.T, name string, node *serverProcess) *chatClient {
	t.Helper()
	return dialChatWith(t, name, node, sioclient.Options{EIO: 4})
}

// dialChatWith is dialChat with client options (OnEvent is the client's).
func dialChatWith(t *testing.T, name string, node *serverProcess, opts sioclient.Options) *chatClient {
	t.Helper()
	c := &chatClient{t: t, name: name, node: node.name, messages: map[string][]rooms.Message{},
		lists: map[string][]rooms.Participant{}, changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	opts.OnEvent = c.onEvent
	conn, err := sioclient.Dial(ctx, node.url(), opts)
	if err != nil {
		t.Fatalf("%s: dial %s: %v", name, node.name, err)
	}
	c.conn = conn
	t.Cleanup(func() { _ = conn.Close() })
	return c
}

func (c *chatClient) onEvent(event string, args []json.RawMessage) {
	if len(args) == 0 {
		return
	}
	c.mu.Lock()
	if room, ok := strings.CutPrefix(event, "participants/"); ok {
		var list []rooms.Participant
		if json.Unmarshal(args[0], &list) == nil {
			c.lists[room] = list
		}
	} else if event == "exception" {
		var e struct{ Code string }
		if json.Unmarshal(args[0], &e) == nil {
			c.exceptionCodes = append(c.exceptionCodes, e.Code)
		}
	} else if event != "messages" && !strings.HasPrefix(event, "closed/") {
		var m rooms.Message
		if json.Unmarshal(args[0], &m) == nil && m.Order > 0 {
			c.messages[event] = append(c.messages[event], m)
		}
	}
	c.mu.Unlock()
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// waitUntil waits for cond (checked under the client's lock) until timeout.
func (c *chatClient) waitUntil(timeout time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		ok := cond()
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-c.changed:
		case <-c.conn.Done():
			c.t.Fatalf("%s (on %s): connection lost while waiting for %s", c.name, c.node, what)
		case <-deadline.C:
			c.t.Fatalf("%s (on %s): no %s within %v", c.name, c.node, what, timeout)
		}
	}
}

// join sends "participants" and waits until its own entry is listed.
func (c *chatClient) join(roomID string) {
	c.t.Helper()
	if err := c.conn.Emit("participants", map[string]string{"roomId": roomID, "username": c.name, "avatar": c.name + ".svg"}); err != nil {
		c.t.Fatalf("%s: join %s: %v", c.name, roomID, err)
	}
	c.waitUntil(eventTimeout, "own participant entry in "+roomID, func() bool {
		for _, p := range c.lists[roomID] {
			if p.Username == c.name && p.Connected {
				return true
			}
		}
		return false
	})
}

// chat posts with an acknowledgement: the stored message, or the error
// code and message of a refusal.
func (c *chatClient) chat(ctx context.Context, roomID, content string) (rooms.Message, error) {
	ack, err := c.conn.EmitWithAck(ctx, "chat", map[string]string{"roomId": roomID, "content": content, "username": c.name})
	if err != nil {
		return rooms.Message{}, err
	}
	return parseAck(ack)
}

// parseAck reads a chat or messages acknowledgement: the stored message,
// or the refusal as a *rooms.Error with its code.
func parseAck(ack json.RawMessage) (rooms.Message, error) {
	var args []json.RawMessage
	if err := json.Unmarshal(ack, &args); err != nil || len(args) == 0 {
		return rooms.Message{}, fmt.Errorf("ack %s: not an array of arguments", ack)
	}
	var reply struct {
		rooms.Message
		Code       string `json:"code"`
		AckMessage string `json:"message"`
	}
	if err := json.Unmarshal(args[0], &reply); err != nil {
		return rooms.Message{}, fmt.Errorf("ack %s: %v", ack, err)
	}
	if reply.Code != "" {
		return rooms.Message{}, &rooms.Error{Code: reply.Code, Message: reply.AckMessage}
	}
	return reply.Message, nil
}

func (c *chatClient) received(roomID string) []rooms.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]rooms.Message(nil), c.messages[roomID]...)
}

func (c *chatClient) participants(roomID string) []rooms.Participant {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]rooms.Participant(nil), c.lists[roomID]...)
}

// checkExactlyOnceInOrder fails unless msgs are orders first..last, each
// once, in order.
func checkExactlyOnceInOrder(t *testing.T, who, roomID string, msgs []rooms.Message, first, last int64) {
	t.Helper()
	if int64(len(msgs)) != last-first+1 {
		t.Fatalf("%s: room %s: got %d messages, want orders %d..%d: %v", who, roomID, len(msgs), first, last, orderList(msgs))
	}
	for i, m := range msgs {
		if m.Order != first+int64(i) {
			t.Fatalf("%s: room %s: position %d has order %d, want %d: %v", who, roomID, i, m.Order, first+int64(i), orderList(msgs))
		}
	}
}

func orderList(msgs []rooms.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Order
	}
	return out
}
