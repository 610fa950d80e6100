package redisbroker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"chatgateway/gateway"
	"chatgateway/gateway/internal/warmgo"
	"chatgateway/rooms"
	"chatgateway/rooms/redisstore/redistest"
)

const waitFor = 10 * time.Second

// received is a gateway.Subscriber recording "room|content" per envelope
// (the content of its message, or its kind) and its resyncs.
type received struct {
	mu          sync.Mutex
	got         []string
	ch          chan string
	resynced    chan struct{}
	roomResyncs chan string
}

func newReceived() *received {
	return &received{ch: make(chan string, 1000), resynced: make(chan struct{}, 10), roomResyncs: make(chan string, 1000)}
}

func (r *received) Deliver(roomID string, env gateway.Envelope) {
	text := string(env.Kind)
	if env.Message != nil {
		text = env.Message.Content
	}
	s := roomID + "|" + text
	r.mu.Lock()
	r.got = append(r.got, s)
	r.mu.Unlock()
	r.ch <- s
}

func (r *received) Resync() { r.resynced <- struct{}{} }

func (r *received) ResyncRoom(roomID string) { r.roomResyncs <- roomID }

func text(content string) gateway.Envelope {
	return gateway.Envelope{Kind: gateway.KindMessage, Message: &rooms.Message{Order: 1, Username: "u", Content: content}}
}

func (r *received) expect(t *testing.T, who, want string) {
	t.Helper()
	select {
	case got := <-r.ch:
		if got != want {
			t.Fatalf("%s got %q, want %q", who, got, want)
		}
	case <-time.After(waitFor):
		t.Fatalf("%s: nothing within %v, want %q", who, waitFor, want)
	}
}

func newNode(t *testing.T, srv *redistest.Server, nodeID string) (*Broker, *received) {
	t.Helper()
	client := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	b := New(client, Options{NodeID: nodeID, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r := newReceived()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	unsubscribe, err := b.Subscribe(ctx, r)
	t.Cleanup(func() {
		if unsubscribe != nil {
			unsubscribe()
		}
		_ = b.Close()
		_ = client.Close()
	})
	if err != nil {
		t.Fatalf("%s: subscription not confirmed: %v", nodeID, err)
	}
	return b, r
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(warmgo.IdleFunction))
}

// Each envelope reaches every node exactly once: the publisher's own
// subscribers at once, the others through Redis; the publisher's echo is
// dropped.
func TestPublishReachesEveryNodeOnce(t *testing.T) {
	srv := redistest.Start(t)
	a, gotA := newNode(t, srv, "node-a")
	b, gotB := newNode(t, srv, "node-b")

	ctx := context.Background()
	for i := range 3 {
		if err := a.Publish(ctx, "room/1", text(fmt.Sprintf("from-a-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Publish(ctx, "", text("from-b")); err != nil {
		t.Fatal(err)
	}
	// Redis keeps one publisher's order; across publishers any interleaving
	// is fine (the hub sequences room messages itself).
	want := []string{"room/1|from-a-0", "room/1|from-a-1", "room/1|from-a-2", "|from-b"}
	for name, r := range map[string]*received{"node-a": gotA, "node-b": gotB} {
		var fromA, fromB []string
		for range want {
			select {
			case got := <-r.ch:
				if got == "|from-b" {
					fromB = append(fromB, got)
				} else {
					fromA = append(fromA, got)
				}
			case <-time.After(waitFor):
				t.Fatalf("%s: only %v and %v within %v", name, fromA, fromB, waitFor)
			}
		}
		if !slices.Equal(fromA, want[:3]) || !slices.Equal(fromB, want[3:]) {
			t.Fatalf("%s got %v then %v, want %v", name, fromA, fromB, want)
		}
	}

	// A marker through Redis: once node-a has it, any echo of node-a's own
	// envelopes (published before it) would have arrived too.
	if err := b.Publish(ctx, "marker", gateway.Envelope{Kind: gateway.KindSync}); err != nil {
		t.Fatal(err)
	}
	gotA.expect(t, "node-a", "marker|sync")
	gotB.expect(t, "node-b", "marker|sync")
	for name, r := range map[string]*received{"node-a": gotA, "node-b": gotB} {
		select {
		case extra := <-r.ch:
			t.Fatalf("%s got an extra envelope %q", name, extra)
		default:
		}
	}
}

// When Redis goes away the subscription is re-established with backoff
// and the subscribers are told to resync, so the hub can read back what it
// missed.
func TestResubscribesAndResyncsAfterRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, gotA := newNode(t, srv, "node-a")
	_, gotB := newNode(t, srv, "node-b")

	srv.Kill()
	ctx := context.Background()
	pubCtx, cancel := context.WithTimeout(ctx, waitFor)
	err := a.Publish(pubCtx, "r", text("while-down"))
	cancel()
	if err == nil {
		t.Fatal("Publish while Redis is down: no error")
	}
	gotA.expect(t, "node-a", "r|while-down") // local delivery never depends on Redis

	srv.Start()
	for name, r := range map[string]*received{"node-a": gotA, "node-b": gotB} {
		select {
		case <-r.resynced:
		case <-time.After(waitFor):
			t.Fatalf("%s: no resync within %v", name, waitFor)
		}
	}
	if err := a.Publish(ctx, "r", text("after")); err != nil {
		t.Fatal(err)
	}
	gotA.expect(t, "node-a", "r|after")
	gotB.expect(t, "node-b", "r|after")
}

func TestFrames(t *testing.T) {
	tests := []struct {
		name           string
		node, room     string
		payload        string
		frame          []byte // decoded instead of encoding the fields when set
		wantErr        bool
		checkRoundTrip bool
	}{
		{name: "round trip", node: "n1", room: "room", payload: `{"kind":"message"}`, checkRoundTrip: true},
		{name: "empty fields", checkRoundTrip: true},
		{name: "binary room id", node: "n", room: "a\x00b\xff", payload: "p", checkRoundTrip: true},
		{name: "empty frame", frame: []byte{}, wantErr: true},
		{name: "node length past the end", frame: []byte{5, 'a'}, wantErr: true},
		{name: "room length past the end", frame: []byte{1, 'a', 9, 'r'}, wantErr: true},
		{name: "overlong varint", frame: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := tt.frame
			if frame == nil {
				frame = encodeFrame(tt.node, tt.room, []byte(tt.payload))
			}
			node, room, payload, err := decodeFrame(frame)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.checkRoundTrip && (node != tt.node || room != tt.room || string(payload) != tt.payload) {
				t.Fatalf("decoded (%q, %q, %q), want (%q, %q, %q)", node, room, payload, tt.node, tt.room, tt.payload)
			}
		})
	}
}

func FuzzDecodeFrame(f *testing.F) {
	f.Add(encodeFrame("node", "room", []byte("payload")))
	f.Add([]byte{})
	f.Add([]byte{0x80})
	f.Fuzz(func(t *testing.T, frame []byte) {
		node, room, payload, err := decodeFrame(frame)
		if err != nil {
			return
		}
		// Varints may be non-minimal on the wire; what they say must survive.
		n2, r2, p2, err := decodeFrame(encodeFrame(node, room, payload))
		if err != nil || n2 != node || r2 != room || string(p2) != string(payload) {
			t.Fatalf("re-encoded frame decodes to (%q, %q, %q, %v), want (%q, %q, %q)", n2, r2, p2, err, node, room, payload)
		}
	})
}
