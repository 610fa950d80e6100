package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"chatgateway/gateway"
	"chatgateway/gateway/sioclient/sioclienttest"
	"chatgateway/rooms"
)

// runBound bounds one scenario run in these tests.
const runBound = 60 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(sioclienttest.KeptGoroutineFunction))
}

// scenarioRun parses args as the command line would and runs the scenario.
func scenarioRun(t *testing.T, args ...string) *report {
	t.Helper()
	cfg, err := parseFlags(args, io.Discard)
	if err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runBound)
	defer cancel()
	rep, err := runScenario(ctx, cfg)
	if err != nil {
		t.Fatalf("run %q: %v", args, err)
	}
	if !rep.OK {
		var buf bytes.Buffer
		writeTable(&buf, rep)
		t.Fatalf("run %q not correct:\n%s", args, buf.String())
	}
	return rep
}

func checkConnections(t *testing.T, rep *report, want int) {
	t.Helper()
	c := rep.Connections
	if c == nil || c.Attempted != want || c.Established != want || c.Failed != 0 || c.DroppedDuringRun != 0 {
		t.Fatalf("connections %+v, want all %d established", c, want)
	}
	if c.Handshake.Count != uint64(want) {
		t.Errorf("%d handshake samples, want %d", c.Handshake.Count, want)
	}
}

func checkTraffic(t *testing.T, rep *report, planned, deliveries int64) {
	t.Helper()
	tr := rep.Traffic
	if tr == nil {
		t.Fatal("no traffic results")
	}
	if tr.MessagesPlanned != planned || tr.MessagesSent != planned || tr.SendErrors != 0 {
		t.Errorf("sent %d/%d with %d errors, want %d", tr.MessagesSent, tr.MessagesPlanned, tr.SendErrors, planned)
	}
	if tr.DeliveriesExpected != deliveries || tr.Deliveries != deliveries || tr.Received != deliveries {
		t.Errorf("deliveries %d (received %d) of %d expected, want %d", tr.Deliveries, tr.Received, tr.DeliveriesExpected, deliveries)
	}
	if tr.Lost+tr.Duplicated+tr.OutOfOrder+tr.Unexpected+tr.Foreign+tr.Malformed+tr.Exceptions != 0 || tr.StreamsWithAnomalies != 0 {
		t.Errorf("correctness errors: %+v", tr)
	}
	if tr.Latency.Count != uint64(deliveries) {
		t.Errorf("%d latency samples, want %d", tr.Latency.Count, deliveries)
	}
}

