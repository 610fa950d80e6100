package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestWaitReadyUsesEachServersProbe: our server is ready when /readyz
// answers 200 (not before, while it answers 503); a baseline when its
// messages route answers 403.
func TestWaitReadyUsesEachServersProbe(t *testing.T) {
	var probes atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case oursReadyPath:
			if probes.Add(1) < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
		default:
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer srv.Close()
	p := &proc{name: "fake", done: make(chan struct{})}
	ctx := context.Background()
	if err := waitReady(ctx, p, srv.URL, readinessOf(kindOurs), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := probes.Load(); n != 3 {
		t.Fatalf("ours was ready after %d probes, want 3 (two 503s first)", n)
	}
	for _, kind := range []serverKind{kindNode, kindNest} {
		if err := waitReady(ctx, p, srv.URL, readinessOf(kind), 10*time.Second); err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
	}
	close(p.done)
	if err := waitReady(ctx, p, srv.URL, readiness{oursReadyPath, http.StatusTeapot}, 10*time.Second); err == nil {
		t.Fatal("ready although the process exited and the probe never answered as ready")
	}
}
