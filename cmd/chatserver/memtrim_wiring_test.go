package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"runtime"
	"testing"
	"time"
)

// trimSignal is a log handler that hears the trimmer's report.
type trimSignal struct{ trimmed chan struct{} }

func (h trimSignal) Enabled(context.Context, slog.Level) bool { return true }
func (h trimSignal) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h trimSignal) WithGroup(string) slog.Handler            { return h }
func (h trimSignal) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "memtrim: returned memory to the system" {
		select {
		case h.trimmed <- struct{}{}:
		default:
		}
	}
	return nil
}

// TestMemoryTrimRunsWhileServing: the trimmer keeps running once the
// server is up, and returns a burst's garbage while it serves. (It was once
// stopped as soon as start returned, which only the RSS figures of
// `make bench` showed.) Not parallel: the trimmer acts only on a quiet
// process.
func TestMemoryTrimRunsWhileServing(t *testing.T) {
	cfg, err := loadConfig([]string{"--host", "127.0.0.1", "--port", "0", "--store", "memory", "--memory-trim", "20ms"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sig := trimSignal{trimmed: make(chan struct{}, 1)}
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(sig), ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}
	// Anything the trimmer did while starting up is not what is asked.
	select {
	case <-sig.trimmed:
	default:
	}

	// A burst: 64 MiB allocated and dropped, collected into free pages.
	burst := make([][]byte, 0, 1024)
	for range cap(burst) {
		burst = append(burst, make([]byte, 64<<10))
	}
	runtime.KeepAlive(burst)
	burst = nil
	runtime.GC()

	select {
	case <-sig.trimmed:
	case err := <-done:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("the server did not return a quiet burst's memory to the system: is the trimmer running?")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
}
