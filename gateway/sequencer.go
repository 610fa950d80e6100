package gateway

import (
	"maps"
	"slices"
	"sync"
	"time"

	"chatgateway/rooms"
)

// sequencer puts one room's messages back in order: message n is released
// only after n-1, duplicates are dropped, and a gap that outlives the
// reorder timeout is filled from the store. Released messages go to the
// room's pipeline while the sequencer's lock is held, so the pipeline gets
// them in order however many goroutines deliver envelopes.
type sequencer struct {
	mu       sync.Mutex
	ready    bool  // started: next is known
	next     int64 // next order to release
	pending  map[int64]rooms.Message
	gapTimer *time.Timer
	stopped  bool // the room was closed
}

// start sets where the sequence begins (the store's last order plus one),
// unless it has begun already; then onStarted runs under the lock, before
// any message can be released.
func (q *sequencer) start(last int64, onStarted func()) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ready || q.stopped {
		return
	}
	q.ready, q.next = true, last+1
	onStarted()
}

func (q *sequencer) isReady() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.ready
}

// position is the next order to release, and whether the sequence began.
func (q *sequencer) position() (next int64, ready bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.next, q.ready && !q.stopped
}

// arrival is what the sequencer decided about one message.
type arrival int

const (
	arrivalReleased arrival = iota // in order: released, with any successors waiting
	arrivalEarly                   // ahead of order: waits, a gap timer runs
	arrivalDropped                 // a duplicate, or the room is not sequenced here
)

// arrive feeds a message. release gets every message released, in order,
// under the lock; armGap is called, under the lock, when a gap timer must
// run in d (0: at once).
func (q *sequencer) arrive(m rooms.Message, release func(rooms.Message), armGap func(d time.Duration) *time.Timer, reorderTimeout time.Duration, reorderLimit int) arrival {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ready || q.stopped {
		return arrivalDropped
	}
	switch {
	case m.Order < q.next:
		return arrivalDropped
	case m.Order == q.next:
		release(m)
		q.next++
		q.releaseWaitingLocked(release)
		return arrivalReleased
	default:
		if q.pending == nil {
			q.pending = make(map[int64]rooms.Message)
		}
		q.pending[m.Order] = m
		switch {
		case len(q.pending) >= reorderLimit:
			if q.gapTimer != nil {
				q.gapTimer.Stop()
			}
			q.gapTimer = armGap(0)
		case q.gapTimer == nil:
			q.gapTimer = armGap(reorderTimeout)
		}
		return arrivalEarly
	}
}

// releaseWaitingLocked releases the contiguous run of waiting messages.
func (q *sequencer) releaseWaitingLocked(release func(rooms.Message)) {
	for {
		m, ok := q.pending[q.next]
		if !ok {
			break
		}
		delete(q.pending, q.next)
		release(m)
		q.next++
	}
	if len(q.pending) == 0 && q.gapTimer != nil {
		q.gapTimer.Stop()
		q.gapTimer = nil
	}
}

// gap reports the range to read back from the store when the gap timer
// fired: from the next expected order to the highest waiting one.
func (q *sequencer) gap() (from, to int64, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.gapTimer = nil
	if q.stopped || len(q.pending) == 0 {
		return 0, 0, false
	}
	return q.next, slices.Max(slices.Collect(maps.Keys(q.pending))), true
}

// fill releases what the store has of from..to and drops waiting messages
// up to to (those the store lacks were never stored, or belong to a room
// closed and re-created meanwhile). With storeErr, the store could not be
// read: waiting messages are released as they are, gaps accepted, rather
// than stall the room. It reports the orders the store lacked, for the log,
// and whether a gap remains (the timer is re-armed by the caller).
func (q *sequencer) fill(from, to int64, stored []rooms.Message, storeErr error, release func(rooms.Message)) (lacked bool, remaining bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return false, false
	}
	if storeErr != nil {
		for _, k := range slices.Sorted(maps.Keys(q.pending)) {
			if k >= q.next {
				release(q.pending[k])
				q.next = k + 1
			}
			delete(q.pending, k)
		}
		return false, false
	}
	for _, m := range stored {
		if m.Order >= q.next && m.Order <= to {
			release(m)
			q.next = m.Order + 1
		}
	}
	for k := range q.pending {
		if k <= to {
			delete(q.pending, k)
		}
	}
	lacked = len(stored) == 0 || stored[len(stored)-1].Order < to
	q.releaseWaitingLocked(release)
	return lacked, len(q.pending) > 0
}

// rearm starts the gap timer again if messages still wait and none runs.
func (q *sequencer) rearm(armGap func(d time.Duration) *time.Timer, reorderTimeout time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stopped && len(q.pending) > 0 && q.gapTimer == nil {
		q.gapTimer = armGap(reorderTimeout)
	}
}

// advance moves a sequence that began on to after last, when it stands
// before: waiting messages up to last are dropped, those after it released
// if they follow on. It reports whether it moved.
func (q *sequencer) advance(last int64, release func(rooms.Message)) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.ready || q.stopped || q.next > last {
		return false
	}
	q.next = last + 1
	for k := range q.pending {
		if k <= last {
			delete(q.pending, k)
		}
	}
	q.releaseWaitingLocked(release)
	return true
}

// stop ends the sequence: the room was closed, so a room re-created under
// the same id starts afresh.
func (q *sequencer) stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped, q.ready, q.pending = true, false, nil
	if q.gapTimer != nil {
		q.gapTimer.Stop()
		q.gapTimer = nil
	}
}
