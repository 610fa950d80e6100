package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"chatgateway/cmd/loadgen/loadreport"
)

// binDir holds chatserver and loadgen, built once for every test.
var (
	binDir    string
	buildOnce sync.Once
	buildErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "benchrunner-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	repo, err := findRepo(wd)
	if err != nil {
		t.Fatal(err)
	}
	return repo
}

func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		var log bytes.Buffer
		var flags []string
		if raceEnabled {
			// A data race in the server or the load generator then fails
			// the smoke run too (exit status 66).
			flags = append(flags, "-race")
		}
		if err := buildBinaries(ctx, repoRoot(t), binDir, &log, flags...); err != nil {
			buildErr = fmt.Errorf("%v\n%s", err, log.String())
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

// smokeRuns is every (scenario, variant, server) the smoke mode measures.
var smokeRuns = []kase{
	{scFanout, "", oursRoom}, {scFanout, "", nodeSIO}, {scFanout, variantSmall, oursRoom}, {scFanout, variantSmall, nodeSIO},
	{scFanout, "", oursGlobal}, {scFanout, "", nestJS}, {scFanout, "", oursSQLite},
	{scLatency, "", oursRoom}, {scLatency, "", nodeSIO}, {scLatency, variantOwn, oursRoom},
	{scIdle, "", oursRoom}, {scIdle, "", nodeSIO}, {scIdle, "", oursGlobal}, {scIdle, "", nestJS},
	{scChurn, "", oursRoom}, {scChurn, "", nodeSIO}, {scChurn, "", oursGlobal}, {scChurn, "", nestJS},
	{scBigRoom, "", oursRoom}, {scBigRoom, "", nodeSIO},
	{scMultiNode, placementRoom, multiCluster}, {scMultiNode, placementRoom, multiSingle}, {scMultiNode, placementRoom, multiSharded},
	{scMultiNode, placementSpread, multiCluster}, {scMultiNode, placementSpread, multiSingle}, {scMultiNode, placementSpread, multiSharded},
}

// TestSmoke runs every scenario against the three servers end to end,
// small, and checks that every run was correct and fully recorded. It
// runs bench/setup.sh itself, so the Node baselines are installed if they
// were not.
func TestSmoke(t *testing.T) {
	skipUnderShort(t)
	bins := binaries(t)
	// Race-built children: stop at the first race (exit 66, which fails
	// the run) and skip the detector's default 1s sleep at every exit.
	t.Setenv("GORACE", "halt_on_error=1 atexit_sleep_ms=0")
	out := t.TempDir()
	// Every scenario, the multi-node one's Redis Cluster included.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, []string{"-smoke", "-repo", repoRoot(t), "-out", out, "-bin", bins, "-build=false"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s%s", code, stdout.String(), stderr.String(), failedRunTexts(out))
	}

	var sum struct {
		Mode string       `json:"mode"`
		Runs []*runRecord `json:"runs"`
	}
	readJSON(t, filepath.Join(out, "summary.json"), &sum)
	if sum.Mode != "smoke" {
		t.Errorf("mode %q, want smoke", sum.Mode)
	}
	for _, want := range smokeRuns {
		found := 0
		for _, r := range sum.Runs {
			if r.Scenario == want.scenario && r.Variant == want.variant && r.Server == want.spec && r.Purpose == "measure" && r.Round == 1 {
				found++
			}
		}
		if found != 1 {
			t.Errorf("%d measured %s %q runs of %s, want one in round 1", found, want.scenario, want.variant, want.spec.label())
		}
	}
	for _, r := range sum.Runs {
		if len(r.Failures) > 0 || r.Err != "" || r.Skipped {
			t.Errorf("run #%d %s %s %s: failures %q, error %q", r.Seq, r.Scenario, r.Server.slug(), r.Purpose, r.Failures, r.Err)
		}
		// The raw report of every run is kept and is the load generator's.
		var rep loadreport.Report
		readJSON(t, filepath.Join(out, r.JSONPath), &rep)
		if !rep.OK || rep.Scenario == "" {
			t.Errorf("run #%d: saved report ok=%v scenario=%q", r.Seq, rep.OK, rep.Scenario)
		}
		if rep.GOMAXPROCS != 1 {
			t.Errorf("run #%d: loadgen GOMAXPROCS %d, want 1", r.Seq, rep.GOMAXPROCS)
		}
		if rep.Server == nil || rep.Server.PID == 0 {
			t.Errorf("run #%d: no server pid in the report", r.Seq)
		}
		if want := map[string]int{"": messageBytes, variantSmall: smallMessageBytes}[r.Variant]; r.Scenario == scFanout && r.Purpose == "measure" && rep.Config.Size != want {
			t.Errorf("run #%d: %d-byte messages, want %d", r.Seq, rep.Config.Size, want)
		}
		if r.Scenario == scIdle && (rep.Idle == nil || rep.Idle.Joined != (r.Server != nestJS)) {
			t.Errorf("run #%d: idle %+v, want joined rooms on every server but NestJS", r.Seq, rep.Idle)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(md, stdout.Bytes()) {
		t.Error("results.md differs from what was printed")
	}
	if !strings.Contains(string(md), "| our server, every run | lost / duplicated / out-of-order; runs not correct | 0 / 0 / 0 over") ||
		!strings.Contains(string(md), "| 0, every run correct | MET |") {
		t.Errorf("correctness row missing or not MET:\n%s", md)
	}
	// Only correctness is judged in smoke mode, never timing.
	if n := strings.Count(string(md), "| MET |") + strings.Count(string(md), "| MISSED"); n != 1 {
		t.Errorf("%d verdicts in smoke mode, want only the correctness one", n)
	}
	noChildren(t)
}

// TestInterruptStopsEveryChild cancels the run (as Ctrl-C does) while a
// server and the load generator are running, and checks that nothing is
// left behind and the partial results are still written.
func TestInterruptStopsEveryChild(t *testing.T) {
	skipUnderShort(t)
	bins := binaries(t)
	t.Setenv("GORACE", "halt_on_error=1 atexit_sleep_ms=0")
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Interrupt as the second load generator starts: a server and the
	// load generator are running.
	var started atomic.Int32
	var stdout, log bytes.Buffer
	res, err := runBench(ctx, options{
		repo: repoRoot(t), outDir: out, binDir: bins, smoke: true,
		scenarios: map[string]bool{scFanout: true},
		onLoadgenStart: func() {
			if started.Add(1) == 2 {
				cancel()
			}
		},
	}, &stdout, &log)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err %v, want interrupted\n%s", err, log.String())
	}
	noChildren(t)
	if n := started.Load(); n != 2 {
		t.Errorf("%d load generator runs started, want none after the interrupt", n)
	}
	if res == nil || len(res.Runs) != 2 {
		t.Errorf("want both runs recorded, got %+v", res)
	}
	if _, err := os.Stat(filepath.Join(out, "results.md")); err != nil {
		t.Errorf("partial results not written: %v", err)
	}
}

// noChildren fails if any process started by this test process is alive.
func noChildren(t *testing.T) {
	t.Helper()
	me := os.Getpid()
	snap := sampleOtherLoad()
	for pid := range snap.procs {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(me) && f[0] != "Z" {
			t.Errorf("child %d (%s) still running", pid, snap.procs[pid].comm)
		}
	}
}

// failedRunTexts is the load generator's own text of every run that
// failed: its error samples name what went wrong (an exception's message,
// a handshake's error), which the summary table only counts.
func failedRunTexts(dir string) string {
	paths, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	var b strings.Builder
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(text, []byte("FAILED")) {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n%s", filepath.Base(p), text)
	}
	return b.String()
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func TestSizing(t *testing.T) {
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"room: 1M deliveries/s for 5s over 500 members of 50", fanoutPerMember(1e6, false, 10, 50, 5, 2000), 200},
		{"global: every member receives everything", fanoutPerMember(1e6, true, 10, 50, 5, 2000), 20},
		{"slow server still sends one each", fanoutPerMember(10, false, 10, 50, 5, 2000), 1},
		{"capped", fanoutPerMember(1e12, false, 10, 50, 5, 2000), 2000},
		{"rounds up", fanoutPerMember(25_001, false, 10, 50, 1, 2000), 2},
		{"latency: 935 msgs/s for 8s over 500 senders", latencyPerMember(935, 500, 8), 15},
		{"latency: at least one", latencyPerMember(0.1, 500, 1), 1},
		{"churn: capacity x seconds", churnCycles(2687.2, 5, 1000, 100_000), 13436},
		{"churn: at least the calibration", churnCycles(10, 5, 1000, 100_000), 1000},
		{"churn: capped", churnCycles(1e9, 5, 1000, 100_000), 100_000},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %d, want %d", tt.name, tt.got, tt.want)
		}
	}
}

