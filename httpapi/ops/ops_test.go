package ops

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"chatgateway/gateway"
	"chatgateway/gateway/engineio"
	"chatgateway/gateway/redisbroker"
	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

type pingFunc func(context.Context) error

func (f pingFunc) Ping(ctx context.Context) error { return f(ctx) }

func TestReadyNamesTheFailedCheck(t *testing.T) {
	storeErr := errors.New("redis down")
	var storeFails bool
	var logs strings.Builder
	h := NewHealth(0, slog.New(slog.NewTextHandler(&logs, nil)),
		Check{"store", pingFunc(func(context.Context) error {
			if storeFails {
				return storeErr
			}
			return nil
		})},
		Check{"broker", pingFunc(func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })}, // never answers
	)
	get := func(method, path string) (int, ReadyAnswer) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(method, path, nil)
		if path == PathHealthz {
			h.Live(rec, req)
		} else {
			h.Ready(rec, req)
		}
		var ans ReadyAnswer
		if method == http.MethodGet {
			if err := json.Unmarshal(rec.Body.Bytes(), &ans); err != nil {
				t.Fatalf("%s body %q: %v", path, rec.Body, err)
			}
		} else if rec.Body.Len() != 0 {
			t.Fatalf("HEAD %s has a body", path)
		}
		return rec.Code, ans
	}
	h.timeout = 50 * time.Millisecond // the broker check must time out, not hang
	status, ans := get(http.MethodGet, PathReadyz)
	if status != http.StatusServiceUnavailable || ans.Status != StatusUnavailable || ans.Checks["store"] != "ok" || ans.Checks["broker"] != "failed" {
		t.Fatalf("broker not answering: %d %+v", status, ans)
	}
	storeFails = true
	if status, ans = get(http.MethodGet, PathReadyz); ans.Checks["store"] != "failed" || status != http.StatusServiceUnavailable {
		t.Fatalf("store failing: %d %+v", status, ans)
	}
	if strings.Contains(ans.Status+ans.Checks["store"], "redis down") {
		t.Fatal("the cause is shown to whoever asks")
	}
	if !strings.Contains(logs.String(), "redis down") || strings.Count(logs.String(), "readiness check failing") != 2 {
		t.Fatalf("logs %q: want each check's failure logged once", logs.String())
	}
	if status, _ := get(http.MethodHead, PathReadyz); status != http.StatusServiceUnavailable {
		t.Fatalf("HEAD /readyz %d", status)
	}
	h.Drain()
	if status, ans = get(http.MethodGet, PathReadyz); status != http.StatusServiceUnavailable || ans.Status != StatusDraining {
		t.Fatalf("draining: %d %+v", status, ans)
	}
	if status, _ := get(http.MethodGet, PathHealthz); status != http.StatusOK {
		t.Fatalf("/healthz while draining: %d", status)
	}
}

func TestRedactedRequestURI(t *testing.T) {
	for raw, want := range map[string]string{
		"/socket.io/?EIO=3&transport=polling&token=eyJhbGciOi.x.y": "/socket.io/?EIO=3&transport=polling&token=xxxxx",
		"/socket.io/?TOKEN=a&t=1":                                  "/socket.io/?TOKEN=xxxxx&t=1",
		"/socket.io/?to%6Ben=a":                                    "/socket.io/?to%6Ben=xxxxx",
		"/api/v1/rooms/a%2Fb/messages?fromIndex=1":                 "/api/v1/rooms/a%2Fb/messages?fromIndex=1",
		"/api/v1/rooms":                                            "/api/v1/rooms",
		"/x?token":                                                 "/x?token",
	} {
		u, err := url.ParseRequestURI(raw)
		if err != nil {
			t.Fatal(err)
		}
		if got := RedactedRequestURI(u); got != want {
			t.Errorf("%s: %s, want %s", raw, got, want)
		}
	}
}

func TestAccessLogLevels(t *testing.T) {
	var out strings.Builder
	logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := AccessLog(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
		}
	}), logger)
	for _, target := range []string{"/api/v1/rooms", "/missing", "/socket.io/?EIO=4&transport=polling",
		"/socket.io/?EIO=4&transport=polling&sid=abc", PathHealthz, PathReadyz, PathMetrics} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, target, nil))
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("info access lines %q, want the REST request, the 404 and the handshake", lines)
	}
	for i, want := range []string{"path=/api/v1/rooms status=200", "path=/missing status=404", `path="/socket.io/?EIO=4&transport=polling" status=200`} {
		if !strings.Contains(lines[i], want) || !strings.Contains(lines[i], "method=GET") || !strings.Contains(lines[i], "duration=") || !strings.Contains(lines[i], "remote=") {
			t.Errorf("line %d %q lacks %s, method, duration or remote", i, lines[i], want)
		}
	}
}

