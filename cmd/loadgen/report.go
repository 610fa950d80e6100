package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// report is everything a run measured; it is the JSON output.
type report struct {
	Scenario   string    `json:"scenario"`
	Config     config    `json:"config"`
	StartedAt  time.Time `json:"started_at"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	// OK: the run completed without any correctness error.
	OK          bool       `json:"ok"`
	WallSeconds float64    `json:"wall_seconds"`
	Connections *connStats `json:"connections,omitempty"`
	// LoadgenCPU is this process's CPU use over the whole run; MeasureCPU
	// over the measured phase only (sending and draining; churn's cycles).
	LoadgenCPU cpuUse       `json:"loadgen_cpu"`
	MeasureCPU *cpuUse      `json:"measure_cpu,omitempty"`
	Server     *serverStats `json:"server,omitempty"`
	// Traffic is set by fanout and bigroom, BigRoom by bigroom only.
	Traffic  *trafficStats `json:"traffic,omitempty"`
	BigRoom  *bigRoomStats `json:"bigroom,omitempty"`
	Idle     *idleStats    `json:"idle,omitempty"`
	Churn    *churnStats   `json:"churn,omitempty"`
	Warnings []string      `json:"warnings,omitempty"`
	// Errors are samples of distinct error texts.
	Errors []string `json:"errors"`
}

// serverStats describes the server process (with -server-pid).
type serverStats struct {
	PID            int   `json:"pid"`
	RSSBeforeBytes int64 `json:"rss_before_bytes"`
	RSSAfterBytes  int64 `json:"rss_after_bytes"`
	// RSSPerConnBytes is (after - before) / established connections.
	RSSPerConnBytes float64 `json:"rss_per_conn_bytes"`
	// CPU is over the measured phase.
	CPU *cpuUse `json:"cpu,omitempty"`
}

func (s *serverStats) setPerConnection(conns int) {
	if conns > 0 && s.RSSBeforeBytes > 0 && s.RSSAfterBytes > 0 {
		s.RSSPerConnBytes = float64(s.RSSAfterBytes-s.RSSBeforeBytes) / float64(conns)
	}
}

// trafficStats is the result of fanout and bigroom.
type trafficStats struct {
	Rooms           int     `json:"rooms"`
	MembersPerRoom  int     `json:"members_per_room"`
	Senders         int     `json:"senders"`
	MessagesPlanned int64   `json:"messages_planned"`
	MessagesSent    int64   `json:"messages_sent"`
	SendErrors      int64   `json:"send_errors"`
	SendSeconds     float64 `json:"send_seconds"`
	// TargetRate is the open-loop rate (0: closed loop with -window).
	TargetRate float64 `json:"target_rate"`
	SendRate   float64 `json:"send_rate"`
	// DeliveriesExpected is, per room, messages sent x members owed them.
	DeliveriesExpected int64 `json:"deliveries_expected"`
	// Deliveries counts distinct (receiver, room, order) deliveries;
	// Received every room event counted, duplicates included.
	Deliveries int64 `json:"deliveries"`
	Received   int64 `json:"received"`
	// DeliverySeconds runs from the first send to the last delivery.
	DeliverySeconds  float64 `json:"delivery_seconds"`
	DeliveriesPerSec float64 `json:"deliveries_per_sec"`
	// Latency is from the send (the scheduled time in open loop) to each
	// delivery.
	Latency latencySummary `json:"latency"`
	// Correctness, summed over every (receiver, room) stream.
	Lost                 int64  `json:"lost"`
	Duplicated           int64  `json:"duplicated"`
	OutOfOrder           int64  `json:"out_of_order"`
	Unexpected           int64  `json:"unexpected"`
	Foreign              int64  `json:"foreign"`
	Malformed            int64  `json:"malformed"`
	Exceptions           int64  `json:"exceptions"`
	ExceptionSample      string `json:"exception_sample,omitempty"`
	StreamsChecked       int64  `json:"streams_checked"`
	StreamsWithAnomalies int64  `json:"streams_with_anomalies"`
}

// bigRoomStats is the bigroom part: per message, the time until every
// member had it.
type bigRoomStats struct {
	Members    int            `json:"members"`
	Receivers  int64          `json:"receivers"`
	Messages   int            `json:"messages"`
	Complete   int            `json:"complete"`
	Incomplete int            `json:"incomplete"`
	AllMembers latencySummary `json:"all_members"`
}

func (r *report) warn(s string) { r.Warnings = append(r.Warnings, s) }

func (r *report) addErrors(samples []string) {
	for _, s := range samples {
		if len(r.Errors) < maxErrorSamples && !contains(r.Errors, s) {
			r.Errors = append(r.Errors, s)
		}
	}
}

// correct reports whether the run saw no correctness error.
func (r *report) correct() bool {
	if c := r.Connections; c != nil && (c.Failed > 0 || c.Established < c.Attempted || c.DroppedDuringRun > 0) {
		return false
	}
	if t := r.Traffic; t != nil {
		if t.Lost+t.Duplicated+t.OutOfOrder+t.Unexpected+t.Foreign+t.Malformed+t.Exceptions+t.SendErrors > 0 || t.MessagesSent < t.MessagesPlanned {
			return false
		}
	}
	if b := r.BigRoom; b != nil && b.Incomplete > 0 {
		return false
	}
	if c := r.Churn; c != nil && (c.HandshakeErrors > 0 || c.JoinErrors > 0) {
		return false
	}
	return true
}

// writeTable prints the report for people.
func writeTable(w io.Writer, r *report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	defer tw.Flush()
	row := func(label, format string, args ...any) {
		fmt.Fprintf(tw, "%s\t%s\n", label, fmt.Sprintf(format, args...))
	}
	c := r.Config
	row("scenario", "%s  url=%s eio=%d delivery=%s source-ips=%d prefix=%s", r.Scenario, c.URL, c.EIO, c.Delivery, len(c.SourceIPs), c.Prefix)
	if cs := r.Connections; cs != nil {
		row("connections", "%d/%d established, %d failed, %d dropped during the run, in %.2fs", cs.Established, cs.Attempted, cs.Failed, cs.DroppedDuringRun, cs.RampSeconds)
		row("  handshake", "%s", latencyText(cs.Handshake))
		if cs.Join != nil {
			row("  join", "%s", latencyText(*cs.Join))
		}
	}
	if t := r.Traffic; t != nil {
		mode := fmt.Sprintf("open loop at %.0f/s", t.TargetRate)
		if t.TargetRate == 0 {
			mode = fmt.Sprintf("closed loop, window %d per member", c.Window)
		}
		row("load", "%d rooms x %d members, %d senders, %s", t.Rooms, t.MembersPerRoom, t.Senders, mode)
		row("sent", "%d/%d messages in %.2fs (%.0f/s), %d send errors", t.MessagesSent, t.MessagesPlanned, t.SendSeconds, t.SendRate, t.SendErrors)
		row("deliveries", "%d/%d in %.2fs: %.0f/s", t.Deliveries, t.DeliveriesExpected, t.DeliverySeconds, t.DeliveriesPerSec)
		row("latency", "%s", latencyText(t.Latency))
		row("correctness", "lost %d, duplicated %d, out-of-order %d, unexpected %d, foreign %d, malformed %d, exceptions %d (%d of %d streams anomalous)",
			t.Lost, t.Duplicated, t.OutOfOrder, t.Unexpected, t.Foreign, t.Malformed, t.Exceptions, t.StreamsWithAnomalies, t.StreamsChecked)
		if t.ExceptionSample != "" {
			row("  exception", "%s", t.ExceptionSample)
		}
	}
	if b := r.BigRoom; b != nil {
		row("all members", "%d/%d messages reached all %d members, %d incomplete; %s", b.Complete, b.Messages, b.Receivers, b.Incomplete, latencyText(b.AllMembers))
	}
	if i := r.Idle; i != nil {
		row("idle", "%d connections held %.1fs (joined: %v), %d alive; loadgen %.0f B/conn", i.Connections, i.HoldSeconds, i.Joined, i.Alive, i.LoadgenRSSPerConnBytes)
	}
	if ch := r.Churn; ch != nil {
		row("churn", "%d cycles in %.2fs at target %.0f/s: %.0f handshakes/s, %.0f complete cycles/s", ch.Cycles, ch.RunSeconds, ch.TargetRate, ch.HandshakesPerSec, ch.CyclesPerSec)
		row("  errors", "handshake %d, join %d, error rate %.4f, late starts %d", ch.HandshakeErrors, ch.JoinErrors, ch.ErrorRate, ch.LateStarts)
	}
	row("loadgen cpu", "%s over the whole run", cpuText(r.LoadgenCPU))
	if r.MeasureCPU != nil {
		row("  measured", "%s", cpuText(*r.MeasureCPU))
	}
	if s := r.Server; s != nil && s.PID != 0 {
		row("server", "pid %d, RSS %s -> %s (%.0f B/conn)", s.PID, mib(s.RSSBeforeBytes), mib(s.RSSAfterBytes), s.RSSPerConnBytes)
		if s.CPU != nil {
			row("  cpu", "%s (measured phase)", cpuText(*s.CPU))
		}
	}
	for _, w := range r.Warnings {
		row("warning", "%s", w)
	}
	for _, e := range r.Errors {
		row("error", "%s", e)
	}
	verdict := "OK"
	if !r.OK {
		verdict = "FAILED (see above)"
	}
	row("result", "%s", verdict)
}

func latencyText(l latencySummary) string {
	if l.Count == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (n=%d)", ms(l.P50MS), ms(l.P90MS), ms(l.P99MS), ms(l.P999MS), ms(l.MaxMS), l.Count)
}

func ms(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}

func cpuText(u cpuUse) string {
	return fmt.Sprintf("%.2fs user + %.2fs sys over %.2fs = %.2f cores", u.UserSeconds, u.SystemSeconds, u.WallSeconds, u.Cores)
}

func mib(b int64) string {
	return strings.TrimSuffix(fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)), ".0MiB")
}