func TestChurnArgsDurationGivesTheCycles(t *testing.T) {
	b := &bench{sz: sizesFor(options{})}
	for _, cycles := range []int{1000, 13436, 99_999} {
		args := b.churnArgs(cycles)
		d, err := time.ParseDuration(argAfter(args, "-duration"))
		if err != nil {
			t.Fatal(err)
		}
		rate, _ := strconv.ParseFloat(argAfter(args, "-rate"), 64)
		// The load generator runs ceil(rate x duration) cycles.
		if got := int(rate*d.Seconds() + 0.999); got != cycles {
			t.Errorf("%d cycles: -rate %v -duration %v gives %d", cycles, rate, d, got)
		}
	}
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func TestMedian(t *testing.T) {
	for _, tt := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1}, 2.5}, {[]float64{9, 1, 8, 2}, 5},
	} {
		if got := median(slices.Clone(tt.in)); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 1088511.4: "1,088,511", -12345: "-12,345", 99.5: "100"} {
		if got := thousands(in); got != want {
			t.Errorf("thousands(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name may hold spaces and parentheses.
	line := "4242 (a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 98765 1000 200 18446744073709551615\n"
	pt, ok := parseProcStat([]byte(line))
	if !ok {
		t.Fatal("not parsed")
	}
	if pt.comm != "a (b) c" || pt.ppid != 17 || pt.ticks != 325 || pt.start != 98765 {
		t.Errorf("got %+v", pt)
	}
	if _, ok := parseProcStat([]byte("garbage")); ok {
		t.Error("garbage parsed")
	}
}

func TestOtherLoadLeavesOutExcludedAndKernelThreads(t *testing.T) {
	at := time.Now()
	before := otherSnapshot{at: at, procs: map[int]procTime{
		10: {comm: "server", start: 1, ticks: 0, ppid: 1},
		11: {comm: "busy", start: 1, ticks: 100, ppid: 1},
		12: {comm: "kworker", start: 1, ticks: 0, ppid: 2},
		13: {comm: "reused", start: 1, ticks: 500, ppid: 1},
	}}
	after := otherSnapshot{at: at.Add(2 * time.Second), procs: map[int]procTime{
		10: {comm: "server", start: 1, ticks: 200, ppid: 1},
		11: {comm: "busy", start: 1, ticks: 200, ppid: 1},
		12: {comm: "kworker", start: 1, ticks: 200, ppid: 2},
		13: {comm: "reused", start: 7, ticks: 50, ppid: 1}, // a new process on an old pid
	}}
	got := otherLoadBetween(before, after, map[int]bool{10: true})
	// busy: 100 ticks, reused: 50 ticks (all its own) over 2s at 100 ticks/s.
	if want := 0.75; got.Cores < want-1e-9 || got.Cores > want+1e-9 {
		t.Errorf("cores %v, want %v (%s)", got.Cores, want, got.Top)
	}
	if !strings.HasPrefix(got.Top, "busy[11] 0.50") {
		t.Errorf("top %q", got.Top)
	}
}

func TestReportFailures(t *testing.T) {
	traffic := func(mut func(*loadreport.TrafficStats)) *loadreport.Report {
		tr := &loadreport.TrafficStats{MessagesPlanned: 10, MessagesSent: 10}
		mut(tr)
		return &loadreport.Report{OK: true, Traffic: tr, Connections: &loadreport.ConnStats{Attempted: 5, Established: 5}}
	}
	tests := []struct {
		name string
		rep  *loadreport.Report
		want string // substring of the failures; "" means none
	}{
		{"correct", traffic(func(*loadreport.TrafficStats) {}), ""},
		{"lost", traffic(func(t *loadreport.TrafficStats) { t.Lost = 1 }), "lost 1"},
		{"duplicated", traffic(func(t *loadreport.TrafficStats) { t.Duplicated = 2 }), "duplicated 2"},
		{"out of order", traffic(func(t *loadreport.TrafficStats) { t.OutOfOrder = 3 }), "out-of-order 3"},
		{"foreign", traffic(func(t *loadreport.TrafficStats) { t.Foreign = 1 }), "foreign 1"},
		{"not all sent", traffic(func(t *loadreport.TrafficStats) { t.MessagesSent = 9 }), "sent 9 of 10"},
		{"dropped connection", &loadreport.Report{OK: true, Connections: &loadreport.ConnStats{Attempted: 5, Established: 5, DroppedDuringRun: 1}}, "1 dropped"},
		{"big room incomplete", &loadreport.Report{OK: true, BigRoom: &loadreport.BigRoomStats{Messages: 4, Incomplete: 1}}, "1 of 4 messages"},
		{"churn errors", &loadreport.Report{OK: true, Churn: &loadreport.ChurnStats{JoinErrors: 2}}, "2 join errors"},
		{"loadgen says not OK", &loadreport.Report{OK: false, Errors: []string{"boom"}}, "boom"},
		{"no report", nil, "no report"},
	}
	for _, tt := range tests {
		got := strings.Join(reportFailures(tt.rep), "; ")
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("%s: failures %q, want %q", tt.name, got, tt.want)
		}
	}
}

// fakeRun is a measured run of a round with a report.
func fakeRun(k kase, round int, rep *loadreport.Report) *runRecord {
	r := &runRecord{Scenario: k.scenario, Variant: k.variant, Round: round, Purpose: "measure", Server: k.spec, Report: rep}
	r.evaluate()
	return r
}

func fanoutReport(deliveries float64, p99 float64, lost int64) *loadreport.Report {
	return &loadreport.Report{OK: lost == 0, GOMAXPROCS: 1, Traffic: &loadreport.TrafficStats{
		MessagesPlanned: 1, MessagesSent: 1, DeliveriesPerSec: deliveries, DeliverySeconds: 1,
		Latency: loadreport.LatencySummary{Count: 1, P50MS: p99 / 2, P99MS: p99}, Lost: lost,
	}}
}

func idleReport(unjoined, joined float64) *loadreport.Report {
	return &loadreport.Report{OK: true, GOMAXPROCS: 1, Server: &loadreport.ServerStats{RSSPerConnBytes: joined},
		Idle: &loadreport.IdleStats{Connections: 1, Joined: true, UnjoinedRSSPerConnBytes: unjoined}}
}

// TestComparisonVerdicts feeds three rounds of made-up runs and checks the
// medians, the ratios and the verdicts of the table.
func TestComparisonVerdicts(t *testing.T) {
	res := newResults()
	res.Mode, res.Rounds, res.MessageBytes = "default", 3, messageBytes
	for round, v := range []struct {
		ours, node, sqlite, global, nest float64
		oursP99, nodeP99, ownP99         float64
		oursJoined, nodeJoined           float64
		bigP99                           float64
	}{
		// Medians: ours 1.1M, node 100k (11x, MET >= 10x); sqlite 600k
		// (0.55 of 1.1M, MET >= 0.5); global 400k, nest 100k (4x, MISSED
		// >= 5x); p99 ratios 0.5, 0.25, 0.6 (MISSED: not every round);
		// own p99 under 50 ms in every round (MET); joined 5 KiB vs
		// 16 KiB (0.31x, MET); one big-room round at 300 ms (MISSED).
		{1_100_000, 100_000, 600_000, 400_000, 100_000, 10, 20, 20, 5000, 16000, 100},
		{1_000_000, 90_000, 500_000, 400_000, 100_000, 10, 40, 30, 5000, 16000, 300},
		{1_200_000, 110_000, 700_000, 400_000, 100_000, 30, 50, 49, 6000, 16000, 100},
	} {
		r := round + 1
		res.add(fakeRun(kase{scFanout, "", oursRoom}, r, fanoutReport(v.ours, 0, 0)))
		res.add(fakeRun(kase{scFanout, "", nodeSIO}, r, fanoutReport(v.node, 0, 0)))
		res.add(fakeRun(kase{scFanout, "", oursGlobal}, r, fanoutReport(v.global, 0, 0)))
		res.add(fakeRun(kase{scFanout, "", nestJS}, r, fanoutReport(v.nest, 0, 0)))
		res.add(fakeRun(kase{scFanout, "", oursSQLite}, r, fanoutReport(v.sqlite, 0, 0)))
		res.add(fakeRun(kase{scLatency, "", oursRoom}, r, fanoutReport(1, v.oursP99, 0)))
		res.add(fakeRun(kase{scLatency, "", nodeSIO}, r, fanoutReport(1, v.nodeP99, 0)))
		res.add(fakeRun(kase{scLatency, variantOwn, oursRoom}, r, fanoutReport(1, v.ownP99, 0)))
		res.add(fakeRun(kase{scIdle, "", oursRoom}, r, idleReport(13000, v.oursJoined)))
		res.add(fakeRun(kase{scIdle, "", nodeSIO}, r, idleReport(14000, v.nodeJoined)))
		big := fanoutReport(1, 0, 0)
		big.BigRoom = &loadreport.BigRoomStats{Messages: 1, Complete: 1, AllMembers: loadreport.LatencySummary{Count: 1, P99MS: v.bigP99}}
		res.add(fakeRun(kase{scBigRoom, "", oursRoom}, r, big))
	}
	res.add(fakeRun(kase{scChurn, "", oursRoom}, 1, fanoutReport(1, 0, 3))) // lost: FAILED

	rows := map[string]comparison{}
	for _, c := range res.compare() {
		rows[c.Scenario+" / "+c.Metric] = c
	}
	want := []struct{ key, verdict, ratio, ours string }{
		{"fan-out at saturation, EIO4, room delivery, 100-byte messages / deliveries/s", "MET", "11.0x", "1,100,000/s (1,000,000/s–1,200,000/s, median of 3)"},
		{"fan-out at saturation, EIO3, global delivery, 100-byte messages / deliveries/s", "MISSED", "4.00x", ""},
		{"fan-out at saturation, EIO4, room delivery, 100-byte messages: **durable SQLite store / memory store**, both ours / deliveries/s", "MET", "0.55x", ""},
		{"fan-out open loop at half Node socket.io's saturation / latency p99", "MISSED", "per round 0.50x, 0.25x, 0.60x", ""},
		{"fan-out open loop at half our own saturation, ours only / latency p99", "MET", "—", ""},
		{"idle WebSocket connections, EIO4 / server RSS per connection, joined to rooms of 50", "MET", "0.31x", ""},
		{"idle WebSocket connections, EIO4 / server RSS per connection, not joined", "info", "0.93x", ""},
		{"one room, EIO4 / one message to all members, p99", "MISSED", "—", ""},
		{"our server, every run / lost / duplicated / out-of-order; runs not correct", "MISSED", "—", ""},
	}
	for _, w := range want {
		got, ok := rows[w.key]
		if !ok {
			t.Errorf("no row %q", w.key)
			continue
		}
		if got.Verdict != w.verdict || got.Ratio != w.ratio || !strings.HasPrefix(got.Ours, w.ours) {
			t.Errorf("%s: got %s %q %q, want %s %q %q", w.key, got.Verdict, got.Ratio, got.Ours, w.verdict, w.ratio, w.ours)
		}
	}
	// A failed run says so in its cell.
	if got := rows["churn, EIO4 / connect+join+disconnect: handshakes/s"]; !strings.Contains(got.Ours, "FAILED") {
		t.Errorf("churn row %+v, want our failed run named", got)
	}
	// The spread of the fan-out figures: (1.2M - 1.0M) / 1.1M.
	found := false
	for _, s := range res.Spreads {
		if s.Case == "fanout, "+oursRoom.label() && s.Metric == deliveriesPerSec.name {
			found = true
			if s.Spread < 0.18 || s.Spread > 0.19 || s.Values != "1,100,000/s, 1,000,000/s, 1,200,000/s" {
				t.Errorf("spread %+v", s)
			}
		}
	}
	if !found {
		t.Errorf("no spread of our fan-out in %+v", res.Spreads)
	}

	res.Mode = "smoke"
	for _, c := range res.compare() {
		if c.Target != "" && !strings.HasPrefix(c.Scenario, "our server") && c.Verdict != "n/a (smoke)" {
			t.Errorf("smoke judged %s / %s: %s", c.Scenario, c.Metric, c.Verdict)
		}
	}
}

func TestRunRecordWarnings(t *testing.T) {
	rep := fanoutReport(1, 1, 0)
	rep.MeasureCPU = &loadreport.CPUUse{Cores: 0.97}
	rep.GOMAXPROCS = 2
	r := &runRecord{Report: rep, Other: otherLoad{Cores: 0.5, Top: "x[1] 0.50"}}
	r.evaluate()
	got := strings.Join(r.Warnings, "\n")
	for _, want := range []string{"0.97 of its core", "GOMAXPROCS=2", "other processes used 0.50 cores"} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings %q lack %q", got, want)
		}
	}
	if r.status() != "OK" {
		t.Errorf("status %s: warnings are not failures", r.status())
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-smoke", "-full"}, "exclude each other"},
		{[]string{"-scenarios", "fanout,nope"}, "unknown \"nope\""},
		{[]string{"stray"}, "unexpected arguments"},
		{[]string{"-scenarios", "idle, churn"}, ""},
	}
	for _, tt := range tests {
		_, err := parseFlags(tt.args, io.Discard)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tt.args, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%q: err %v, want %q", tt.args, err, tt.wantErr)
		}
	}
	o, _ := parseFlags(nil, io.Discard)
	if o.scenarios[scIdle100k] || !o.scenarios[scBigRoom] {
		t.Errorf("default scenarios %v: all but idle100k", o.scenarios)
	}
	o, _ = parseFlags([]string{"-full"}, io.Discard)
	if !o.scenarios[scIdle100k] {
		t.Error("-full leaves out idle100k")
	}
}

