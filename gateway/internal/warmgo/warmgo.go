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
type Pool struct {
	tasks   chan func()
	maxIdle atomic.Int32
	idleFor time.Duration
	idle    atomic.Int32
	started atomic.Int64 // goroutines started, for tests
}

// New returns a pool that keeps at most maxIdle idle goroutines, each for
// at most idleFor after its last task.
func New(maxIdle int, idleFor time.Duration) *Pool {
	p := &Pool{tasks: make(chan func()), idleFor: idleFor}
	p.maxIdle.Store(int32(max(maxIdle, 0)))
	return p
}

// Go runs task on an idle goroutine of the pool, or on a new one.
func (p *Pool) Go(task func()) {
	select {
	case p.tasks <- task: // an idle goroutine was waiting: it runs next
	default:
		p.started.Add(1)
		go p.work(task)
	}
}

// Idle is how many goroutines wait for a task.
func (p *Pool) Idle() int { return int(p.idle.Load()) }

func (p *Pool) work(task func()) {
	var timer *time.Timer
	for task != nil {
		task()
		task = p.awaitTask(&timer)
	}
}

// IdleFunction is where an idle goroutine of a pool waits, for leak checks
// (goleak.IgnoreAnyFunction) that must not count kept goroutines: a task
// still running is not under it.
const IdleFunction = "chatgateway/gateway/internal/warmgo.(*Pool).awaitTask"

// awaitTask waits, idle, for the next task; nil means leave.
//
//go:noinline
func (p *Pool) awaitTask(timer **time.Timer) func() {
	if p.idle.Add(1) > p.maxIdle.Load() {
		p.idle.Add(-1)
		return nil
	}
	if *timer == nil {
		*timer = time.NewTimer(p.idleFor)
	} else {
		(*timer).Reset(p.idleFor)
	}
	select {
	case task := <-p.tasks:
		p.idle.Add(-1)
		return task
	case <-(*timer).C:
		p.idle.Add(-1)
		return nil
	}
}