type failingStore struct {
	rooms.Store
	err error
}

func (s failingStore) AppendMessage(context.Context, string, rooms.NewMessage) (rooms.Message, error) {
	return rooms.Message{}, s.err
}

func TestStoreErrorsCountFailuresOnly(t *testing.T) {
	m := NewMetrics()
	ctx := context.Background()
	for _, err := range []error{rooms.RoomNotFound("x"), &rooms.ValidationError{}, rooms.Unavailable(errors.New("down")), errors.New("disk full")} {
		_, _ = m.InstrumentStore(failingStore{err: err}).AppendMessage(ctx, "x", rooms.NewMessage{})
	}
	if got := testutil.ToFloat64(m.store.errors.WithLabelValues("append_message")); got != 2 {
		t.Fatalf("append_message errors %v, want 2 (unavailable, internal)", got)
	}

	// A history read's own callback error (a client gone) is not the store's.
	s := m.InstrumentStore(memstore.New())
	if err := s.CreateRoom(ctx, rooms.Room{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Username: "a", Content: "b"}); err != nil {
		t.Fatal(err)
	}
	gone := errors.New("client gone")
	err := s.ReadMessages(ctx, "r", 1, 10, func(r rooms.MessageRange) error {
		return r.Pages(ctx, func([]rooms.Message) error { return gone })
	})
	if !errors.Is(err, gone) {
		t.Fatalf("ReadMessages: %v", err)
	}
	for _, op := range []string{"read_messages", "message_pages"} {
		if got := testutil.ToFloat64(m.store.errors.WithLabelValues(op)); got != 0 {
			t.Errorf("%s errors %v after the caller's own error", op, got)
		}
	}
	if n := testutil.CollectAndCount(m.store.duration, "chat_store_call_duration_seconds"); n != len(storeOperations) {
		t.Errorf("%d duration series, want one per operation (%d)", n, len(storeOperations))
	}
}

type fakeEngine struct{}

func (fakeEngine) Stats() engineio.Stats {
	return engineio.Stats{Open: map[string]map[string]int64{"4": {"websocket": 1}}, Opened: map[string]map[string]uint64{"4": {"websocket": 1}},
		Upgrades: map[string]uint64{"4": 0}, Closed: map[string]uint64{"slow_consumer": 1}}
}

type fakeGateway struct{}

func (fakeGateway) Stats() gateway.Stats {
	return gateway.Stats{Sockets: 1, Refusals: map[string]uint64{gateway.CodeRateLimited: 2}}
}

// TestMetricNamesFollowTheConventions runs Prometheus's own linter on the
// whole registry.
func TestMetricNamesFollowTheConventions(t *testing.T) {
	m := NewMetrics()
	m.Observe(Sources{Engine: fakeEngine{}, Gateway: fakeGateway{}})
	m.RESTRefused("admin-token")
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(`
# HELP chat_refusals_total Requests, connections and events refused by a limit or a check, by reason.
# TYPE chat_refusals_total counter
chat_refusals_total{reason="admin-token"} 1
chat_refusals_total{reason="cross-origin"} 0
chat_refusals_total{reason="rate-limited"} 2
chat_refusals_total{reason="rest-write-rate"} 0
`), "chat_refusals_total"); err != nil {
		t.Error(err)
	}
}

type fakeListener struct{}

func (fakeListener) Open() int                      { return 1 }
func (fakeListener) Refused() (total, perIP uint64) { return 0, 0 }

type fakeCount struct{}

func (fakeCount) Refused() uint64          { return 0 }
func (fakeCount) Stats() redisbroker.Stats { return redisbroker.Stats{} }

// TestDashboardQueriesExistingMetrics: every metric the shipped Grafana
// dashboard queries is one this server exports.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "cmd", "chatserver", "deploy", "grafana", "chat-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatal(err)
	}
	// The real engine and gateway, for every label their Stats have.
	sio := socketio.NewServer(socketio.Config{})
	gw, err := gateway.New(context.Background(), rooms.NewService(memstore.New()), gateway.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gw.Shutdown(context.Background())
	gw.Register(sio)
	m := NewMetrics()
	m.Observe(Sources{Engine: sio.Engine(), Events: sio, Gateway: gw, Listener: fakeListener{}, Sessions: fakeCount{}, Broker: fakeCount{}})
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				exported[f.GetName()+suffix] = true
			}
		}
	}
	name := regexp.MustCompile(`\b(?:chat|go|process)_[a-z_]+\b`)
	queried := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, metric := range name.FindAllString(target.Expr, -1) {
				queried++
				if !exported[metric] {
					t.Errorf("panel %q queries %s, which the server does not export", p.Title, metric)
				}
			}
		}
	}
	if queried < 20 {
		t.Fatalf("the dashboard queries only %d metrics", queried)
	}
}