// TestScenarios runs every scenario with about 50 connections against the
// real server stack, asserting correctness only.
func TestScenarios(t *testing.T) {
	room := sioclienttest.Start(t, sioclienttest.Options{})
	global := sioclienttest.Start(t, sioclienttest.Options{Delivery: gateway.DeliveryGlobal})
	pid := fmt.Sprint(os.Getpid()) // the server runs in this process
	prefix := func(t *testing.T) string {
		return "t" + strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()) + "-"
	}

	t.Run("fanout closed loop", func(t *testing.T) {
		for _, run := range []struct{ eio, client string }{{"3", "raw"}, {"4", "raw"}, {"3", "sioclient"}, {"4", "sioclient"}} {
			rep := scenarioRun(t, "-scenario", "fanout", "-url", room.URL, "-eio", run.eio, "-client", run.client, "-prefix", prefix(t)+run.eio+run.client,
				"-rooms", "5", "-members", "10", "-messages", "20", "-window", "2", "-server-pid", pid)
			checkConnections(t, rep, 50)
			// 5 rooms x 10 members x 20 messages, each to the 10 members.
			checkTraffic(t, rep, 1000, 10_000)
			if rep.Traffic.SendLag != nil {
				t.Errorf("closed loop reports a send lag: %+v", rep.Traffic.SendLag)
			}
			checkArrival(t, rep, run.client == "raw" && runtime.GOOS == "linux")
			if rep.MeasureCPU == nil || rep.MeasureCPU.TotalSeconds <= 0 || rep.LoadgenCPU.TotalSeconds <= 0 {
				t.Errorf("CPU use not measured: %+v %+v", rep.MeasureCPU, rep.LoadgenCPU)
			}
			if rep.Server == nil || rep.Server.CPU == nil || rep.Server.RSSAfterBytes <= 0 {
				t.Errorf("server not measured: %+v", rep.Server)
			}
		}
	})
	t.Run("fanout open loop", func(t *testing.T) {
		rep := scenarioRun(t, "-scenario", "fanout", "-url", room.URL, "-prefix", prefix(t),
			"-rooms", "5", "-members", "10", "-messages", "10", "-rate", "2000", "-size", "100")
		checkConnections(t, rep, 50)
		checkTraffic(t, rep, 500, 5000)
		if lag := rep.Traffic.SendLag; lag == nil || lag.Count != 500 {
			t.Errorf("send lag %+v, want 500 samples", lag)
		}
		checkArrival(t, rep, runtime.GOOS == "linux")
		// -size is the content's length, whatever the length of the send
		// time and sequence number it starts with.
		for _, m := range storedMessages(t, room.URL, prefix(t)+"r0", 100) {
			if len(m.Content) != 100 {
				t.Errorf("message %d content is %d bytes, want 100: %q", m.Order, len(m.Content), m.Content)
			}
		}
	})
	t.Run("fanout over several nodes", func(t *testing.T) {
		// One server under two names: the members split between them as
		// placed, and so do the deliveries.
		other := strings.Replace(room.URL, "127.0.0.1", "localhost", 1)
		for _, tc := range []struct {
			placement string
			members   [2]int
		}{{"spread", [2]int{25, 25}}, {"room", [2]int{30, 20}}} {
			rep := scenarioRun(t, "-scenario", "fanout", "-urls", room.URL+","+other, "-placement", tc.placement, "-prefix", prefix(t)+tc.placement,
				"-rooms", "5", "-members", "10", "-messages", "10")
			checkConnections(t, rep, 50)
			checkTraffic(t, rep, 500, 5000)
			ps := rep.Traffic.PerServer
			if len(ps) != 2 || ps[0].URL != room.URL || ps[1].URL != other {
				t.Fatalf("%s: per server %+v", tc.placement, ps)
			}
			for i, p := range ps {
				// Each member gets its room's 100 messages.
				if p.Members != tc.members[i] || p.Deliveries != int64(tc.members[i])*100 || p.DeliveriesPerSec <= 0 {
					t.Errorf("%s: node %d got %+v, want %d members and %d deliveries", tc.placement, i, p, tc.members[i], tc.members[i]*100)
				}
			}
		}
	})
	t.Run("fanout global delivery", func(t *testing.T) {
		rep := scenarioRun(t, "-scenario", "fanout", "-url", global.URL, "-delivery", "global", "-prefix", prefix(t),
			"-rooms", "5", "-members", "10", "-messages", "10")
		checkConnections(t, rep, 50)
		// Every one of the 500 messages reaches all 50 sockets.
		checkTraffic(t, rep, 500, 25_000)
		if rep.Traffic.StreamsChecked != 50*5 {
			t.Errorf("%d streams checked, want 250", rep.Traffic.StreamsChecked)
		}
	})
	t.Run("bigroom", func(t *testing.T) {
		rep := scenarioRun(t, "-scenario", "bigroom", "-url", room.URL, "-prefix", prefix(t),
			"-members", "50", "-messages", "10", "-interval", "10ms")
		checkConnections(t, rep, 50)
		checkTraffic(t, rep, 10, 500)
		b := rep.BigRoom
		if b == nil || b.Receivers != 50 || b.Complete != 10 || b.Incomplete != 0 || b.AllMembers.Count != 10 {
			t.Errorf("bigroom %+v", b)
		}
	})
	t.Run("idle", func(t *testing.T) {
		for _, join := range []string{"-join=false", "-join=true"} {
			rep := scenarioRun(t, "-scenario", "idle", "-url", room.URL, "-prefix", prefix(t), join,
				"-conns", "50", "-rooms", "3", "-duration", "200ms", "-unjoined-hold", "100ms", "-server-pid", pid)
			checkConnections(t, rep, 50)
			if rep.Idle == nil || rep.Idle.Alive != 50 {
				t.Errorf("idle %+v", rep.Idle)
			}
			if rep.Server == nil || rep.Server.RSSBeforeBytes <= 0 || rep.Server.RSSAfterBytes <= 0 {
				t.Errorf("no RSS reading: %+v", rep.Server)
			}
			if joined := join == "-join=true"; rep.Idle != nil && (rep.Idle.Joined != joined || (rep.Idle.UnjoinedRSSBytes > 0) != joined) {
				t.Errorf("%s: idle %+v, want an unjoined RSS reading exactly when joining", join, rep.Idle)
			}
			if rep.Connections.Join != nil && rep.Connections.Join.Count != 50 {
				t.Errorf("%s: %d join samples, want 50", join, rep.Connections.Join.Count)
			}
		}
	})
	t.Run("churn", func(t *testing.T) {
		rep := scenarioRun(t, "-scenario", "churn", "-url", room.URL, "-prefix", prefix(t), "-eio", "3",
			"-rate", "50", "-duration", "1s", "-rooms", "3")
		ch := rep.Churn
		if ch == nil || ch.Cycles != 50 || ch.Handshakes != 50 || ch.Joins != 50 || ch.HandshakeErrors+ch.JoinErrors != 0 || ch.ErrorRate != 0 {
			t.Errorf("churn %+v", ch)
		}
		if ch != nil && (ch.Handshake.Count != 50 || ch.Join.Count != 50) {
			t.Errorf("churn samples: %d handshakes, %d joins", ch.Handshake.Count, ch.Join.Count)
		}
	})
}

