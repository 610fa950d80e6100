package warmgo

import (
	"testing"
	"time"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPool(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"an idle goroutine takes the next task", func(t *testing.T) {
			p := New(4, time.Hour)
			for i := range 5 {
				done := make(chan struct{})
				p.Go(func() { close(done) })
				<-done
				waitFor(t, "the goroutine to be idle again", func() bool { return p.Idle() == 1 })
				if got := p.started.Load(); got != 1 {
					t.Fatalf("after %d tasks one at a time, %d goroutines started, want 1", i+1, got)
				}
			}
			drain(t, p)
		}},
		{"a blocked task does not hold back the next", func(t *testing.T) {
			p := New(4, time.Hour)
			release, second := make(chan struct{}), make(chan struct{})
			p.Go(func() { <-release })
			p.Go(func() { close(second) })
			select {
			case <-second:
			case <-time.After(10 * time.Second):
				t.Fatal("the second task did not run while the first was blocked")
			}
			close(release)
			waitFor(t, "both goroutines to be idle", func() bool { return p.Idle() == 2 })
			if got := p.started.Load(); got != 2 {
				t.Fatalf("%d goroutines started, want 2", got)
			}
			drain(t, p)
		}},
		{"at most maxIdle stay", func(t *testing.T) {
			const maxIdle, tasks = 3, 10
			p := New(maxIdle, time.Hour)
			release := make(chan struct{})
			running := make(chan struct{}, tasks)
			for range tasks {
				p.Go(func() { running <- struct{}{}; <-release })
			}
			for range tasks {
				<-running
			}
			if got := p.started.Load(); got != tasks {
				t.Fatalf("%d goroutines started for %d blocked tasks, want %d", got, tasks, tasks)
			}
			close(release)
			waitFor(t, "maxIdle goroutines to be idle", func() bool { return p.Idle() == maxIdle })
			drain(t, p)
		}},
		{"idle goroutines leave after idleFor", func(t *testing.T) {
			p := New(4, 5*time.Millisecond)
			done := make(chan struct{})
			p.Go(func() { close(done) })
			<-done
			waitFor(t, "the idle goroutine to leave", func() bool { return p.Idle() == 0 && p.started.Load() == 1 })
			again := make(chan struct{})
			p.Go(func() { close(again) })
			<-again
			if got := p.started.Load(); got != 2 {
				t.Fatalf("%d goroutines started, want 2: the first had left", got)
			}
		}},
		{"maxIdle 0 keeps none", func(t *testing.T) {
			p := New(0, time.Hour)
			for range 3 {
				done := make(chan struct{})
				p.Go(func() { close(done) })
				<-done
			}
			if got := p.started.Load(); got != 3 {
				t.Fatalf("%d goroutines started, want 3", got)
			}
			if got := p.Idle(); got != 0 {
				t.Fatalf("Idle = %d, want 0", got)
			}
		}},
	} {
		t.Run(tc.name, tc.run)
	}
}

// setMaxIdle changes the bound for goroutines that go idle from now on.
func (p *Pool) setMaxIdle(n int) {
	p.mu.Lock()
	p.maxIdle = max(n, 0)
	p.mu.Unlock()
}

// drain makes the pool's idle goroutines leave, so the test leaves none:
// each takes a task that ends it.
func drain(t *testing.T, p *Pool) {
	t.Helper()
	p.setMaxIdle(0)
	for p.Idle() > 0 {
		p.Go(func() {})
	}
	waitFor(t, "the pool to be empty", func() bool { return p.Idle() == 0 })
}

// deepTask grows the stack to about what a handler decoding JSON needs.
//
//go:noinline
func deepTask(depth int) byte {
	var pad [512]byte
	if depth == 0 {
		return pad[0]
	}
	return deepTask(depth-1) + pad[depth%len(pad)]
}

// Compared with BenchmarkDeepTaskNewGoroutine: the stack growth a kept
// goroutine saves.
func BenchmarkDeepTaskPool(b *testing.B) {
	p := New(8, time.Minute)
	done := make(chan struct{})
	for b.Loop() {
		p.Go(func() { deepTask(32); done <- struct{}{} })
		<-done
	}
}

func BenchmarkDeepTaskNewGoroutine(b *testing.B) {
	done := make(chan struct{})
	for b.Loop() {
		go func() { deepTask(32); done <- struct{}{} }()
		<-done
	}
}
