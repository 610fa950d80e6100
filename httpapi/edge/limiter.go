package edge

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxTrackedKeys bounds the addresses a RateLimiter remembers at once
// (about 200 bytes each). Addresses are forgotten once their bucket is full
// again, so only a flood from more addresses than this within one refill
// period reaches it; the limiter then lets new addresses through untracked
// rather than refuse everyone.
const maxTrackedKeys = 100_000

// RateLimiter is a token bucket per client address key (golang.org/x/time/rate).
// A bucket left alone until it is full again is the same as a new one, so
// it is dropped then: memory follows the addresses active within one
// refill period (burst/rate), not every address ever seen.
type RateLimiter struct {
	limit  rate.Limit
	burst  int
	refill time.Duration
	now    func() time.Time

	mu        sync.Mutex
	buckets   map[netip.Addr]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// NewRateLimiter allows perSecond events per key on average, burst at once.
func NewRateLimiter(perSecond float64, burst int) *RateLimiter {
	return newRateLimiter(perSecond, burst, time.Now)
}

func newRateLimiter(perSecond float64, burst int, now func() time.Time) *RateLimiter {
	burst = max(burst, 1)
	refill := time.Duration(float64(burst) / perSecond * float64(time.Second))
	return &RateLimiter{
		limit:   rate.Limit(perSecond),
		burst:   burst,
		refill:  max(refill, time.Second),
		now:     now,
		buckets: make(map[netip.Addr]*bucket),
	}
}

// Allow takes one token from key's bucket. When it is empty, the event is
// refused and retryAfter says when a token will be there.
func (l *RateLimiter) Allow(key netip.Addr) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) >= l.refill {
		l.sweep(now)
	}
	b, found := l.buckets[key]
	if !found {
		if len(l.buckets) >= maxTrackedKeys {
			return true, 0
		}
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return false, delay
	}
	return true, 0
}

// sweep drops the buckets that have had time to fill up again.
func (l *RateLimiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= l.refill {
			delete(l.buckets, k)
		}
	}
	l.lastSweep = now
}

// Tracked is how many addresses the limiter remembers now.
func (l *RateLimiter) Tracked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// RequestLimiter applies a RateLimiter to each request's client address.
type RequestLimiter struct {
	IPs     *ClientIPs
	Limiter *RateLimiter
}

// Allow takes a token of r's client (see RateLimiter.Allow).
func (l RequestLimiter) Allow(r *http.Request) (ok bool, retryAfter time.Duration) {
	a := l.IPs.Of(r)
	if !a.IsValid() {
		return true, 0
	}
	return l.Limiter.Allow(Key(a))
}
