package edge

import (
	"net/netip"
	"sync"
)

// perKeyCounter counts open things (connections, sessions) per address key
// and refuses one over max. Keys at zero are dropped, so its memory follows
// what is open.
type perKeyCounter struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
}

func newPerKeyCounter(max int) *perKeyCounter {
	return &perKeyCounter{max: max, n: make(map[netip.Addr]int)}
}

// acquire counts one more for key unless key is at max.
func (c *perKeyCounter) acquire(key netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= c.max {
		return false
	}
	c.n[key]++
	return true
}

func (c *perKeyCounter) release(key netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] <= 1 {
		delete(c.n, key)
		return
	}
	c.n[key]--
}
