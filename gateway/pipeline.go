package gateway

import (
	"sync"
	"time"

	"chatgateway/rooms"
)

// deliveryKind is what one queued delivery of a room does.
type deliveryKind uint8

const (
	deliverMessage deliveryKind = iota
	deliverParticipants
	deliverDirect
	deliverClosed
	// deliverReplay sends one member what it missed, from the store, before
	// it gets live messages again.
	deliverReplay
)

type delivery struct {
	kind    deliveryKind
	message rooms.Message
	direct  DirectMessage
	sender  string
	// replay: the member and the first order it lacks.
	member *membership
	from   int64
}

// pipeline is one room's FIFO of ready deliveries, drained by at most one
// goroutine at a time, which is what keeps every member's view in order.
// Its lock is a leaf: nothing is called while holding it.
type pipeline struct {
	mu       sync.Mutex
	queue    []delivery
	draining bool
	closed   bool
	// A queued participant list covers every change made before it runs,
	// so at most one waits; listJoiners are the sockets whose join it
	// answers (a big room sends its list to them only).
	participantsQueued bool
	listJoiners        []string
	lastList           time.Time   // last list delivery of a room with a long list
	listTimer          *time.Timer // its next list delivery
}

// push queues d and reports whether a drain must be started (the caller
// starts it after checking the hub is not shutting down).
func (p *pipeline) push(d delivery) (startDrain bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if d.kind == deliverParticipants {
		if d.sender != "" {
			p.listJoiners = append(p.listJoiners, d.sender)
		}
		if p.participantsQueued {
			return false
		}
		p.participantsQueued = true
	}
	p.queue = append(p.queue, d)
	return p.claimDrainLocked()
}

// claimDrainLocked marks the pipeline draining if it has work and no
// drain; the caller then runs one.
func (p *pipeline) claimDrainLocked() bool {
	if p.draining || len(p.queue) == 0 {
		return false
	}
	p.draining = true
	return true
}

// take hands the drain everything queued, or reports that it is done.
func (p *pipeline) take() ([]delivery, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 || p.closed {
		p.queue = nil
		p.draining = false
		return nil, false
	}
	batch := p.queue
	p.queue = nil
	return batch, true
}

// release ends a drain that will not run (the hub is shutting down).
func (p *pipeline) release() {
	p.mu.Lock()
	p.draining = false
	p.mu.Unlock()
}

// takeJoiners starts a list delivery: the joiners it answers, and whether
// it must wait (a room with a long list spaces its lists by interval; the
// list stays queued, so later joiners are added to it).
func (p *pipeline) takeJoiners(longList bool, now time.Time, interval time.Duration, armTimer func(wait time.Duration) *time.Timer) (joiners []string, wait bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if longList {
		if w := interval - now.Sub(p.lastList); w > 0 {
			if p.listTimer == nil {
				p.listTimer = armTimer(w)
			}
			return nil, true
		}
		p.lastList = now
	}
	p.participantsQueued = false
	joiners = p.listJoiners
	p.listJoiners = nil
	return joiners, false
}

// listDue queues the list delivery a timer postponed.
func (p *pipeline) listDue() (startDrain bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.listTimer = nil
	if p.closed {
		return false
	}
	p.queue = append(p.queue, delivery{kind: deliverParticipants})
	return p.claimDrainLocked()
}

// close stops the pipeline after what is queued up to now, plus the closed
// notice, and stops its timer.
func (p *pipeline) close() (startDrain bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listTimer != nil {
		p.listTimer.Stop()
		p.listTimer = nil
	}
	p.queue = append(p.queue, delivery{kind: deliverClosed})
	return p.claimDrainLocked()
}

// markClosed is set by the drain once the closed notice went out.
func (p *pipeline) markClosed() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
}

func (p *pipeline) stopTimer() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listTimer != nil {
		p.listTimer.Stop()
		p.listTimer = nil
	}
}
