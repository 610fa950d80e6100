package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// The histogram is log-linear, as HdrHistogram: values below 2^histSubBits
// have their own bucket, larger ones fall in one of 2^(histSubBits-1)
// buckets per power of two, so a reported quantile is within 1/32 (~3%) of
// the true value. Values are microseconds; memory is fixed whatever the
// number of samples.
const (
	histSubBits = 6
	histHalf    = 1 << (histSubBits - 1)
	// histMaxExp covers up to 2^41 µs (~25 days): anything above is clamped.
	histMaxExp  = 41
	histBuckets = 1<<histSubBits + (histMaxExp-histSubBits)*histHalf
	// histShards spreads concurrent recorders over several copies, so the
	// reader goroutines of many connections do not fight over one cache line.
	histShards = 64
)

type histShard struct {
	counts [histBuckets]atomic.Uint64
	sum    atomic.Uint64
	max    atomic.Uint64
}

// histogram records durations concurrently with bounded memory.
type histogram struct {
	shards []histShard
}

func newHistogram(shards int) *histogram {
	if shards < 1 {
		shards = 1
	}
	return &histogram{shards: make([]histShard, shards)}
}

func bucketOf(us uint64) int {
	if us < 1<<histSubBits {
		return int(us)
	}
	shift := bits.Len64(us) - histSubBits // >= 1
	i := 1<<histSubBits + (shift-1)*histHalf + int(us>>shift) - histHalf
	if i >= histBuckets {
		return histBuckets - 1
	}
	return i
}

// bucketHigh is the largest value that falls in bucket i.
func bucketHigh(i int) uint64 {
	if i < 1<<histSubBits {
		return uint64(i)
	}
	shift := (i-1<<histSubBits)/histHalf + 1
	sub := uint64((i-1<<histSubBits)%histHalf + histHalf)
	return (sub+1)<<shift - 1
}

// record adds d; shard picks the copy (any int, e.g. a connection index).
func (h *histogram) record(shard int, d time.Duration) {
	us := uint64(0)
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	s := &h.shards[uint(shard)%uint(len(h.shards))]
	s.counts[bucketOf(us)].Add(1)
	s.sum.Add(us)
	for {
		m := s.max.Load()
		if us <= m || s.max.CompareAndSwap(m, us) {
			break
		}
	}
}

func (h *histogram) summary() latencySummary {
	var counts [histBuckets]uint64
	var total, sum, maxUS uint64
	for i := range h.shards {
		s := &h.shards[i]
		for b := range counts {
			c := s.counts[b].Load()
			counts[b] += c
			total += c
		}
		sum += s.sum.Load()
		maxUS = max(maxUS, s.max.Load())
	}
	if total == 0 {
		return latencySummary{}
	}
	quantile := func(q float64) float64 {
		rank := uint64(math.Ceil(q * float64(total)))
		rank = max(rank, 1)
		var seen uint64
		for b, c := range counts {
			seen += c
			if seen >= rank {
				return usToMS(min(bucketHigh(b), maxUS))
			}
		}
		return usToMS(maxUS)
	}
	return latencySummary{
		Count:  total,
		MeanMS: usToMS(sum) / float64(total),
		P50MS:  quantile(0.50),
		P90MS:  quantile(0.90),
		P99MS:  quantile(0.99),
		P999MS: quantile(0.999),
		MaxMS:  usToMS(maxUS),
	}
}

func usToMS(us uint64) float64 { return float64(us) / 1000 }
