package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"chatgateway/cmd/loadgen/loadreport"
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
	value  func(*loadreport.Report) (float64, bool)
	format func(float64) string
}

func perSecText(v float64) string  { return thousands(v) + "/s" }
func msValueText(v float64) string { return msText(v, true) }

var (
	deliveriesPerSec = metric{"deliveries/s", true, func(r *loadreport.Report) (float64, bool) {
		if r.Traffic == nil || r.Traffic.DeliveriesPerSec <= 0 {
			return 0, false
		}
		return r.Traffic.DeliveriesPerSec, true
	}, perSecText}
	// messagesPerSec is a saturation run's rate in messages fully
	// delivered per second, from which latency runs take their rate.
	messagesPerSec = metric{"messages/s", true, func(r *loadreport.Report) (float64, bool) {
		v := r.Traffic.MessagesPerSec()
		return v, v > 0
	}, perSecText}
	latencyP50 = metric{"latency p50", false, func(r *loadreport.Report) (float64, bool) {
		if r.Traffic == nil || r.Traffic.Latency.Count == 0 {
			return 0, false
		}
		return r.Traffic.Latency.P50MS, true
	}, msValueText}
	latencyP99 = metric{"latency p99", false, func(r *loadreport.Report) (float64, bool) {
		if r.Traffic == nil || r.Traffic.Latency.Count == 0 {
			return 0, false
		}
		return r.Traffic.Latency.P99MS, true
	}, msValueText}
	// joinedPerConn is the server's RSS per connection once every
	// connection joined a room (idle with -join).
	joinedPerConn = metric{"server RSS per connection, joined to rooms of 50", false, func(r *loadreport.Report) (float64, bool) {
		if r.Idle == nil || !r.Idle.Joined || r.Server == nil || r.Server.RSSPerConnBytes <= 0 {
			return 0, false
		}
		return r.Server.RSSPerConnBytes, true
	}, bytesText}
	// unjoinedPerConn is the same before any join: the first reading of a
	// run with -join, the only one of a run without.
	unjoinedPerConn = metric{"server RSS per connection, not joined", false, func(r *loadreport.Report) (float64, bool) {
		switch {
		case r.Idle != nil && r.Idle.Joined && r.Idle.UnjoinedRSSPerConnBytes > 0:
			return r.Idle.UnjoinedRSSPerConnBytes, true
		case r.Idle != nil && !r.Idle.Joined && r.Server != nil && r.Server.RSSPerConnBytes > 0:
			return r.Server.RSSPerConnBytes, true
		}
		return 0, false
	}, bytesText}
	rssTotal = metric{"server RSS", false, func(r *loadreport.Report) (float64, bool) {
		if r.Server == nil || r.Server.RSSAfterBytes <= 0 {
			return 0, false
		}
		return float64(r.Server.RSSAfterBytes), true
	}, bytesText}
	handshakesPerSec = metric{"connect+join+disconnect: handshakes/s", true, func(r *loadreport.Report) (float64, bool) {
		if r.Churn == nil || r.Churn.HandshakesPerSec <= 0 {
			return 0, false
		}
		return r.Churn.HandshakesPerSec, true
	}, perSecText}
	churnErrorRate = metric{"churn error rate", false, func(r *loadreport.Report) (float64, bool) {
		if r.Churn == nil || r.Churn.Cycles == 0 {
			return 0, false
		}
		return r.Churn.ErrorRate, true
	}, func(v float64) string { return fmt.Sprintf("%.4f", v) }}
	// nodeDeliveriesPerSec is, for a multi-node run, the deliveries/s to
	// the members of each node, averaged over the nodes.
	nodeDeliveriesPerSec = metric{"deliveries/s per node", true, func(r *loadreport.Report) (float64, bool) {
		if r.Traffic == nil || len(r.Traffic.PerServer) == 0 {
			return 0, false
		}
		var sum float64
		for _, p := range r.Traffic.PerServer {
			sum += p.DeliveriesPerSec
		}
		v := sum / float64(len(r.Traffic.PerServer))
		return v, v > 0
	}, perSecText}
	allMembersP99 = metric{"one message to all members, p99", false, func(r *loadreport.Report) (float64, bool) {
		if r.BigRoom == nil || r.BigRoom.AllMembers.Count == 0 {
			return 0, false
		}
		return r.BigRoom.AllMembers.P99MS, true
	}, msValueText}
)

