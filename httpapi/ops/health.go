// Package ops is the operator's side of the server: the health endpoints
// a load balancer or Kubernetes asks (/healthz, /readyz), the Prometheus
// metrics (/metrics) with the collectors that read the engine's, the
// gateway's and the edge's counters, a store decorator that times every
// store call, and the access log.
//
// The packages it reports on know nothing of Prometheus: they keep plain
// atomic counters (a Stats method) or call a hook, and this package turns
// them into metrics when scraped.
package ops

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReadyTimeout bounds the checks of one readiness probe: far above
// a healthy Redis's round trip, below the probe timeouts of load balancers
// and Kubernetes (1 s by default there, usually raised).
const DefaultReadyTimeout = 2 * time.Second

// Pinger is a dependency that can say whether it answers now (the store,
// the broker).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Check is one readiness check.
type Check struct {
	Name   string
	Pinger Pinger
}

// Health serves /healthz and /readyz.
type Health struct {
	checks   []Check
	timeout  time.Duration
	log      *slog.Logger
	draining atomic.Bool

	mu     sync.Mutex
	failed map[string]bool // checks failing at the last probe, to log changes only
}

// NewHealth checks every one of checks, each within timeout (below 1:
// DefaultReadyTimeout), on every readiness probe.
func NewHealth(timeout time.Duration, logger *slog.Logger, checks ...Check) *Health {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &Health{checks: checks, timeout: timeout, log: logger, failed: map[string]bool{}}
}

// Drain makes /readyz answer 503 from now on: the server is shutting down
// and a load balancer should send nothing new.
func (h *Health) Drain() { h.draining.Store(true) }

// Readiness statuses in /readyz answers.
const (
	StatusReady       = "ready"
	StatusUnavailable = "unavailable"
	StatusDraining    = "draining"
	checkOK           = "ok"
	checkFailed       = "failed"
)

// ReadyAnswer is the body of /readyz: the status and, per check, "ok" or
// "failed" (the cause is logged, not shown to whoever asks).
type ReadyAnswer struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

// Live is /healthz: the process serves HTTP.
func (h *Health) Live(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// Ready is /readyz: 200 when every check answered within the timeout, 503
// with the failed checks named otherwise, and 503 while draining.
func (h *Health) Ready(w http.ResponseWriter, r *http.Request) {
	if h.draining.Load() {
		writeJSON(w, r, http.StatusServiceUnavailable, ReadyAnswer{Status: StatusDraining, Checks: map[string]string{}})
		return
	}
	ans := ReadyAnswer{Status: StatusReady, Checks: make(map[string]string, len(h.checks))}
	errs := h.run(r.Context())
	status := http.StatusOK
	for i, c := range h.checks {
		ans.Checks[c.Name] = checkOK
		if errs[i] != nil {
			ans.Checks[c.Name] = checkFailed
			ans.Status = StatusUnavailable
			status = http.StatusServiceUnavailable
		}
	}
	writeJSON(w, r, status, ans)
}

// run pings every check at once, each within the timeout, and logs the
// checks that start or stop failing.
func (h *Health) run(ctx context.Context) []error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	errs := make([]error, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
		wg.Go(func() { errs[i] = c.Pinger.Ping(ctx) })
	}
	wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, c := range h.checks {
		switch was := h.failed[c.Name]; {
		case errs[i] != nil && !was:
			h.log.Warn("readiness check failing", "check", c.Name, "err", errs[i])
		case errs[i] == nil && was:
			h.log.Info("readiness check passing again", "check", c.Name)
		}
		h.failed[c.Name] = errs[i] != nil
	}
	return errs
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, _ := json.Marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}
