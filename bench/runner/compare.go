package main

import (
	"fmt"
	"strings"
)

// comparison is one row of the table: our figure against a baseline's.
type comparison struct {
	Scenario string `json:"scenario"`
	Metric   string `json:"metric"`
	Ours     string `json:"ours"`
	Base     string `json:"baseline"`
	Ratio    string `json:"ratio"`
	Better   string `json:"better"`
	Target   string `json:"target"`
	Verdict  string `json:"verdict"`
}

// metric reads one figure from a report.
type metric struct {
	name   string
	higher bool // higher is better
	value  func(*lgReport) (float64, bool)
	format func(float64) string
}

var (
	deliveriesPerSec = metric{"deliveries/s", true, func(r *lgReport) (float64, bool) {
		if r.Traffic == nil || r.Traffic.DeliveriesPerSec <= 0 {
			return 0, false
		}
		return r.Traffic.DeliveriesPerSec, true
	}, func(v float64) string { return thousands(v) + "/s" }}
	latencyP50 = metric{"latency p50", false, func(r *lgReport) (float64, bool) {
		if r.Traffic == nil || r.Traffic.Latency.Count == 0 {
			return 0, false
		}
		return r.Traffic.Latency.P50MS, true
	}, func(v float64) string { return msText(v, true) }}
	latencyP99 = metric{"latency p99", false, func(r *lgReport) (float64, bool) {
		if r.Traffic == nil || r.Traffic.Latency.Count == 0 {
			return 0, false
		}
		return r.Traffic.Latency.P99MS, true
	}, func(v float64) string { return msText(v, true) }}
	rssPerConn = metric{"server RSS per connection", false, func(r *lgReport) (float64, bool) {
		if r.Server == nil || r.Server.RSSPerConnBytes <= 0 {
			return 0, false
		}
		return r.Server.RSSPerConnBytes, true
	}, bytesText}
	rssTotal = metric{"server RSS", false, func(r *lgReport) (float64, bool) {
		if r.Server == nil || r.Server.RSSAfterBytes <= 0 {
			return 0, false
		}
		return float64(r.Server.RSSAfterBytes), true
	}, bytesText}
	handshakesPerSec = metric{"connect+join+disconnect: handshakes/s", true, func(r *lgReport) (float64, bool) {
		if r.Churn == nil || r.Churn.HandshakesPerSec <= 0 {
			return 0, false
		}
		return r.Churn.HandshakesPerSec, true
	}, func(v float64) string { return thousands(v) + "/s" }}
	churnErrorRate = metric{"churn error rate", false, func(r *lgReport) (float64, bool) {
		if r.Churn == nil || r.Churn.Cycles == 0 {
			return 0, false
		}
		return r.Churn.ErrorRate, true
	}, func(v float64) string { return fmt.Sprintf("%.4f", v) }}
	allMembersP99 = metric{"one message to all members, p99", false, func(r *lgReport) (float64, bool) {
		if r.BigRoom == nil || r.BigRoom.AllMembers.Count == 0 {
			return 0, false
		}
		return r.BigRoom.AllMembers.P99MS, true
	}, func(v float64) string { return msText(v, true) }}
)

// target is a goal for a row: relative to the baseline (ratio) or
// absolute (our value alone).
type target struct {
	text string
	// met judges our value and the ratio ours/baseline (0 without one).
	met      func(ours, ratio float64) bool
	relative bool
}

func atLeastTimes(x float64) *target {
	return &target{text: fmt.Sprintf("≥ %gx baseline", x), relative: true, met: func(_, ratio float64) bool { return ratio >= x }}
}

func atMostTimes(text string, x float64) *target {
	return &target{text: text, relative: true, met: func(_, ratio float64) bool { return ratio <= x }}
}

func below(text string, limit float64) *target {
	return &target{text: text, met: func(ours, _ float64) bool { return ours < limit }}
}

