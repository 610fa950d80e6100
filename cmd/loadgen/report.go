package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"chatgateway/cmd/loadgen/loadreport"
)

// The report's types are loadreport's, shared with bench/runner, which
// reads the JSON this command writes.
type (
	report         = loadreport.Report
	config         = loadreport.Config
	connStats      = loadreport.ConnStats
	latencySummary = loadreport.LatencySummary
	cpuUse         = loadreport.CPUUse
	serverStats    = loadreport.ServerStats
	trafficStats   = loadreport.TrafficStats
	bigRoomStats   = loadreport.BigRoomStats
	idleStats      = loadreport.IdleStats
	churnStats     = loadreport.ChurnStats
)

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
		for _, p := range t.PerServer {
			row("  node", "%s (%s placement): %d members, %d deliveries, %.0f/s", p.URL, c.Placement, p.Members, p.Deliveries, p.DeliveriesPerSec)
		}
		row("latency", "%s", latencyText(t.Latency))
		if t.Arrival != nil {
			row("  arrival", "%s (to the kernel's receipt, without the generator's wait to read)", latencyText(*t.Arrival))
		}
		if t.SendLag != nil {
			row("  send lag", "%s (how late the generator sent, after the schedule)", latencyText(*t.SendLag))
		}
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
		if i.Joined {
			row("  unjoined", "server RSS %s before the joins (%.0f B/conn)", mib(i.UnjoinedRSSBytes), i.UnjoinedRSSPerConnBytes)
		}
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