// storedMessages reads a room's first n messages over REST.
func storedMessages(t *testing.T, baseURL, roomID string, n int) []rooms.Message {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("%s/api/v1/rooms/%s/messages?fromIndex=1&toIndex=%d", baseURL, roomID, n))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msgs []rooms.Message
	if err := json.NewDecoder(resp.Body).Decode(&msgs); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("messages of %s: status %d, %v", roomID, resp.StatusCode, err)
	}
	if len(msgs) != n {
		t.Fatalf("%d messages of %s, want %d", len(msgs), roomID, n)
	}
	return msgs
}

// TestCommandLine runs the command as a script would: JSON on stdout, the
// table on stderr, exit status by correctness.
func TestCommandLine(t *testing.T) {
	srv := sioclienttest.Start(t, sioclienttest.Options{})
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), runBound)
	defer cancel()
	code := run(ctx, []string{"-scenario", "fanout", "-url", srv.URL, "-rooms", "2", "-members", "3", "-messages", "5", "-json"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	var out struct {
		Scenario string `json:"scenario"`
		OK       bool   `json:"ok"`
		Traffic  struct {
			Deliveries       int64   `json:"deliveries"`
			DeliveriesPerSec float64 `json:"deliveries_per_sec"`
			Latency          struct {
				P99 float64 `json:"p99_ms"`
			} `json:"latency"`
		} `json:"traffic"`
		LoadgenCPU struct {
			Total float64 `json:"total_seconds"`
		} `json:"loadgen_cpu"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, stdout.String())
	}
	// 2 rooms x 3 members x 5 messages, each to 3 members.
	if out.Scenario != "fanout" || !out.OK || out.Traffic.Deliveries != 90 || out.Traffic.DeliveriesPerSec <= 0 || out.LoadgenCPU.Total <= 0 {
		t.Errorf("JSON output %+v", out)
	}
	if !strings.Contains(stderr.String(), "result") || !strings.Contains(stderr.String(), "OK") {
		t.Errorf("no table on stderr:\n%s", stderr.String())
	}

	// Rooms that cannot be created make the run fail with status 1.
	stdout.Reset()
	stderr.Reset()
	if code := run(ctx, []string{"-scenario", "fanout", "-url", srv.URL, "-prefix", "bad/prefix"}, &stdout, &stderr); code != 2 {
		t.Errorf("bad prefix: exit %d, want 2 (%s)", code, stderr.String())
	}
	// Nothing listens: every connection fails, status 1, still a report.
	stdout.Reset()
	stderr.Reset()
	if code := run(ctx, []string{"-scenario", "idle", "-url", "http://127.0.0.1:1", "-conns", "3", "-duration", "10ms", "-create-rooms=false"}, &stdout, &stderr); code != 1 {
		t.Errorf("unreachable server: exit %d, want 1", code)
	}
	if !strings.Contains(stdout.String(), "0/3 established") || !strings.Contains(stdout.String(), "FAILED") {
		t.Errorf("unreachable server report:\n%s", stdout.String())
	}
}

func TestFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "-scenario must be"},
		{[]string{"-scenario", "storm"}, "-scenario must be"},
		{[]string{"-scenario", "fanout", "-eio", "5"}, "-eio must be 3 or 4"},
		{[]string{"-scenario", "fanout", "-url", "ws://x"}, "-url must start with http"},
		{[]string{"-scenario", "fanout", "-delivery", "all"}, "-delivery must be room or global"},
		{[]string{"-scenario", "fanout", "-rooms", "0"}, "-rooms must be"},
		{[]string{"-scenario", "fanout", "-members", "0"}, "-members must be"},
		{[]string{"-scenario", "fanout", "-rooms", "2000", "-members", "2000"}, "-rooms x -members at most"},
		{[]string{"-scenario", "fanout", "-messages", "100000", "-rooms", "100", "-members", "1000"}, "-messages must be"},
		{[]string{"-scenario", "fanout", "-window", "0"}, "-window must be"},
		{[]string{"-scenario", "fanout", "-delivery", "global", "-rooms", "1000", "-members", "100"}, "global delivery"},
		{[]string{"-scenario", "fanout", "-rate", "-1"}, "-rate must be"},
		{[]string{"-scenario", "fanout", "-size", "100000"}, "-size must be"},
		{[]string{"-scenario", "fanout", "-duration", "-1s"}, "-duration must be"},
		{[]string{"-scenario", "fanout", "-prefix", `a"b`}, "-prefix"},
		{[]string{"-scenario", "fanout", "-prefix", "é"}, "-prefix"},
		{[]string{"-scenario", "fanout", "-prefix", strings.Repeat("a", 201)}, "-prefix"},
		{[]string{"-scenario", "bigroom", "-interval", "0"}, "-interval must be"},
		{[]string{"-scenario", "idle", "-conns", "0"}, "-conns must be"},
		{[]string{"-scenario", "churn"}, "churn needs -rate"},
		{[]string{"-scenario", "churn", "-rate", "1000000", "-duration", "1h"}, "-rate x -duration"},
		{[]string{"-scenario", "idle", "-source-ips", "127.0.0.9-127.0.0.2"}, "ends before it starts"},
		{[]string{"-scenario", "idle", "-source-ips", "10.0.0.0-10.2.0.0"}, "more than 65536"},
		{[]string{"-scenario", "idle", "-source-ips", "localhost"}, "not an IP address"},
		{[]string{"-scenario", "idle", "extra"}, "unexpected arguments"},
		{[]string{"-scenario", "idle", "-nope"}, "flag provided but not defined"},
		{[]string{"-scenario", "fanout", "-urls", "http://a,ws://b"}, "-urls must start with http"},
		{[]string{"-scenario", "idle", "-urls", "http://a,http://b"}, "-urls is for the fanout scenario"},
		{[]string{"-scenario", "fanout", "-placement", "random"}, "-placement must be spread or room"},
		{[]string{"-scenario", "fanout", "-client", "gorilla"}, "-client must be raw or sioclient"},
		{[]string{"-scenario", "fanout", "-url", "https://x"}, "-client raw speaks plain http only"},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-scenario", "idle", "-conns", "-5"}, io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), "-conns must be") {
		t.Errorf("run with a bad flag: exit %d, stderr %q", code, stderr.String())
	}
}

func TestParseSourceIPs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"127.0.0.1", []string{"127.0.0.1"}},
		{"127.0.0.2-127.0.0.4", []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}},
		{"127.0.0.1, 127.0.0.255-127.0.1.0", []string{"127.0.0.1", "127.0.0.255", "127.0.1.0"}},
		{"::1", []string{"::1"}},
	}
	for _, tt := range tests {
		got, err := parseSourceIPs(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parseSourceIPs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestStream(t *testing.T) {
	tests := []struct {
		name                                     string
		orders                                   []int64
		n                                        int64
		lost, duplicated, outOfOrder, unexpected int64
	}{
		{"in order", []int64{1, 2, 3, 4}, 4, 0, 0, 0, 0},
		{"missing tail", []int64{1, 2}, 4, 2, 0, 0, 0},
		{"gap", []int64{1, 3, 4}, 4, 1, 0, 0, 0},
		{"gap filled late", []int64{1, 3, 2, 4}, 4, 0, 0, 1, 0},
		{"duplicate", []int64{1, 2, 2, 3}, 3, 0, 1, 0, 0},
		{"duplicate after a gap", []int64{2, 1, 2}, 2, 0, 1, 1, 0},
		{"zero and beyond the limit", []int64{1, 0, 1 << 40, 2}, 2, 0, 0, 0, 2},
		{"nothing", nil, 3, 3, 0, 0, 0},
		{"reversed", []int64{5, 4, 3, 2, 1}, 5, 0, 0, 4, 0},
		{"long with a hole", append(seq(1, 99), seq(101, 200)...), 200, 1, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s stream
			for _, o := range tt.orders {
				s.add(o, 1000)
			}
			if got := s.missing(tt.n); got != tt.lost {
				t.Errorf("missing = %d, want %d", got, tt.lost)
			}
			if s.duplicated != tt.duplicated || s.outOfOrder != tt.outOfOrder || s.unexpected != tt.unexpected {
				t.Errorf("duplicated %d out-of-order %d unexpected %d, want %d %d %d", s.duplicated, s.outOfOrder, s.unexpected, tt.duplicated, tt.outOfOrder, tt.unexpected)
			}
			wantAnomalous := tt.duplicated+tt.outOfOrder+tt.unexpected > 0 || !slices.IsSorted(tt.orders) || (len(tt.orders) > 0 && int64(len(tt.orders)) != tt.orders[len(tt.orders)-1])
			if s.anomalous() != wantAnomalous {
				t.Errorf("anomalous = %v, want %v", s.anomalous(), wantAnomalous)
			}
		})
	}
}

func seq(from, to int64) []int64 {
	var s []int64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// TestHistogram compares quantiles with exact ones from sorted samples.
func TestHistogram(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := newHistogram(4)
	var samples []time.Duration
	for i := range 100_000 {
		d := time.Duration(r.ExpFloat64() * float64(5*time.Millisecond))
		if i%1000 == 0 {
			d = time.Duration(r.IntN(int(10 * time.Second)))
		}
		samples = append(samples, d)
		h.record(i, d)
	}
	slices.Sort(samples)
	exact := func(q float64) float64 {
		i := int(q*float64(len(samples))+0.999999) - 1
		return float64(samples[i]/time.Microsecond) / 1000
	}
	s := h.summary()
	for _, c := range []struct {
		name     string
		got, exp float64
	}{{"p50", s.P50MS, exact(0.5)}, {"p90", s.P90MS, exact(0.9)}, {"p99", s.P99MS, exact(0.99)}, {"p99.9", s.P999MS, exact(0.999)}, {"max", s.MaxMS, exact(1)}} {
		// The bucket's upper bound: at most 1/32 above, never below.
		if c.got < c.exp || c.got > c.exp*(1+1.0/32)+0.001 {
			t.Errorf("%s = %vms, exact %vms", c.name, c.got, c.exp)
		}
	}
	if s.Count != 100_000 {
		t.Errorf("count %d", s.Count)
	}
	if empty := newHistogram(1).summary(); empty.Count != 0 || empty.MaxMS != 0 {
		t.Errorf("empty histogram %+v", empty)
	}
	// Every value falls in the bucket whose bounds enclose it.
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 123456789, 1 << 40, 1<<41 - 1} {
		b := bucketOf(v)
		if bucketHigh(b) < v || (b > 0 && bucketHigh(b-1) >= v) {
			t.Errorf("value %d in bucket %d (high %d, previous high %d)", v, b, bucketHigh(b), bucketHigh(b-1))
		}
	}
	if b := bucketOf(1 << 50); b != histBuckets-1 {
		t.Errorf("huge value in bucket %d, want the last", b)
	}
}

func TestParseMessage(t *testing.T) {
	for _, good := range []string{
		`{"order":42,"username":"u7","content":"1700000000123456789 13xxxx","createdAt":"t"}`, // the server's order
		`{"createdAt":"t","content":"1700000000123456789 13","username":"u7","order":42}`,
		`{"order": 42, "username":"u7", "content":"1700000000123456789 13"}`,
	} {
		m, ok := parseMessage([]byte(good))
		if !ok || m.order != 42 || string(m.username) != "u7" || m.sentAt != 1700000000123456789 || m.seq != 13 {
			t.Errorf("parseMessage(%s) = %+v, %v", good, m, ok)
		}
	}
	for _, bad := range []string{
		`{"username":"u7","content":"1 2"}`,
		`{"order":1,"content":"1 2"}`,
		`{"order":1,"username":"u7"}`,
		`{"order":1,"username":"u7","content":"hello"}`,
		`{"order":1,"username":"u7","content":"12"}`,
		`{"order":x,"username":"u7","content":"1 2"}`,
	} {
		if _, ok := parseMessage([]byte(bad)); ok {
			t.Errorf("parseMessage(%s) accepted", bad)
		}
	}
}

// checkArrival checks the arrival latency: one per delivery where it is
// measured, each at most the delivery's latency (the kernel stamped the
// frame before the generator parsed it), so every quantile is too.
func checkArrival(t *testing.T, rep *report, measured bool) {
	t.Helper()
	a, l := rep.Traffic.Arrival, rep.Traffic.Latency
	if !measured {
		if a != nil {
			t.Errorf("arrival reported where it is not measured: %+v", a)
		}
		return
	}
	// The kernel turns stamping on asynchronously after the first socket
	// asks, so the first frames of a process may come unstamped.
	if a == nil || a.Count == 0 || a.Count > l.Count {
		t.Fatalf("arrival %+v, want a sample per delivery (%d) or a few fewer", a, l.Count)
	}
	if a.Count != l.Count {
		return // quantiles of a subset may exceed the whole's
	}
	for _, q := range []struct {
		name             string
		arrival, latency float64
	}{{"p50", a.P50MS, l.P50MS}, {"p99", a.P99MS, l.P99MS}, {"max", a.MaxMS, l.MaxMS}} {
		if q.arrival > q.latency {
			t.Errorf("arrival %s %.3f ms above latency %s %.3f ms", q.name, q.arrival, q.name, q.latency)
		}
	}
}
