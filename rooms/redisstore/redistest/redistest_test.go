package redistest_test

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/rooms/redisstore/redistest"
)

// opTimeout bounds every client call in these tests.
const opTimeout = 5 * time.Second

func newClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatalf("ParseURL(%q): %v", srv.URL(0), err)
	}
	opts.MaxRetries = -1
	opts.ReadTimeout = opTimeout
	opts.ContextTimeoutEnabled = true
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func dialRefused(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, opTimeout)
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s succeeded, want the server gone", addr)
	}
}

func TestURLAndAddrNameTheLoopbackPort(t *testing.T) {
	srv := redistest.Start(t)
	host, port, err := net.SplitHostPort(srv.Addr())
	if err != nil || host != "127.0.0.1" || port == "" || port == "0" {
		t.Fatalf("Addr() = %q, want 127.0.0.1:PORT", srv.Addr())
	}
	if want := fmt.Sprintf("redis://127.0.0.1:%s/3", port); srv.URL(3) != want {
		t.Fatalf("URL(3) = %q, want %q", srv.URL(3), want)
	}
	if !srv.Running() {
		t.Fatal("Running() = false right after Start")
	}
}

// TestAcknowledgedWritesSurviveStopAndKill checks the durability settings:
// both a graceful stop and a SIGKILL keep every acknowledged write, and the
// server comes back on the same address.
func TestAcknowledgedWritesSurviveStopAndKill(t *testing.T) {
	srv := redistest.Start(t)
	addr := srv.Addr()
	c := newClient(t, srv)
	stops := []struct {
		name string
		stop func()
	}{
		{"stop", srv.Stop},
		{"kill", srv.Kill},
	}
	for i, s := range stops {
		key := "k-" + s.name
		ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
		if err := c.Set(ctx, key, i, 0).Err(); err != nil {
			cancel()
			t.Fatalf("SET %s: %v", key, err)
		}
		cancel()

		s.stop()
		if srv.Running() {
			t.Fatalf("%s: Running() = true after it returned", s.name)
		}
		dialRefused(t, addr)

		srv.Start()
		if srv.Addr() != addr {
			t.Fatalf("%s: restarted on %s, want the same address %s", s.name, srv.Addr(), addr)
		}
		for j := 0; j <= i; j++ {
			key := "k-" + stops[j].name
			ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
			got, err := c.Get(ctx, key).Int()
			cancel()
			if err != nil || got != j {
				t.Fatalf("after %s and restart: GET %s = (%d, %v), want %d", s.name, key, got, err, j)
			}
		}
	}

	srv.Restart()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if n, err := c.Exists(ctx, "k-stop", "k-kill").Result(); err != nil || n != 2 {
		t.Fatalf("after Restart: EXISTS = (%d, %v), want 2", n, err)
	}
}

func TestPauseMakesTheServerUnresponsiveUntilResume(t *testing.T) {
	srv := redistest.Start(t)
	c := newClient(t, srv)

	srv.Pause()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := c.Ping(ctx).Err()
	cancel()
	if err == nil {
		t.Fatal("PING answered while the server was paused")
	}

	srv.Resume()
	ctx, cancel = context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Resume: %v", err)
	}
}

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine, like the real one.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestMissingBinaryFailsWithSetupHint(t *testing.T) {
	if testing.Short() {
		t.Skip("Start skips under -short before it looks for redis-server")
	}
	t.Setenv("PATH", t.TempDir())
	rec := &fatalRecorder{TB: t}
	done := make(chan *redistest.Server)
	go func() {
		var srv *redistest.Server
		defer func() { done <- srv }()
		srv = redistest.Start(rec)
	}()
	select {
	case srv := <-done:
		if srv != nil {
			t.Fatal("Start returned a server without redis-server on PATH")
		}
	case <-time.After(opTimeout):
		t.Fatal("Start did not fail within the deadline")
	}
	if !strings.Contains(rec.msg, "make setup") || !strings.Contains(rec.msg, "redis-server") {
		t.Fatalf("failure message %q should name redis-server and `make setup`", rec.msg)
	}
}

func TestKeySlotMatchesRedis(t *testing.T) {
	// What redis-server 7.0's CLUSTER KEYSLOT answers.
	for key, want := range map[string]int{
		"foo": 12182, "bar": 5061, "hello": 866,
		"{user1000}.following": 3443, "{user1000}.followers": 3443,
		"foo{}{bar}": 8363, "{}bar": 6479 /* an empty tag is no tag */, "a{b}c{d}": 3300,
	} {
		if got := redistest.KeySlot(key); got != want {
			t.Errorf("KeySlot(%q) = %d, want %d", key, got, want)
		}
	}
}

// A cluster of 3 masters and 3 replicas serves every slot; a killed
// master's replica takes over its slots, and the killed node comes back
// as a replica; a reshard moves the lowest slots of a master.
func TestClusterFailoverAndReshard(t *testing.T) {
	cl := redistest.StartCluster(t)
	if got := len(cl.Masters()); got != redistest.DefaultMasters {
		t.Fatalf("%d masters, want %d", got, redistest.DefaultMasters)
	}
	old := cl.MasterOf("key")
	old.Kill()
	promoted := cl.WaitPromoted(old)
	if promoted == old || cl.MasterOf("key") != promoted {
		t.Fatalf("slot of key served by %s after the failover, want the promoted %s", cl.MasterOf("key").Addr(), promoted.Addr())
	}
	old.Start()
	cl.WaitHealthy()
	if slices.Contains(cl.Masters(), old) {
		t.Fatalf("%s came back as a master, want a replica", old.Addr())
	}
	from, to := cl.Masters()[0], cl.Masters()[1]
	slot := cl.FirstSlot(from)
	cl.Reshard(from, to, 1)
	if got := cl.MasterOfSlot(slot); got != to {
		t.Fatalf("slot %d served by %s after the reshard, want %s", slot, got.Addr(), to.Addr())
	}
}
