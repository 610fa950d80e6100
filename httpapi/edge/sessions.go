package edge

import (
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
)

// DefaultMaxSessionsPerIP is the default cap on Engine.IO sessions open at
// once for one client address. Connections do not bound them: a polling
// session holds no connection between its requests, so one keep-alive
// connection can open thousands. The default leaves room for a large NAT
// (a few thousand people of a company behind one address); deployments
// behind a proxy name it in TRUSTED_PROXIES. The benchmark, whose 100,000
// idle clients share 8 loopback addresses, raises it.
const DefaultMaxSessionsPerIP = 4096

// ErrTooManySessions refuses a session over the per-address cap.
var ErrTooManySessions = errors.New("too many sessions from this address")

// SessionCap caps Engine.IO sessions per client address; Admit is the
// engine's admission hook (engineio.Config.AdmitSession).
type SessionCap struct {
	ips     *ClientIPs
	counter *perKeyCounter
	refused atomic.Uint64
}

// NewSessionCap allows max sessions per client address as ips finds it
// (max below 1: DefaultMaxSessionsPerIP).
func NewSessionCap(ips *ClientIPs, max int) *SessionCap {
	if max < 1 {
		max = DefaultMaxSessionsPerIP
	}
	return &SessionCap{ips: ips, counter: newPerKeyCounter(max)}
}

// Admit counts a new session of r's client, or refuses it with
// ErrTooManySessions. release, called once when the session ends, gives
// its place back. Requests whose client address cannot be read are not
// counted (net/http always sets a parsable peer address).
func (s *SessionCap) Admit(r *http.Request) (release func(), err error) {
	a := s.ips.Of(r)
	if !a.IsValid() {
		return func() {}, nil
	}
	key := Key(a)
	if !s.counter.acquire(key) {
		s.refused.Add(1)
		return nil, ErrTooManySessions
	}
	var once sync.Once
	return func() { once.Do(func() { s.counter.release(key) }) }, nil
}

// Refused counts the sessions refused over the per-address cap.
func (s *SessionCap) Refused() uint64 { return s.refused.Load() }
