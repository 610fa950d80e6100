package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gorilla/websocket"

	"chatgateway/httpapi/ops"
	"chatgateway/rooms/redisstore/redistest"
)

// inProcess is run() on a loopback port with the given environment.
type inProcess struct {
	t      *testing.T
	base   string
	addr   string
	cancel context.CancelFunc
	done   chan error
	logs   *lockedBuffer
}

func runInProcess(t *testing.T, env map[string]string) *inProcess {
	t.Helper()
	all := map[string]string{"HOST": "127.0.0.1", "PORT": "0", "STORE": "memory"}
	for k, v := range env {
		all[k] = v
	}
	cfg, err := loadConfig(nil, func(k string) string { return all[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	p := &inProcess{t: t, done: make(chan error, 1), logs: &lockedBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	ready := make(chan net.Addr, 1)
	logger := newLogger(p.logs, cfg)
	go func() { p.done <- run(ctx, cfg, logger, ready) }()
	select {
	case a := <-ready:
		p.addr = a.String()
		p.base = "http://" + p.addr
	case err := <-p.done:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(processStartTimeout):
		t.Fatal("server did not start")
	}
	t.Cleanup(func() {
		p.cancel()
		select {
		case <-p.done:
		case <-time.After(processStopTimeout):
			t.Error("run did not return after cancel")
		}
		if t.Failed() {
			t.Logf("server logs (tail):\n%s", tail(p.logs.String(), 40))
		}
	})
	return p
}

// scrape reads /metrics with the Prometheus text parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", url, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return families
}

// value is the value of the sample of name whose labels include labels
// (a histogram's sample count), or -1 when there is none.
func value(families map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := families[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// waitMetric scrapes until cond holds for the sample, or fails.
func waitMetric(t *testing.T, url, what string, cond func(families map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	deadline := time.Now().Add(eventTimeout)
	for {
		f := scrape(t, url)
		if cond(f) {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics never showed %s within %v", what, eventTimeout)
		}
		time.Sleep(20 * time.Millisecond) // a scrape interval, not synchronisation: the condition decides
	}
}

// rawWS is a WebSocket Socket.IO client that joins a room and then never
// reads: a slow consumer.
func rawWS(t *testing.T, addr, roomID, username string) *websocket.Conn {
	t.Helper()
	dialer := websocket.Dialer{
		HandshakeTimeout: eventTimeout,
		NetDialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, address)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(4096)
			}
			return c, err
		},
	}
	conn, _, err := dialer.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetReadDeadline(time.Now().Add(eventTimeout))
	read := func(prefix string) {
		t.Helper()
		_, msg, err := conn.ReadMessage()
		if err != nil || !strings.HasPrefix(string(msg), prefix) {
			t.Fatalf("raw client: read %q %v, want %s...", msg, err, prefix)
		}
	}
	read("0{")
	if err := conn.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	read("40{")
	join, _ := json.Marshal([]any{"participants", map[string]string{"roomId": roomID, "username": username}})
	if err := conn.WriteMessage(websocket.TextMessage, append([]byte("42"), join...)); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestMetricsFollowClients scrapes /metrics of a real server while real
// clients connect, join, post, one is cut off as a slow consumer, and the
// others disconnect: every gauge and counter involved moves accordingly.
func TestMetricsFollowClients(t *testing.T) {
	// Large posts, so few fill the slow member's socket buffers and queue.
	const contentSize = 60 << 10
	srv := runInProcess(t, map[string]string{"MAX_BUFFERED": "1048576", "EVENT_RATE": "off", "LOG_LEVEL": "debug"})
	metricsURL := srv.base + ops.PathMetrics
	before := scrape(t, metricsURL)
	if got := value(before, "chat_sockets"); got != 0 {
		t.Fatalf("chat_sockets before any client = %v, want 0", got)
	}
	for _, name := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if before[name] == nil {
			t.Fatalf("%s missing from /metrics", name)
		}
	}
	createRoom(t, srv.base, "m")

	node := &serverProcess{name: "in-process", addr: srv.addr}
	alice, bob := dialChat(t, "alice", node), dialChat(t, "bob", node)
	after := waitMetric(t, metricsURL, "two sockets", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "chat_sockets") == 2 && value(f, "chat_engineio_sessions", "eio", "4", "transport", "websocket") == 2
	})
	if got := value(after, "chat_engineio_sessions_opened_total", "eio", "4", "transport", "websocket"); got != 2 {
		t.Errorf("sessions opened over websocket = %v, want 2", got)
	}
	if got := value(after, "chat_http_connections"); got < 2 {
		t.Errorf("chat_http_connections = %v with two WebSockets open", got)
	}

	alice.join("m")
	bob.join("m")
	joined := waitMetric(t, metricsURL, "one room with members", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "chat_rooms_with_local_members") == 1
	})
	if got := value(joined, "chat_socketio_events_received_total", "event", "participants"); got != 2 {
		t.Errorf("participants events = %v, want 2", got)
	}

	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	const posts = 3
	for i := range posts {
		if _, err := alice.chat(ctx, "m", fmt.Sprintf("hello %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	bob.waitUntil(eventTimeout, "alice's messages", func() bool { return len(bob.messages["m"]) == posts })
	if err := alice.conn.Emit("no-such-event", 1); err != nil {
		t.Fatal(err)
	}
	posted := waitMetric(t, metricsURL, "the posts delivered and the unknown event", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "chat_socketio_events_received_total", "event", "other") == 1 &&
			value(f, "chat_deliveries_total", "kind", "message") >= 2*posts
	})
	for _, check := range []struct {
		what      string
		got, want float64
	}{
		{"chat events", value(posted, "chat_socketio_events_received_total", "event", "chat"), posts},
		{"message deliveries (2 members x 3 posts)", value(posted, "chat_deliveries_total", "kind", "message"), 2 * posts},
		{"append_message store calls", value(posted, "chat_store_call_duration_seconds", "operation", "append_message"), posts},
		{"store errors", value(posted, "chat_store_errors_total", "operation", "append_message"), 0},
	} {
		if check.got != check.want {
			t.Errorf("%s = %v, want %v", check.what, check.got, check.want)
		}
	}
	if sent := value(posted, "chat_engineio_sent_bytes_total", "transport", "websocket") - value(after, "chat_engineio_sent_bytes_total", "transport", "websocket"); sent < 2*posts*float64(len("hello 0")) {
		t.Errorf("websocket bytes sent grew by %v over %d deliveries", sent, 2*posts)
	}
	if value(posted, "chat_broker_publishes_total") < posts || value(posted, "chat_broker_receives_total") < posts {
		t.Errorf("broker publishes %v, receives %v after %d posts", value(posted, "chat_broker_publishes_total"), value(posted, "chat_broker_receives_total"), posts)
	}

	// A member that stops reading is cut off once its queue overflows.
	rawWS(t, srv.addr, "m", "slow")
	bob.waitUntil(eventTimeout, "the slow member's entry", func() bool {
		for _, p := range bob.lists["m"] {
			if p.Username == "slow" && p.Connected {
				return true
			}
		}
		return false
	})
	content := strings.Repeat("x", contentSize)
	cut := false
	floodCtx, cancelFlood := context.WithTimeout(context.Background(), 2*time.Minute) // a hung-test guard
	defer cancelFlood()
	flooded := 0
	for i := 1; i <= 1000 && !cut; i++ { // bound: ~60 MB, far past any socket buffer
		flooded = i
		if _, err := alice.chat(floodCtx, "m", content); err != nil {
			t.Fatal(err)
		}
		// Paced by the members that do read: on a loaded machine they
		// would otherwise fall a megabyte behind too and be cut as well.
		for _, member := range []*chatClient{alice, bob} {
			member.waitUntil(eventTimeout, "the flood's post", func() bool { return len(member.messages["m"]) >= posts+i })
		}
		if i%5 == 0 {
			cut = value(scrape(t, metricsURL), "chat_engineio_disconnects_total", "reason", "slow_consumer") == 1
		}
	}
	if !cut {
		t.Fatal("the slow member was never counted as cut off (or a reading member was cut too)")
	}
	t.Logf("the slow member was cut off within %d posts of %d KiB", flooded, contentSize>>10)
	waitMetric(t, metricsURL, "the slow member gone", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "chat_sockets") == 2
	})

	alice.conn.Close()
	bob.conn.Close()
	gone := waitMetric(t, metricsURL, "every socket gone", func(f map[string]*dto.MetricFamily) bool {
		return value(f, "chat_sockets") == 0 && value(f, "chat_rooms_with_local_members") == 0 &&
			value(f, "chat_engineio_sessions", "eio", "4", "transport", "websocket") == 0
	})
	if closed := value(gone, "chat_engineio_disconnects_total", "reason", "client_close") + value(gone, "chat_engineio_disconnects_total", "reason", "transport_close"); closed != 2 {
		t.Errorf("client disconnects counted %v, want 2", closed)
	}
	logs := srv.logs.String()
	for _, want := range []string{`msg="gateway: socket connected"`, `msg="gateway: socket joined a room"`, `msg="gateway: socket left a room"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("debug log lacks %s", want)
		}
	}
}

// TestRefusalsAreCounted: each kind of refusal shows in chat_refusals_total
// under its reason.
func TestRefusalsAreCounted(t *testing.T) {
	srv := runInProcess(t, map[string]string{"ADMIN_TOKEN": "operator-token", "EVENT_RATE": "0.001", "EVENT_BURST": "1"})
	status, _ := rest(t, http.MethodPost, srv.base+"/api/v1/rooms", `{"roomId":"r","creatorUsername":"bob"}`)
	if status != http.StatusUnauthorized {
		t.Fatalf("create without the token: %d", status)
	}
	node := &serverProcess{name: "in-process", addr: srv.addr}
	c := dialChat(t, "carol", node)
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	_, err := c.chat(ctx, "r", "first") // uses the burst: refused as not joined
	if err == nil || !strings.Contains(err.Error(), "room.not-fond") && !strings.Contains(err.Error(), "room.not-joined") {
		t.Fatalf("first chat: %v", err)
	}
	if _, err := c.chat(ctx, "r", "second"); err == nil || !strings.Contains(err.Error(), "rate-limited") {
		t.Fatalf("second chat: %v, want rate-limited", err)
	}
	f := scrape(t, srv.base+ops.PathMetrics)
	for reason, want := range map[string]float64{"admin-token": 1, "rate-limited": 1, "max-conns": 0, "cross-origin": 0} {
		if got := value(f, "chat_refusals_total", "reason", reason); got != want {
			t.Errorf("refusals %s = %v, want %v", reason, got, want)
		}
	}
}

// TestReadyzFollowsRedis: /readyz is 200 with Redis up, 503 naming the
// failed checks while it is killed, and 200 again once it is back;
// /healthz stays 200 throughout.
func TestReadyzFollowsRedis(t *testing.T) {
	redis := redistest.Start(t)
	srv := runInProcess(t, map[string]string{"STORE": redis.URL(0), "READY_TIMEOUT": "1s"})
	ready := func() (int, ops.ReadyAnswer) {
		t.Helper()
		status, body := rest(t, http.MethodGet, srv.base+ops.PathReadyz, "")
		var ans ops.ReadyAnswer
		if err := json.Unmarshal(body, &ans); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		return status, ans
	}
	waitReady := func(want int, what string) ops.ReadyAnswer {
		t.Helper()
		deadline := time.Now().Add(eventTimeout)
		for {
			status, ans := ready()
			if status == want {
				return ans
			}
			if time.Now().After(deadline) {
				t.Fatalf("/readyz never answered %d (%s) within %v: last %d %+v", want, what, eventTimeout, status, ans)
			}
			time.Sleep(20 * time.Millisecond) // probe interval; the answer decides
		}
	}
	ans := waitReady(http.StatusOK, "Redis up")
	if ans.Status != ops.StatusReady || ans.Checks["store"] != "ok" || ans.Checks["broker"] != "ok" {
		t.Fatalf("ready answer %+v", ans)
	}

	redis.Kill()
	ans = waitReady(http.StatusServiceUnavailable, "Redis killed")
	if ans.Status != ops.StatusUnavailable || ans.Checks["store"] != "failed" {
		t.Fatalf("answer while Redis is down: %+v", ans)
	}
	if status, _ := rest(t, http.MethodGet, srv.base+ops.PathHealthz, ""); status != http.StatusOK {
		t.Fatalf("/healthz while Redis is down: %d", status)
	}

	redis.Start()
	ans = waitReady(http.StatusOK, "Redis back")
	if ans.Checks["store"] != "ok" || ans.Checks["broker"] != "ok" {
		t.Fatalf("answer after Redis came back: %+v", ans)
	}
	logs := srv.logs.String()
	if !strings.Contains(logs, "readiness check failing") || !strings.Contains(logs, "readiness check passing again") {
		t.Errorf("the readiness transitions were not logged")
	}
}

// TestDrainAnswersNotReadyBeforeTheListenerCloses: after the shutdown
// signal /readyz answers 503 "draining" for DRAIN_DELAY while requests are
// still served, then the listener closes.
func TestDrainAnswersNotReadyBeforeTheListenerCloses(t *testing.T) {
	srv := runInProcess(t, map[string]string{"DRAIN_DELAY": "3s"})
	if status, _ := rest(t, http.MethodGet, srv.base+ops.PathReadyz, ""); status != http.StatusOK {
		t.Fatalf("/readyz before the drain: %d", status)
	}
	client := &http.Client{Timeout: restTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	srv.cancel()
	sawDraining := false
	for {
		resp, err := client.Get(srv.base + ops.PathReadyz)
		if err != nil {
			break // the listener closed
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable && bytes.Contains(body, []byte(`"status":"draining"`)) {
			if !sawDraining {
				// Everything else is still served meanwhile (checked at
				// the start of the drain, not near its end, when the
				// listener may close between two requests).
				if status, _ := rest(t, http.MethodGet, srv.base+"/api/v1/rooms/none/messages?fromIndex=1&toIndex=1", ""); status != http.StatusForbidden {
					t.Errorf("REST during the drain answered %d, want the usual 403", status)
				}
			}
			sawDraining = true
		} else if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz during shutdown answered %d %s", resp.StatusCode, body)
		}
		time.Sleep(20 * time.Millisecond) // probe interval; the answer decides
	}
	if !sawDraining {
		t.Fatal("the listener closed without /readyz ever answering 503 draining")
	}
	select {
	case err := <-srv.done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
		srv.done <- nil // for the cleanup
	case <-time.After(processStopTimeout):
		t.Fatal("run did not return")
	}
}

// TestMetricsOnTheirOwnAddress: with METRICS_ADDR, /metrics is served
// there and not on the main port.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := runInProcess(t, map[string]string{"METRICS_ADDR": addr})
	if value(scrape(t, "http://"+addr+ops.PathMetrics), "chat_sockets") != 0 {
		t.Fatal("chat_sockets missing on METRICS_ADDR")
	}
	if status, _ := rest(t, http.MethodGet, srv.base+ops.PathMetrics, ""); status != http.StatusNotFound {
		t.Fatalf("/metrics on the main port with METRICS_ADDR set: %d, want 404", status)
	}
}

// TestAccessLogAndJSONFormat: LOG_FORMAT=json writes one JSON object per
// line; REST requests and Engine.IO handshakes get an access line with
// method, path (token redacted), status, duration and remote address.
func TestAccessLogAndJSONFormat(t *testing.T) {
	srv := runInProcess(t, map[string]string{"LOG_FORMAT": "json"})
	createRoom(t, srv.base, "logged")
	if status, _ := rest(t, http.MethodGet, srv.base+"/socket.io/?EIO=4&transport=polling&token=sekrit-jwt", ""); status != http.StatusOK {
		t.Fatalf("handshake: %d", status)
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(srv.logs.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if rec["msg"] == "http request" {
			lines = append(lines, rec)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("access lines %v, want 2", lines)
	}
	for i, want := range []struct{ method, path string }{
		{"POST", "/api/v1/rooms"},
		{"GET", "/socket.io/?EIO=4&transport=polling&token=xxxxx"},
	} {
		rec := lines[i]
		if rec["method"] != want.method || rec["path"] != want.path || rec["status"] == nil || rec["duration"] == nil || !strings.HasPrefix(rec["remote"].(string), "127.0.0.1:") {
			t.Errorf("access line %d = %v, want %s %s with status, duration, remote", i, rec, want.method, want.path)
		}
	}
	if strings.Contains(srv.logs.String(), "sekrit-jwt") {
		t.Error("the token reached the log")
	}
}