// kase names the runs of one server in one scenario variant.
type kase struct {
	scenario, variant string
	spec              serverSpec
}

// figures is one metric over the measured runs of a case: the median of
// the rounds, with their minimum and maximum.
type figures struct {
	runs []*runRecord
	// values has one entry per run, in round order; NaN where the run has
	// no figure.
	values        []float64
	n             int
	med, min, max float64
}

func (f figures) ok() bool { return f.n > 0 }

// allOK: every run was correct.
func (f figures) allOK() bool {
	for _, x := range f.runs {
		if !x.ok() {
			return false
		}
	}
	return len(f.runs) > 0
}

// spread is (max - min) / median.
func (f figures) spread() float64 {
	if f.n < 2 || f.med == 0 {
		return 0
	}
	return (f.max - f.min) / math.Abs(f.med)
}

func (r *results) figures(k kase, m metric) figures {
	f := figures{runs: r.measured(k.scenario, k.variant, k.spec)}
	var got []float64
	for _, x := range f.runs {
		v, ok := figureOf(x, m)
		if !ok {
			f.values = append(f.values, math.NaN())
			continue
		}
		f.values = append(f.values, v)
		got = append(got, v)
	}
	f.n = len(got)
	if f.n == 0 {
		return f
	}
	f.min, f.max, f.med = slices.Min(got), slices.Max(got), median(got)
	return f
}

