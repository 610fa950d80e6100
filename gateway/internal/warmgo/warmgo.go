// Package warmgo runs short tasks on goroutines kept between tasks, so
// that each task starts on a stack that has already grown.
//
// Why: the engine dispatches a socket's inbound packets, and the hub a
// room's deliveries, on a goroutine that lives only while there is work
// (an idle socket or room holds none). A new goroutine starts with a small
// stack, and a handler decoding JSON through reflect needs about 16 KiB:
// the runtime grows the stack three or four times per burst, each time
// walking every frame to move it. At half of our saturation that was 13%
// of the server's CPU. A kept goroutine grows once, then again only after
// the collector shrank it while it sat idle.
package warmgo

import (
	"sync"
	"sync/atomic"
	"time"
)

// The pools of the engine and the hub keep up to DefaultMaxIdle idle
// goroutines each, for DefaultIdleFor after their last task: a burst of
// that many sockets or rooms finds its stacks grown, and an idle server
// sheds them (and their stacks) within a second.
const (
	DefaultMaxIdle = 256
	DefaultIdleFor = time.Second
)

// Pool hands tasks to its idle goroutines, starting a new one when none is
// idle: a task never waits for another to finish, so a task that blocks
// (a slow store) holds only its own goroutine, as with a plain go
// statement.
//
// An idle goroutine is registered with a mailbox of one task. Go takes a
// registered one out under the lock before it hands the task over, so a
// goroutine counted idle always gets what it was given: with a bare
// channel, a goroutine that had counted itself idle but was not yet
// receiving made Go start another.
type Pool struct {
	mu      sync.Mutex
	idle    []*worker // guarded by mu; the most recently idle last
	maxIdle int       // guarded by mu
	idleFor time.Duration
	started atomic.Int64 // goroutines started, for tests
}

type worker struct {
	task  chan func() // buffered: Go never waits for the worker
	timer *time.Timer
}

// New returns a pool that keeps at most maxIdle idle goroutines, each for
// at most idleFor after its last task.
func New(maxIdle int, idleFor time.Duration) *Pool {
	return &Pool{maxIdle: max(maxIdle, 0), idleFor: idleFor}
}

// Go runs task on an idle goroutine of the pool, or on a new one.
func (p *Pool) Go(task func()) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.task <- task
		return
	}
	p.mu.Unlock()
	p.started.Add(1)
	go p.work(task)
}

// Idle is how many goroutines wait for a task.
func (p *Pool) Idle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

func (p *Pool) work(task func()) {
	w := &worker{task: make(chan func(), 1)}
	for task != nil {
		task()
		task = p.awaitTask(w)
	}
}

// IdleFunction is where an idle goroutine of a pool waits, for leak checks
// (goleak.IgnoreAnyFunction) that must not count kept goroutines: a task
// still running is not under it.
const IdleFunction = "chatgateway/gateway/internal/warmgo.(*Pool).awaitTask"

// awaitTask waits, idle, for the next task; nil means leave.
//
//go:noinline
func (p *Pool) awaitTask(w *worker) func() {
	p.mu.Lock()
	if len(p.idle) >= p.maxIdle {
		p.mu.Unlock()
		return nil
	}
	p.idle = append(p.idle, w)
	p.mu.Unlock()
	if w.timer == nil {
		w.timer = time.NewTimer(p.idleFor)
	} else {
		w.timer.Reset(p.idleFor)
	}
	select {
	case task := <-w.task:
		w.timer.Stop()
		return task
	case <-w.timer.C:
	}
	p.mu.Lock()
	for i, idle := range p.idle {
		if idle == w {
			last := len(p.idle) - 1
			copy(p.idle[i:], p.idle[i+1:])
			p.idle[last] = nil
			p.idle = p.idle[:last]
			p.mu.Unlock()
			return nil
		}
	}
	p.mu.Unlock()
	// Go took this worker out as its time ran out: its task is on the way.
	return <-w.task
}
