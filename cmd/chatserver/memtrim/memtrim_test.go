package memtrim

import (
	"context"
	"log/slog"
	"runtime"
	"testing"
	"time"
)

func TestShouldTrim(t *testing.T) {
	const mib = 1 << 20
	base := Sample{Allocated: 1000 * mib, Objects: 40 * mib, Live: 40 * mib}
	tests := []struct {
		name string
		cur  Sample
		want bool
	}{
		{"quiet, a burst's garbage and free pages", Sample{Allocated: base.Allocated + mib, Objects: 60 * mib, Live: 40 * mib, Free: 20 * mib}, true},
		{"busy: allocating fast", Sample{Allocated: base.Allocated + 50*mib, Objects: 60 * mib, Live: 40 * mib, Free: 20 * mib}, false},
		{"quiet, little to gain", Sample{Allocated: base.Allocated, Objects: 41 * mib, Live: 40 * mib, Free: 2 * mib}, false},
		{"quiet, under a quarter of the live heap", Sample{Allocated: base.Allocated, Objects: 400 * mib, Live: 400 * mib, Free: 90 * mib}, false},
		{"quiet, a quarter of the live heap", Sample{Allocated: base.Allocated, Objects: 400 * mib, Live: 400 * mib, Free: 100 * mib}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ShouldTrim(base, tt.cur, time.Second); got != tt.want {
				t.Errorf("ShouldTrim = %v, want %v (reclaimable %d MiB)", got, tt.want, tt.cur.Reclaimable()/mib)
			}
		})
	}
}

// TestTrimsOncePerBurst drives the loop through a burst, the quiet after
// it, light traffic whose garbage would pass the thresholds, and a second
// burst: memory is released once per burst, when it is over.
func TestTrimsOncePerBurst(t *testing.T) {
	const mib = 1 << 20
	quietAfterBurst := Sample{Allocated: 401 * mib, Objects: 60 * mib, Live: 40 * mib, Free: 30 * mib}
	trimmed := Sample{Allocated: 401 * mib, Objects: 40 * mib, Live: 40 * mib}
	samples := []Sample{
		{Allocated: 100 * mib, Objects: 20 * mib, Live: 10 * mib, Free: 10 * mib}, // start
		{Allocated: 400 * mib, Objects: 60 * mib, Live: 40 * mib, Free: 30 * mib}, // the burst
		quietAfterBurst, // quiet: trim
		trimmed,         // read after the release
		{Allocated: 402 * mib, Objects: 41 * mib, Live: 40 * mib},                 // quiet, nothing to gain
		{Allocated: 404 * mib, Objects: 56 * mib, Live: 40 * mib, Free: 10 * mib}, // light traffic: no new burst
		{Allocated: 406 * mib, Objects: 58 * mib, Live: 40 * mib, Free: 10 * mib}, // light traffic
		{Allocated: 900 * mib, Objects: 80 * mib, Live: 40 * mib, Free: 40 * mib}, // busy: a burst
		{Allocated: 901 * mib, Objects: 80 * mib, Live: 40 * mib, Free: 40 * mib}, // quiet: trim
		trimmed, // read after the release
	}
	var reads, releases int
	read := func() Sample {
		s := samples[reads]
		reads++
		return s
	}
	ticks := make(chan time.Time)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		trimmer{read: read, release: func() { releases++ }, interval: time.Second, log: slog.New(slog.DiscardHandler)}.run(ctx, ticks)
	}()
	// the burst, the quiet, nothing to gain, light traffic twice, busy,
	// the quiet after
	for range 7 {
		ticks <- time.Time{}
	}
	cancel()
	<-done
	if reads != len(samples) || releases != 2 {
		t.Errorf("%d reads, %d releases; want %d reads, 2 releases (one per burst, none under light traffic)", reads, releases, len(samples))
	}
}

// TestReadSeesABurst: the runtime's metrics show a burst's garbage as
// reclaimable, so the trimmer has something to act on.
func TestReadSeesABurst(t *testing.T) {
	before := Read()
	var keep [][]byte
	for range 16 {
		keep = append(keep, make([]byte, 1<<20))
	}
	runtime.KeepAlive(keep)
	after := Read()
	if after.Allocated-before.Allocated < 16<<20 {
		t.Errorf("allocated %d bytes, the metrics saw %d", 16<<20, after.Allocated-before.Allocated)
	}
}
