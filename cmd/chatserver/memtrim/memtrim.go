// Package memtrim gives the memory a burst of work left behind back to the
// operating system once the process has gone quiet.
//
// The Go runtime returns free heap memory to the system slowly, and only
// down to about what its next collection's goal allows (by default twice
// the live heap): a server that accepted ten thousand connections and saw
// each join a room keeps the garbage of those joins, and the pages it
// freed, in its resident set until it is busy again. Node's V8 has a
// "memory reducer" for this: when the allocation rate drops it runs
// collections that shrink the heap. Trimmer does the same for Go: every
// interval it reads the runtime's metrics, and when the last interval
// allocated little (QuietBytesPerSecond) while at least MinReclaim, and a
// quarter of the live heap, could be reclaimed, it runs a collection and
// returns every free page (debug.FreeOSMemory). A busy process is never
// interrupted, and a process is trimmed once per burst: after a trim, only
// an interval that was not quiet (a new burst) makes it eligible again.
//
// Why once: a trim is a forced collection and a scavenge of the whole heap,
// a stop of several milliseconds on one core. A server carrying steady
// light traffic (500 chat messages/s allocate under 2 MiB/s) is quiet by
// the allocation rate, and its ordinary garbage between collections passes
// MinReclaim: it was trimmed every second, and those stops were most of
// its p99 latency at half of Node socket.io's saturation in make bench
// (3.8-5.1 ms with, 1.7-3.1 ms without).
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// DefaultInterval is how often the process's memory is looked at.
const DefaultInterval = time.Second

const (
	// QuietBytesPerSecond is the allocation rate under which the process
	// counts as quiet. Idle sockets answering heartbeats allocate a few
	// hundred bytes each per ping interval: 100,000 of them stay well
	// under it, while one chat message a millisecond goes over.
	QuietBytesPerSecond = 4 << 20
	// MinReclaim is the least reclaimable memory worth a collection.
	MinReclaim = 4 << 20
)

// Sample is what a decision is made from.
type Sample struct {
	// Allocated is the cumulative bytes allocated on the heap.
	Allocated uint64
	// Objects is the memory of heap objects, live or not yet collected.
	Objects uint64
	// Live is the heap that survived the last collection.
	Live uint64
	// Free is heap memory free but not returned to the system.
	Free uint64
}

// Reclaimable is what a collection and a release would give back: the
// garbage since the last collection and the free pages kept.
func (s Sample) Reclaimable() uint64 {
	garbage := uint64(0)
	if s.Objects > s.Live {
		garbage = s.Objects - s.Live
	}
	return garbage + s.Free
}

// ShouldTrim reports whether, seeing cur an interval after prev, the
// process should be trimmed.
func ShouldTrim(prev, cur Sample, interval time.Duration) bool {
	r := cur.Reclaimable()
	return Quiet(prev, cur, interval) && r >= MinReclaim && r >= cur.Live/4
}

// Quiet reports whether the process allocated under QuietBytesPerSecond
// between prev and cur, an interval apart.
func Quiet(prev, cur Sample, interval time.Duration) bool {
	return float64(cur.Allocated-prev.Allocated) < QuietBytesPerSecond*interval.Seconds()
}

var metricNames = []string{
	"/gc/heap/allocs:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
	"/memory/classes/heap/free:bytes",
}

// Read samples the runtime's metrics.
func Read() Sample {
	ms := make([]metrics.Sample, len(metricNames))
	for i, n := range metricNames {
		ms[i].Name = n
	}
	metrics.Read(ms)
	v := func(i int) uint64 {
		if ms[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return ms[i].Value.Uint64()
	}
	return Sample{Allocated: v(0), Objects: v(1), Live: v(2), Free: v(3)}
}

// Run trims the process whenever ShouldTrim says so, looking every
// interval, until ctx ends.
func Run(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	ticks := time.NewTicker(interval)
	defer ticks.Stop()
	t := trimmer{read: Read, release: debug.FreeOSMemory, interval: interval, log: logger}
	t.run(ctx, ticks.C)
}

// trimmer is Run's loop with its effects as fields, for tests.
type trimmer struct {
	read     func() Sample
	release  func()
	interval time.Duration
	log      *slog.Logger
}

func (t trimmer) run(ctx context.Context, ticks <-chan time.Time) {
	prev := t.read()
	armed := true // starting up is a burst
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticks:
		}
		cur := t.read()
		if !Quiet(prev, cur, t.interval) {
			armed = true
		}
		if armed && ShouldTrim(prev, cur, t.interval) {
			armed = false
			start := time.Now()
			t.release()
			after := t.read()
			t.log.Debug("memtrim: returned memory to the system", "reclaimable", cur.Reclaimable(), "live", after.Live, "took", time.Since(start))
			cur = after
		}
		prev = cur
	}
}