func TestProcSetStopsWhatItStarted(t *testing.T) {
	skipUnderShort(t)
	ps := newProcSet()
	p, err := ps.start("sleeper", t.TempDir(), baseEnv(), pinned(serverCore, "sleep", "60"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.exited() {
		t.Fatal("exited at once")
	}
	ps.stopAll(5 * time.Second)
	select {
	case <-p.done:
	default:
		t.Fatal("still running after stopAll")
	}
}

func TestSummarizeProfileTop(t *testing.T) {
	top := `File: chatserver
Type: cpu
Duration: 8.01s, Total samples = 7.90s (98.60%)
Showing nodes accounting for 7.90s, 100% of 7.90s total
      flat  flat%   sum%        cum   cum%
     3.00s 40.00% 40.00%      3.00s 40.00%  internal/runtime/syscall/linux.Syscall6
     1.00s 10.00% 50.00%      1.50s 15.00%  runtime.mallocgc
     0.80s  8.00% 58.00%      0.90s  9.00%  encoding/json.checkValid
     0.50s  5.00% 63.00%      4.00s 50.00%  chatgateway/gateway/engineio.(*Session).flushWebSocket
     0.20s  2.00% 65.00%      2.50s 25.00%  chatgateway/gateway.(*Gateway).onExchanges
     0.10s  1.00% 66.00%      0.10s  1.00%  syscall.Syscall
`
	var sum profileSummary
	sum.summarizeTop(top)
	if sum.SampledCPU != "Duration: 8.01s, Total samples = 7.90s (98.60%)" {
		t.Errorf("sampled %q", sum.SampledCPU)
	}
	want := []float64{41, 7, 10, 8} // syscalls, ours, runtime, the rest
	for i, g := range sum.Groups {
		if g.Percent < want[i]-1e-9 || g.Percent > want[i]+1e-9 {
			t.Errorf("group %q: %v%%, want %v%%", g.Name, g.Percent, want[i])
		}
	}
	if len(sum.Top) != 6 {
		t.Errorf("%d top lines, want 6", len(sum.Top))
	}
	if len(sum.Landmarks) != 2 || !strings.Contains(sum.Landmarks[0], "onExchanges") || !strings.Contains(sum.Landmarks[1], "allocation") {
		t.Errorf("landmarks %q", sum.Landmarks)
	}
	if len(sum.OursCum) != 2 || !strings.Contains(sum.OursCum[0], "flushWebSocket") || !strings.HasPrefix(sum.OursCum[0], " 50.0%") {
		t.Errorf("ours by cum %q", sum.OursCum)
	}
}

func TestOtherLoadCountsProcessesThatEndedDuringTheRun(t *testing.T) {
	at := time.Now()
	before := otherSnapshot{at: at, procs: map[int]procTime{20: {comm: "short", start: 5, ticks: 10, ppid: 1}}}
	var seen otherSnapshot
	seen.merge(before)
	// At 1s the short-lived process has used 60 more ticks; by 2s it is gone.
	seen.merge(otherSnapshot{at: at.Add(time.Second), procs: map[int]procTime{20: {comm: "short", start: 5, ticks: 70, ppid: 1}}})
	seen.merge(otherSnapshot{at: at.Add(2 * time.Second), procs: map[int]procTime{}})
	got := otherLoadBetween(before, seen, nil)
	if want := 0.3; got.Cores < want-1e-9 || got.Cores > want+1e-9 {
		t.Errorf("cores %v, want %v", got.Cores, want)
	}
}

// skipUnderShort skips, under go test -short (make unit), the tests that
// run the benchmark's baselines (Node, the npm packages of bench/) or pin
// processes with taskset. make test never passes -short.
func skipUnderShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs taskset and the Node baselines; skipped by -short (make unit)")
	}
}