// row builds one comparison from the measured runs.
func (r *results) row(scenario string, m metric, ours, base serverSpec, sc string, baseScenario string, t *target) comparison {
	c := comparison{Scenario: scenario, Metric: m.name, Better: "lower"}
	if m.higher {
		c.Better = "higher"
	}
	if t != nil {
		c.Target = t.text
	}
	o := r.measured(sc, ours)
	ov, oOK := figureOf(o, m)
	c.Ours = valueText(o, ours, m, ov, oOK)
	var bv float64
	var bOK bool
	if baseScenario != "" {
		bRec := r.measured(baseScenario, base)
		bv, bOK = figureOf(bRec, m)
		c.Base = valueText(bRec, base, m, bv, bOK)
	} else {
		c.Base = "—"
	}
	ratio := 0.0
	c.Ratio = "—"
	if oOK && bOK && bv > 0 {
		ratio = ov / bv
		c.Ratio = ratioText(ratio)
		if !o.ok() || !r.measured(baseScenario, base).ok() {
			c.Ratio += " (a run FAILED)"
		}
	}
	c.Verdict = r.verdict(t, o, ov, oOK, ratio, bOK)
	return c
}

func (r *results) verdict(t *target, o *runRecord, ov float64, oOK bool, ratio float64, bOK bool) string {
	switch {
	case t == nil:
		return "info"
	case r.Mode == "smoke":
		return "n/a (smoke)"
	case o == nil:
		return "not run"
	case o.status() == "SKIPPED":
		return "NOT RUN: " + o.Err
	case !o.ok():
		return "MISSED (our run " + o.status() + ")"
	case !oOK:
		return "MISSED (no figure)"
	case t.relative && !bOK:
		return "n/a (no baseline figure)"
	case t.met(ov, ratio):
		return "MET"
	}
	return "MISSED"
}

func figureOf(rec *runRecord, m metric) (float64, bool) {
	if rec == nil || rec.Report == nil {
		return 0, false
	}
	return m.value(rec.Report)
}

func valueText(rec *runRecord, spec serverSpec, m metric, v float64, ok bool) string {
	label := spec.label()
	switch {
	case rec == nil:
		return "not run: " + label
	case rec.status() == "SKIPPED":
		return "skipped: " + label
	case !ok:
		return fmt.Sprintf("no figure (%s): %s", rec.status(), label)
	}
	s := m.format(v) + " — " + label
	if !rec.ok() {
		s += " (" + rec.status() + ")"
	}
	return s
}

func ratioText(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.1fx", r)
	}
	return fmt.Sprintf("%.2fx", r)
}

// compare builds the table rows from the measured runs.
func (r *results) compare() []comparison {
	clients := ""
	if run := r.measured(scFanout, oursRoom); run != nil && run.Report != nil && run.Report.Connections != nil {
		clients = fmt.Sprintf(", %d clients", run.Report.Connections.Attempted)
	}
	var rows []comparison
	// Rows of scenarios left out (-scenarios) are left out too.
	add := func(c comparison) {
		if !strings.HasPrefix(c.Ours, "not run: ") || !strings.HasPrefix(c.Base, "not run: ") && c.Base != "—" {
			rows = append(rows, c)
		}
	}
	add(r.row("fan-out at saturation, EIO4, room delivery"+clients, deliveriesPerSec, oursRoom, nodeSIO, scFanout, scFanout, atLeastTimes(2)))
	add(r.row("fan-out at saturation, EIO3, global delivery"+clients, deliveriesPerSec, oursGlobal, nestJS, scFanout, scFanout, atLeastTimes(5)))
	add(r.row("fan-out at saturation, EIO4, room delivery, **ours on the durable SQLite store** (not like for like)"+clients, deliveriesPerSec, oursSQLite, nodeSIO, scFanout, scFanout, nil))
	lat := "fan-out open loop at half Node socket.io's saturation"
	if r.LatencyRate > 0 {
		lat = fmt.Sprintf("fan-out open loop at %s msgs/s (half Node socket.io's saturation)", thousands(r.LatencyRate))
	}
	add(r.row(lat, latencyP50, oursRoom, nodeSIO, scLatency, scLatency, nil))
	add(r.row(lat, latencyP99, oursRoom, nodeSIO, scLatency, scLatency, atMostTimes("≤ 0.5x baseline", 0.5)))
	idle := "idle WebSocket connections"
	if r.IdleConns > 0 {
		idle = fmt.Sprintf("%s idle WebSocket connections", thousands(float64(r.IdleConns)))
	}
	add(r.row(idle+", EIO4", rssPerConn, oursRoom, nodeSIO, scIdle, scIdle, atMostTimes("≤ 1/3 of baseline", 1.0/3)))
	add(r.row(idle+", EIO3", rssPerConn, oursGlobal, nestJS, scIdle, scIdle, nil))
	add(r.row("churn, EIO4", handshakesPerSec, oursRoom, nodeSIO, scChurn, scChurn, nil))
	add(r.row("churn, EIO4", churnErrorRate, oursRoom, nodeSIO, scChurn, scChurn, nil))
	add(r.row("churn, EIO3", handshakesPerSec, oursGlobal, nestJS, scChurn, scChurn, nil))
	add(r.row("churn, EIO3", churnErrorRate, oursGlobal, nestJS, scChurn, scChurn, nil))
	big := "one room"
	if run := r.measured(scBigRoom, oursRoom); run != nil && run.Report != nil && run.Report.Connections != nil {
		big = fmt.Sprintf("one room of %s members", thousands(float64(run.Report.Connections.Attempted)))
	}
	add(r.row(big+", EIO4", allMembersP99, oursRoom, nodeSIO, scBigRoom, scBigRoom, below(fmt.Sprintf("< %d ms", bigRoomTargetMS), bigRoomTargetMS)))
	if r.measured(scBigRoom, nestJS) != nil {
		add(r.row(big+", EIO3, global", allMembersP99, oursGlobal, nestJS, scBigRoom, scBigRoom, nil))
	}
	if r.measured(scIdle100k, oursRoom) != nil {
		c := r.row(fmt.Sprintf("%s idle WebSocket connections, ours only", thousands(idle100kConns)), rssTotal, oursRoom, serverSpec{}, scIdle100k, "", below("< 2 GiB", idle100kTargetBytes))
		if est := r.idle100kEstimate(); est != "" {
			c.Ours += "; " + est
		}
		add(c)
	}
	add(r.correctnessRow("our server, every run", func(k serverKind) bool { return k == kindOurs }, true))
	add(r.correctnessRow("baselines, every run", func(k serverKind) bool { return k != kindOurs }, false))
	return rows
}

