package gateway

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

type fakeRegistry struct {
	mu        sync.Mutex
	beatErr   error
	beats     int
	reapCalls int
	dead      map[string][]string
}

func (r *fakeRegistry) Heartbeat(ctx context.Context, nodeID string, ttl time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.beats++
	return r.beatErr
}

func (r *fakeRegistry) ReapDeadNodes(ctx context.Context) (map[string][]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reapCalls++
	dead := r.dead
	r.dead = nil
	return dead, nil
}

func (r *fakeRegistry) RemoveNode(ctx context.Context, nodeID string) error { return nil }

// recordingBroker keeps what was published.
type recordingBroker struct {
	mu        sync.Mutex
	published []string // "room kind"
}

func (b *recordingBroker) Publish(ctx context.Context, roomID string, env Envelope) error {
	b.mu.Lock()
	b.published = append(b.published, roomID+" "+string(env.Kind))
	b.mu.Unlock()
	return nil
}

func (b *recordingBroker) Subscribe(context.Context, Subscriber) (func(), error) {
	return func() {}, nil
}

func (b *recordingBroker) Watch(context.Context, string) error { return nil }
func (b *recordingBroker) Unwatch(string)                      {}

func TestLivenessRound(t *testing.T) {
	const ttl = 6 * time.Second
	tests := []struct {
		name          string
		healthyFor    time.Duration // 0: not healthy before this round
		beatErr       error
		wantReap      bool
		wantHealthy   bool
		wantPublished []string
	}{
		{"first beat only starts the clock", 0, nil, false, true, nil},
		{"healthy for less than a ttl does not reap", ttl / 2, nil, false, true, nil},
		{"healthy for a ttl reaps and tells the rooms", ttl + time.Second, nil, true, true,
			[]string{"r1 participants", "r1 sync", "r2 participants", "r2 sync"}},
		{"a failed beat stops reaping and resets the clock", ttl + time.Second, errors.New("redis down"), false, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := &fakeRegistry{beatErr: tt.beatErr, dead: map[string][]string{"dead-node": {"r1", "r2"}}}
			broker := &recordingBroker{}
			g, err := New(context.Background(), rooms.NewService(memstore.New()), Config{Broker: broker, NodeTTL: ttl, HeartbeatInterval: time.Second}, discardLogger())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = g.Shutdown(context.Background()) })

			var since time.Time
			if tt.healthyFor > 0 {
				since = time.Now().Add(-tt.healthyFor)
			}
			g.cfg.Nodes = reg // after New: no background loop in this test
			g.livenessRound(context.Background(), &since)

			if got := reg.reapCalls > 0; got != tt.wantReap {
				t.Errorf("reaped = %v, want %v", got, tt.wantReap)
			}
			if got := !since.IsZero(); got != tt.wantHealthy {
				t.Errorf("healthy = %v, want %v", got, tt.wantHealthy)
			}
			if !slices.Equal(broker.published, tt.wantPublished) {
				t.Errorf("published %v, want %v", broker.published, tt.wantPublished)
			}
		})
	}
}