// median of vs (sorted in place); 0 for none.
func median(vs []float64) float64 {
	n := len(vs)
	if n == 0 {
		return 0
	}
	slices.Sort(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

func figureOf(rec *runRecord, m metric) (float64, bool) {
	if rec == nil || rec.Report == nil {
		return 0, false
	}
	return m.value(rec.Report)
}

// target is a goal for a row.
type target struct {
	text string
	// met judges our figures against the baseline's (empty without one).
	met func(ours, base figures) bool
	// relative targets need a baseline figure.
	relative bool
	// everyRound: the ratio column shows each round's ratio, and met
	// judges them all.
	everyRound bool
}

// atLeastTimes judges the ratio of the medians.
func atLeastTimes(x float64) *target {
	return &target{text: fmt.Sprintf("≥ %gx baseline", x), relative: true, met: func(o, b figures) bool { return o.med/b.med >= x }}
}

func atMostTimes(text string, x float64) *target {
	return &target{text: text, relative: true, met: func(o, b figures) bool { return o.med/b.med <= x }}
}

// atMostTimesEveryRound judges each round's ratio, ours against the
// baseline run of the same round.
func atMostTimesEveryRound(text string, x float64) *target {
	return &target{text: text, relative: true, everyRound: true, met: func(o, b figures) bool {
		ratios := roundRatios(o, b)
		if len(ratios) == 0 || len(ratios) != len(o.runs) {
			return false
		}
		for _, q := range ratios {
			if math.IsNaN(q) || q > x {
				return false
			}
		}
		return true
	}}
}

// belowEveryRun judges our figure of every run.
func belowEveryRun(text string, limit float64) *target {
	return &target{text: text, met: func(o, _ figures) bool {
		for _, v := range o.values {
			if math.IsNaN(v) || v >= limit {
				return false
			}
		}
		return o.n > 0
	}}
}

// roundRatios pairs the runs of the same round.
func roundRatios(o, b figures) []float64 {
	var out []float64
	for i, x := range o.runs {
		q := math.NaN()
		for j, y := range b.runs {
			if y.Round == x.Round && !math.IsNaN(o.values[i]) && !math.IsNaN(b.values[j]) && b.values[j] > 0 {
				q = o.values[i] / b.values[j]
			}
		}
		out = append(out, q)
	}
	return out
}

// row builds one comparison of our case against a baseline case (a zero
// base.spec: no baseline).
func (r *results) row(scenario string, m metric, ours, base kase, t *target) comparison {
	c := comparison{Scenario: scenario, Metric: m.name, Better: "lower", Base: "—", Ratio: "—"}
	if m.higher {
		c.Better = "higher"
	}
	if t != nil {
		c.Target = t.text
	}
	o := r.figures(ours, m)
	c.Ours = valueText(o, ours.spec, m)
	var b figures
	if base.spec != (serverSpec{}) {
		b = r.figures(base, m)
		c.Base = valueText(b, base.spec, m)
	}
	if o.ok() && b.ok() && b.med > 0 {
		c.Ratio = ratioText(o.med / b.med)
		if t != nil && t.everyRound {
			var parts []string
			for _, q := range roundRatios(o, b) {
				if math.IsNaN(q) {
					parts = append(parts, "—")
				} else {
					parts = append(parts, ratioText(q))
				}
			}
			c.Ratio = "per round " + strings.Join(parts, ", ")
		}
		if !o.allOK() || !b.allOK() {
			c.Ratio += " (a run FAILED)"
		}
	}
	c.Verdict = r.verdict(t, o, b)
	return c
}

func (r *results) verdict(t *target, o, b figures) string {
	switch {
	case t == nil:
		return "info"
	case r.Mode == "smoke":
		return "n/a (smoke)"
	case len(o.runs) == 0:
		return "not run"
	case o.runs[0].status() == "SKIPPED":
		return "NOT RUN: " + o.runs[0].Err
	case !o.allOK():
		return "MISSED (a run of ours FAILED)"
	case !o.ok():
		return "MISSED (no figure)"
	case t.relative && (!b.ok() || b.med <= 0):
		return "n/a (no baseline figure)"
	case t.met(o, b):
		return "MET"
	}
	return "MISSED"
}

// valueText is a case's cell: the median, and with several runs their
// range.
func valueText(f figures, spec serverSpec, m metric) string {
	label := spec.label()
	switch {
	case len(f.runs) == 0:
		return "not run: " + label
	case f.runs[0].status() == "SKIPPED":
		return "skipped: " + label
	case !f.ok():
		return fmt.Sprintf("no figure (%s): %s", f.runs[len(f.runs)-1].status(), label)
	}
	s := m.format(f.med)
	if len(f.runs) > 1 {
		s += fmt.Sprintf(" (%s–%s, median of %d)", m.format(f.min), m.format(f.max), f.n)
	}
	s += " — " + label
	if !f.allOK() {
		s += " (a run FAILED)"
	}
	return s
}

func ratioText(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.1fx", r)
	}
	return fmt.Sprintf("%.2fx", r)
}

// spreadLine is one case's spread over its rounds, for the spread table.
type spreadLine struct {
	Case   string  `json:"case"`
	Metric string  `json:"metric"`
	Values string  `json:"values"`
	Median string  `json:"median"`
	Spread float64 `json:"spread"`
}

// addSpread records the spread of a case's figures (cases with one run or
// none have none to show).
func (r *results) addSpread(k kase, m metric) {
	f := r.figures(k, m)
	if f.n < 2 {
		return
	}
	name := k.scenario
	if k.variant != "" {
		name += " " + k.variant
	}
	name += ", " + k.spec.label()
	for _, s := range r.Spreads {
		if s.Case == name && s.Metric == m.name {
			return
		}
	}
	var vals []string
	for _, v := range f.values {
		if math.IsNaN(v) {
			vals = append(vals, "—")
		} else {
			vals = append(vals, m.format(v))
		}
	}
	r.Spreads = append(r.Spreads, spreadLine{Case: name, Metric: m.name, Values: strings.Join(vals, ", "), Median: m.format(f.med), Spread: f.spread()})
}

// Variants of cases.
const (
	variantSmall = "25B" // fan-out with 25-byte messages
	variantOwn   = "own" // latency at half our own saturation
)

// compare builds the table rows from the measured runs, and the spread
// of every figure compared.
func (r *results) compare() []comparison {
	r.Spreads = nil
	clients := ""
	if runs := r.measured(scFanout, "", oursRoom); len(runs) > 0 && runs[0].Report != nil && runs[0].Report.Connections != nil {
		clients = fmt.Sprintf(", %d clients", runs[0].Report.Connections.Attempted)
	}
	var rows []comparison
	// Rows of scenarios left out (-scenarios) are left out too.
	add := func(c comparison) {
		if !strings.HasPrefix(c.Ours, "not run: ") || !strings.HasPrefix(c.Base, "not run: ") && c.Base != "—" {
			rows = append(rows, c)
		}
	}
	pair := func(scenario string, m metric, ours, base kase, t *target) {
		c := r.row(scenario, m, ours, base, t)
		add(c)
		r.addSpread(ours, m)
		if base.spec != (serverSpec{}) {
			r.addSpread(base, m)
		}
	}
	fan := func(variant string, spec serverSpec) kase { return kase{scFanout, variant, spec} }
	size := fmt.Sprintf(", %d-byte messages", r.MessageBytes)
	pair("fan-out at saturation, EIO4, room delivery"+clients+size, deliveriesPerSec, fan("", oursRoom), fan("", nodeSIO), atLeastTimes(10))
	pair(fmt.Sprintf("fan-out at saturation, EIO4, room delivery%s, %d-byte messages", clients, smallMessageBytes), deliveriesPerSec, fan(variantSmall, oursRoom), fan(variantSmall, nodeSIO), nil)
	pair("fan-out at saturation, EIO3, global delivery"+clients+size, deliveriesPerSec, fan("", oursGlobal), fan("", nestJS), atLeastTimes(5))
	pair("fan-out at saturation, EIO4, room delivery"+clients+size+": **durable SQLite store / memory store**, both ours", deliveriesPerSec, fan("", oursSQLite), fan("", oursRoom), atLeastTimes(0.5))
	pair("fan-out at saturation, EIO4, room delivery, **ours on the durable SQLite store** against Node (not like for like)"+clients+size, deliveriesPerSec, fan("", oursSQLite), fan("", nodeSIO), nil)
	lat := "fan-out open loop at half Node socket.io's saturation"
	if r.LatencyRate > 0 {
		lat = fmt.Sprintf("fan-out open loop at %s msgs/s (half Node socket.io's saturation)", thousands(r.LatencyRate))
	}
	latCase := func(variant string, spec serverSpec) kase { return kase{scLatency, variant, spec} }
	pair(lat, latencyP50, latCase("", oursRoom), latCase("", nodeSIO), nil)
	pair(lat, latencyP99, latCase("", oursRoom), latCase("", nodeSIO), atMostTimesEveryRound("≤ 0.5x baseline in every round", 0.5))
	own := "fan-out open loop at half our own saturation, ours only"
	if r.OwnLatencyRate > 0 {
		own = fmt.Sprintf("fan-out open loop at %s msgs/s (half our own saturation), ours only", thousands(r.OwnLatencyRate))
	}
	pair(own, latencyP99, latCase(variantOwn, oursRoom), kase{}, belowEveryRun(fmt.Sprintf("< %d ms in every round", ownLatencyTargetMS), ownLatencyTargetMS))
	idle := "idle WebSocket connections"
	if r.IdleConns > 0 {
		idle = fmt.Sprintf("%s idle WebSocket connections", thousands(float64(r.IdleConns)))
	}
	idleCase := func(spec serverSpec) kase { return kase{scIdle, "", spec} }
	pair(idle+", EIO4", joinedPerConn, idleCase(oursRoom), idleCase(nodeSIO), atMostTimes("≤ 0.33x baseline", 0.33))
	pair(idle+", EIO4", unjoinedPerConn, idleCase(oursRoom), idleCase(nodeSIO), nil)
	joined3 := r.row(idle+", EIO3", joinedPerConn, idleCase(oursGlobal), kase{}, nil)
	if len(r.measured(scIdle, "", oursGlobal)) > 0 {
		joined3.Base = "not measured: NestJS sends every join's list to every socket (global delivery), about n² lists: too many to join them all"
		add(joined3)
		r.addSpread(idleCase(oursGlobal), joinedPerConn)
	}
	pair(idle+", EIO3", unjoinedPerConn, idleCase(oursGlobal), idleCase(nestJS), nil)
	churn := func(spec serverSpec) kase { return kase{scChurn, "", spec} }
	pair("churn, EIO4", handshakesPerSec, churn(oursRoom), churn(nodeSIO), nil)
	pair("churn, EIO4", churnErrorRate, churn(oursRoom), churn(nodeSIO), nil)
	pair("churn, EIO3", handshakesPerSec, churn(oursGlobal), churn(nestJS), nil)
	pair("churn, EIO3", churnErrorRate, churn(oursGlobal), churn(nestJS), nil)
	big := "one room"
	if runs := r.measured(scBigRoom, "", oursRoom); len(runs) > 0 && runs[0].Report != nil && runs[0].Report.Connections != nil {
		big = fmt.Sprintf("one room of %s members", thousands(float64(runs[0].Report.Connections.Attempted)))
	}
	bigCase := func(spec serverSpec) kase { return kase{scBigRoom, "", spec} }
	pair(big+", EIO4", allMembersP99, bigCase(oursRoom), bigCase(nodeSIO), belowEveryRun(fmt.Sprintf("< %d ms in every round", bigRoomTargetMS), bigRoomTargetMS))
	if len(r.measured(scBigRoom, "", nestJS)) > 0 {
		pair(big+", EIO3, global", allMembersP99, bigCase(oursGlobal), bigCase(nestJS), nil)
	}
	for _, placement := range multiPlacements {
		mn := func(spec serverSpec) kase { return kase{scMultiNode, placement, spec} }
		what := fmt.Sprintf("%d nodes on Redis, EIO4, room delivery, members %s", multiNodes, map[string]string{
			placementRoom: "of each room on one node", placementSpread: "of each room over every node"}[placement])
		pair(what+": **Redis Cluster of 3, sharded pub/sub / one Redis, single channel**", nodeDeliveriesPerSec, mn(multiCluster), mn(multiSingle), nil)
		pair(what+": **one Redis, sharded pub/sub / single channel**", nodeDeliveriesPerSec, mn(multiSharded), mn(multiSingle), nil)
	}
	if len(r.measured(scIdle100k, "", oursRoom)) > 0 {
		c := r.row(fmt.Sprintf("%s idle WebSocket connections, ours only", thousands(idle100kConns)), rssTotal, kase{scIdle100k, "", oursRoom}, kase{}, belowEveryRun("< 2 GiB", idle100kTargetBytes))
		if est := r.idle100kEstimate(); est != "" {
			c.Ours += "; " + est
		}
		add(c)
	}
	add(r.correctnessRow("our server, every run", func(k serverKind) bool { return k == kindOurs }, true))
	add(r.correctnessRow("baselines, every run", func(k serverKind) bool { return k != kindOurs }, false))
	return rows
}

// idle100kEstimate extrapolates the 100k RSS from the idle runs when the
// 100k run could not happen, clearly as an estimate.
func (r *results) idle100kEstimate() string {
	if runs := r.measured(scIdle100k, "", oursRoom); len(runs) == 0 || runs[0].status() != "SKIPPED" {
		return ""
	}
	f := r.figures(kase{scIdle, "", oursRoom}, unjoinedPerConn)
	if !f.ok() || f.runs[0].Report == nil || f.runs[0].Report.Server == nil {
		return ""
	}
	est := float64(f.runs[0].Report.Server.RSSBeforeBytes) + f.med*idle100kConns
	return fmt.Sprintf("estimate, not measured: %s (base RSS + %s/conn unjoined x %s)", bytesText(est), bytesText(f.med), thousands(idle100kConns))
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
		c := correctnessOf(x.Report)
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