// idle100kEstimate extrapolates the 100k RSS from the idle run when the
// 100k run could not happen, clearly as an estimate.
func (r *results) idle100kEstimate() string {
	if run := r.measured(scIdle100k, oursRoom); run == nil || run.status() != "SKIPPED" {
		return ""
	}
	small := r.measured(scIdle, oursRoom)
	v, ok := figureOf(small, rssPerConn)
	if !ok || small.Report.Server == nil {
		return ""
	}
	est := float64(small.Report.Server.RSSBeforeBytes) + v*idle100kConns
	return fmt.Sprintf("estimate, not measured: %s (base RSS + %s/conn x %s)", bytesText(est), bytesText(v), thousands(idle100kConns))
}

// correctnessRow sums lost, duplicated and out-of-order deliveries over
// the runs of the servers chosen and counts runs that were not correct;
// judged is whether the row carries the target.
func (r *results) correctnessRow(scenario string, choose func(serverKind) bool, judged bool) comparison {
	var sum correctness
	var bad []string
	runs := 0
	r.mu.Lock()
	for _, x := range r.Runs {
		if x.Skipped || !choose(x.Server.Kind) {
			continue
		}
		runs++
		c := x.Report.correctness()
		sum.Lost += c.Lost
		sum.Duplicated += c.Duplicated
		sum.OutOfOrder += c.OutOfOrder
		if !x.ok() {
			bad = append(bad, fmt.Sprintf("#%d %s %s", x.Seq, x.Scenario, x.Server.slug()))
		}
	}
	r.mu.Unlock()
	c := comparison{
		Scenario: scenario,
		Metric:   "lost / duplicated / out-of-order; runs not correct",
		Base:     "—",
		Ratio:    "—",
		Better:   "lower",
	}
	text := fmt.Sprintf("%d / %d / %d over %d runs", sum.Lost, sum.Duplicated, sum.OutOfOrder, runs)
	if len(bad) > 0 {
		text += fmt.Sprintf("; %d runs not OK: %s", len(bad), strings.Join(bad, ", "))
	}
	if judged {
		c.Ours, c.Target = text, "0, every run correct"
	} else {
		c.Ours, c.Base = "—", text
	}
	switch {
	case !judged:
		c.Verdict = "info"
	case runs == 0:
		c.Verdict = "not run"
	case sum.zero() && len(bad) == 0:
		c.Verdict = "MET"
	default:
		c.Verdict = "MISSED"
	}
	return c
}
