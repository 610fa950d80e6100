package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"chatgateway/cmd/loadgen/loadreport"
)

// runRecord is one load generator run (or one that could not happen).
type runRecord struct {
	Seq      int    `json:"seq"`
	Scenario string `json:"scenario"`
	// Variant tells apart the cases of one scenario and server: the
	// message size of a fan-out ("25B"), the rate of a latency run
	// ("own": half our own saturation). Empty for the main case.
	Variant  string             `json:"variant,omitempty"`
	Purpose  string             `json:"purpose"` // calibrate, warm-up, measure, profile
	Round    int                `json:"round,omitempty"`
	Server   serverSpec         `json:"server"`
	Args     []string           `json:"loadgen_args,omitempty"`
	JSONPath string             `json:"json,omitempty"`
	Report   *loadreport.Report `json:"-"`
	Err      string             `json:"error,omitempty"`
	Skipped  bool               `json:"skipped,omitempty"`
	TimedOut bool               `json:"timed_out,omitempty"`
	Other    otherLoad          `json:"other_load"`
	// Failures are correctness failures; Warnings doubts about the figures.
	Failures []string `json:"failures,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Seconds  float64  `json:"seconds"`
}

// evaluate derives the failures and warnings from the report.
func (r *runRecord) evaluate() {
	if r.TimedOut {
		r.Failures = append(r.Failures, "stopped at the runner's deadline")
	}
	rep := r.Report
	if rep == nil {
		return
	}
	r.Failures = append(r.Failures, reportFailures(rep)...)
	// Calibration and warm-up figures are not reported, so their load is
	// no concern.
	if c := rep.LoadgenCores(); c >= loadgenSaturated && r.Purpose != "calibrate" && r.Purpose != "warm-up" {
		r.Warnings = append(r.Warnings, fmt.Sprintf("load generator used %.2f of its core: the client may be the bottleneck, the server's figure is a lower bound", c))
	}
	if rep.GOMAXPROCS != 1 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("load generator ran with GOMAXPROCS=%d, not 1", rep.GOMAXPROCS))
	}
	if r.Other.Cores >= otherLoadWarn {
		r.Warnings = append(r.Warnings, fmt.Sprintf("other processes used %.2f cores during the run (%s): figures disturbed", r.Other.Cores, r.Other.Top))
	}
	for _, w := range rep.Warnings {
		r.Warnings = append(r.Warnings, "loadgen: "+w)
	}
}

// status is OK, FAILED (incorrect or incomplete), ERROR (no report) or
// SKIPPED (could not run here).
func (r *runRecord) status() string {
	switch {
	case r.Skipped:
		return "SKIPPED"
	case r.Report == nil:
		return "ERROR"
	case len(r.Failures) > 0 || r.Err != "":
		return "FAILED"
	}
	return "OK"
}

func (r *runRecord) ok() bool { return r != nil && r.status() == "OK" }

// figure is the run's headline number, for the runs table and the log.
func (r *runRecord) figure() string {
	rep := r.Report
	if rep == nil {
		return ""
	}
	switch {
	case rep.BigRoom != nil:
		b := rep.BigRoom
		return fmt.Sprintf("%d/%d msgs reached all %d members, all-members p99 %s", b.Complete, b.Messages, b.Receivers, msText(b.AllMembers.P99MS, b.AllMembers.Count > 0))
	case rep.Traffic != nil:
		t := rep.Traffic
		s := fmt.Sprintf("%s deliveries/s (%s msgs/s), p50 %s p99 %s", thousands(t.DeliveriesPerSec), thousands(t.MessagesPerSec()), msText(t.Latency.P50MS, t.Latency.Count > 0), msText(t.Latency.P99MS, t.Latency.Count > 0))
		if t.TargetRate > 0 {
			s = fmt.Sprintf("open loop %s msgs/s: ", thousands(t.TargetRate)) + s
		}
		return s
	case rep.Idle != nil:
		per := 0.0
		if rep.Server != nil {
			per = rep.Server.RSSPerConnBytes
		}
		if rep.Idle.Joined {
			return fmt.Sprintf("%s conns, server %s/conn unjoined, %s/conn joined", thousands(float64(rep.Idle.Connections)), bytesText(rep.Idle.UnjoinedRSSPerConnBytes), bytesText(per))
		}
		return fmt.Sprintf("%s conns, server %s/conn", thousands(float64(rep.Idle.Connections)), bytesText(per))
	case rep.Churn != nil:
		return fmt.Sprintf("%s handshakes/s, error rate %.4f", thousands(rep.Churn.HandshakesPerSec), rep.Churn.ErrorRate)
	}
	return ""
}

// scenarioText is the scenario with its variant, for tables and logs.
func (r *runRecord) scenarioText() string {
	if r.Variant == "" {
		return r.Scenario
	}
	return r.Scenario + " " + r.Variant
}

// purposeText is the purpose with the round of a measured run.
func (r *runRecord) purposeText() string {
	if r.Round == 0 {
		return r.Purpose
	}
	return fmt.Sprintf("%s %d", r.Purpose, r.Round)
}

func (r *runRecord) summaryLine() string {
	s := r.status() + " " + r.figure()
	if len(r.Failures) > 0 {
		s += "; " + strings.Join(r.Failures, "; ")
	}
	if r.Err != "" {
		s += "; " + r.Err
	}
	return s
}

// results is everything one invocation produced.
type results struct {
	mu          sync.Mutex
	Mode        string          `json:"mode"`
	Machine     machineInfo     `json:"machine"`
	Runs        []*runRecord    `json:"runs"`
	Comparisons []comparison    `json:"comparisons"`
	Profile     *profileSummary `json:"profile,omitempty"`
	// LatencyRate is the open-loop rate of the latency runs, messages/s;
	// OwnLatencyRate that of the runs at half our own saturation.
	LatencyRate    float64 `json:"latency_rate"`
	OwnLatencyRate float64 `json:"own_latency_rate"`
	// MessageBytes is the content length of the messages of the main
	// fan-out and latency runs.
	MessageBytes int `json:"message_bytes"`
	// Rounds is how many interleaved measured runs each case had.
	Rounds    int          `json:"rounds"`
	Spreads   []spreadLine `json:"spreads,omitempty"`
	IdleConns int          `json:"idle_conns"`
	Notes     []string     `json:"notes,omitempty"`
	Seconds   float64      `json:"seconds"`
}

func newResults() *results { return &results{} }

func (r *results) add(rec *runRecord) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Runs = append(r.Runs, rec)
}

// measured is every measured run of (scenario, variant, server), in
// round order.
func (r *results) measured(scenario, variant string, spec serverSpec) []*runRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var runs []*runRecord
	for _, x := range r.Runs {
		if x.Scenario == scenario && x.Variant == variant && x.Server == spec && x.Purpose == "measure" {
			runs = append(runs, x)
		}
	}
	return runs
}

// last is the latest run of (scenario, server), or nil.
func (r *results) last(scenario string, spec serverSpec) *runRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.Runs) - 1; i >= 0; i-- {
		if x := r.Runs[i]; x.Scenario == scenario && x.Server == spec {
			return x
		}
	}
	return nil
}

// allCorrect reports whether every run of our server was correct. A
// baseline that fails a scenario (Node socket.io cannot seat 10,000 members
// in time) is a finding of the table, not a failure of the benchmark.
func (r *results) allCorrect() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.Runs {
		if x.Server.Kind != kindOurs {
			continue
		}
		if s := x.status(); s != "OK" && s != "SKIPPED" {
			return false
		}
	}
	return true
}

// write prints the results as Markdown to stdout and saves them, with a
// JSON summary, in dir.
func (r *results) write(dir string, stdout io.Writer) error {
	r.Comparisons = r.compare()
	md := r.markdown()
	if _, err := io.WriteString(stdout, md); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	r.mu.Lock()
	js, err := json.MarshalIndent(r, "", "  ")
	r.mu.Unlock()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "summary.json"), js, 0o644)
}

func (r *results) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmark (%s mode)\n\n", r.Mode)
	b.WriteString(r.Machine.markdown())
	b.WriteString("- pinning: each server on core 0 (`taskset -c 0`, ours with GOMAXPROCS=1), the load generator on core 1 (`taskset -c 1`, GOMAXPROCS=1); loopback only\n")
	if r.Mode == "smoke" {
		b.WriteString("\n**Smoke mode: checks correctness only. Its figures are not measurements and the targets are not judged.**\n")
	}
	b.WriteString("\n## Comparison\n\n")
	b.WriteString("Ratio = ours / baseline. Throughput: higher is better, a ratio above 1 favours ours. Latency and memory: lower is better, a ratio below 1 favours ours.\n\n")
	b.WriteString("| scenario | metric | ours | baseline | ours/baseline | better | target | verdict |\n|---|---|---|---|---|---|---|---|\n")
	for _, c := range r.Comparisons {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Scenario, c.Metric, c.Ours, c.Base, c.Ratio, c.Better, c.Target, c.Verdict)
	}
	if len(r.Spreads) > 0 {
		fmt.Fprintf(&b, "\n## Spread\n\nEach figure above is the median of %d interleaved runs (ours, baseline, ours, baseline, ... in every round, each on a fresh server, so a drift of the machine hits both). Spread = (max − min) / median.\n\n", r.Rounds)
		b.WriteString("| case | metric | runs, in round order | median | spread |\n|---|---|---|---|---|\n")
		for _, s := range r.Spreads {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %.0f%% |\n", cell(s.Case), s.Metric, s.Values, s.Median, 100*s.Spread)
		}
	}
	b.WriteString("\n## Runs\n\n")
	b.WriteString("Every load generator run, its raw JSON report in the results directory. Correctness: lost / duplicated / out-of-order deliveries. CPU in cores over the measured phase; \"other\" is CPU used meanwhile by processes outside the benchmark.\n\n")
	b.WriteString("| # | scenario | server | run | result | lost/dup/ooo | figure | loadgen cpu | server cpu | other cpu | JSON |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	var warnings []string
	for _, x := range r.Runs {
		corr, lg, sv := "", "", ""
		if x.Report != nil {
			if x.Report.Traffic != nil {
				c := correctnessOf(x.Report)
				corr = fmt.Sprintf("%d/%d/%d", c.Lost, c.Duplicated, c.OutOfOrder)
			}
			lg = fmt.Sprintf("%.2f", x.Report.LoadgenCores())
			if c, ok := x.Report.ServerCores(); ok {
				sv = fmt.Sprintf("%.2f", c)
			}
		}
		result := x.status()
		if detail := strings.Join(append(append([]string{}, x.Failures...), nonEmpty(x.Err)...), "; "); detail != "" {
			result += ": " + detail
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %s |\n", x.Seq, x.scenarioText(), x.Server.label(), x.purposeText(), cell(result), corr, cell(x.figure()), lg, sv, x.Other.Cores, x.JSONPath)
		for _, w := range x.Warnings {
			warnings = append(warnings, fmt.Sprintf("- #%d %s %s %s: %s", x.Seq, x.Scenario, x.Server.label(), x.Purpose, w))
		}
	}
	if len(warnings) > 0 {
		b.WriteString("\n### Warnings\n\n" + strings.Join(warnings, "\n") + "\n")
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n### Notes\n\n")
		for _, n := range r.Notes {
			b.WriteString("- " + n + "\n")
		}
	}
	if r.Profile != nil {
		b.WriteString("\n## Where the time goes\n\n")
		b.WriteString(r.Profile.markdown())
	}
	fmt.Fprintf(&b, "\nTook %s.\n", (time.Duration(r.Seconds * float64(time.Second))).Round(time.Second))
	return b.String()
}

func nonEmpty(s string) []string {
	if s == "" {
		return nil
	}
	return []string{s}
}

// cell keeps a value inside its Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "\n", " ")
}

// thousands formats n rounded, with thousands separators.
func thousands(n float64) string {
	s := strconv.FormatInt(int64(math.Round(n)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func msText(ms float64, have bool) string {
	if !have {
		return "none"
	}
	if ms < 10 {
		return fmt.Sprintf("%.2f ms", ms)
	}
	return fmt.Sprintf("%s ms", thousands(ms))
}

func bytesText(n float64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", n/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}
