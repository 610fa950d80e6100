package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lgReport is the part of cmd/loadgen's -json output (its report type,
// cmd/loadgen/report.go) that the runner reads.
type lgReport struct {
	Scenario    string        `json:"scenario"`
	GOMAXPROCS  int           `json:"gomaxprocs"`
	OK          bool          `json:"ok"`
	WallSeconds float64       `json:"wall_seconds"`
	Connections *lgConns      `json:"connections"`
	LoadgenCPU  lgCPU         `json:"loadgen_cpu"`
	MeasureCPU  *lgCPU        `json:"measure_cpu"`
	Server      *lgServer     `json:"server"`
	Traffic     *lgTraffic    `json:"traffic"`
	BigRoom     *lgBigRoom    `json:"bigroom"`
	Idle        *lgIdle       `json:"idle"`
	Churn       *lgChurn      `json:"churn"`
	Warnings    []string      `json:"warnings"`
	Errors      []string      `json:"errors"`
	Config      lgConfigShort `json:"config"`
}

type lgConfigShort struct {
	EIO      int    `json:"eio"`
	Delivery string `json:"delivery"`
	Prefix   string `json:"prefix"`
}

type lgConns struct {
	Attempted        int       `json:"attempted"`
	Established      int       `json:"established"`
	Failed           int       `json:"failed"`
	Handshake        lgLatency `json:"handshake"`
	RampSeconds      float64   `json:"ramp_seconds"`
	DroppedDuringRun int       `json:"dropped_during_run"`
}

type lgCPU struct {
	TotalSeconds float64 `json:"total_seconds"`
	WallSeconds  float64 `json:"wall_seconds"`
	Cores        float64 `json:"cores"`
}

type lgServer struct {
	PID             int     `json:"pid"`
	RSSBeforeBytes  int64   `json:"rss_before_bytes"`
	RSSAfterBytes   int64   `json:"rss_after_bytes"`
	RSSPerConnBytes float64 `json:"rss_per_conn_bytes"`
	CPU             *lgCPU  `json:"cpu"`
}

type lgLatency struct {
	Count uint64  `json:"count"`
	P50MS float64 `json:"p50_ms"`
	P99MS float64 `json:"p99_ms"`
	MaxMS float64 `json:"max_ms"`
}

type lgTraffic struct {
	MessagesPlanned    int64     `json:"messages_planned"`
	MessagesSent       int64     `json:"messages_sent"`
	SendErrors         int64     `json:"send_errors"`
	SendSeconds        float64   `json:"send_seconds"`
	TargetRate         float64   `json:"target_rate"`
	SendRate           float64   `json:"send_rate"`
	DeliveriesExpected int64     `json:"deliveries_expected"`
	Deliveries         int64     `json:"deliveries"`
	DeliverySeconds    float64   `json:"delivery_seconds"`
	DeliveriesPerSec   float64   `json:"deliveries_per_sec"`
	Latency            lgLatency `json:"latency"`
	Lost               int64     `json:"lost"`
	Duplicated         int64     `json:"duplicated"`
	OutOfOrder         int64     `json:"out_of_order"`
	Unexpected         int64     `json:"unexpected"`
	Foreign            int64     `json:"foreign"`
	Malformed          int64     `json:"malformed"`
	Exceptions         int64     `json:"exceptions"`
}

type lgBigRoom struct {
	Receivers  int64     `json:"receivers"`
	Messages   int       `json:"messages"`
	Complete   int       `json:"complete"`
	Incomplete int       `json:"incomplete"`
	AllMembers lgLatency `json:"all_members"`
}

type lgIdle struct {
	Connections int `json:"connections"`
	Alive       int `json:"alive"`
}

type lgChurn struct {
	Cycles           int64   `json:"cycles"`
	Handshakes       int64   `json:"handshakes"`
	HandshakeErrors  int64   `json:"handshake_errors"`
	JoinErrors       int64   `json:"join_errors"`
	ErrorRate        float64 `json:"error_rate"`
	HandshakesPerSec float64 `json:"handshakes_per_sec"`
	CyclesPerSec     float64 `json:"cycles_per_sec"`
}

// messagesPerSec is the rate at which messages were fully delivered: sent
// messages over the time from the first send to the last delivery. In a
// closed-loop run this is the server's saturation rate in messages/s.
func (t *lgTraffic) messagesPerSec() float64 {
	if t == nil || t.DeliverySeconds <= 0 {
		return 0
	}
	return float64(t.MessagesSent) / t.DeliverySeconds
}

// correctness sums lost, duplicated and out-of-order deliveries.
type correctness struct {
	Lost, Duplicated, OutOfOrder int64
}

func (c correctness) zero() bool { return c.Lost == 0 && c.Duplicated == 0 && c.OutOfOrder == 0 }

func (r *lgReport) correctness() correctness {
	if r == nil || r.Traffic == nil {
		return correctness{}
	}
	return correctness{Lost: r.Traffic.Lost, Duplicated: r.Traffic.Duplicated, OutOfOrder: r.Traffic.OutOfOrder}
}

// failures lists why the run is not correct, beyond the load generator's
// own verdict; empty means correct.
func (r *lgReport) failures() []string {
	var why []string
	if r == nil {
		return []string{"no report"}
	}
	if c := r.correctness(); !c.zero() {
		why = append(why, fmt.Sprintf("lost %d, duplicated %d, out-of-order %d", c.Lost, c.Duplicated, c.OutOfOrder))
	}
	if t := r.Traffic; t != nil {
		if n := t.Unexpected + t.Foreign + t.Malformed + t.Exceptions; n > 0 {
			why = append(why, fmt.Sprintf("unexpected %d, foreign %d, malformed %d, exceptions %d", t.Unexpected, t.Foreign, t.Malformed, t.Exceptions))
		}
		if t.SendErrors > 0 || t.MessagesSent < t.MessagesPlanned {
			why = append(why, fmt.Sprintf("sent %d of %d messages, %d send errors", t.MessagesSent, t.MessagesPlanned, t.SendErrors))
		}
	}
	if c := r.Connections; c != nil && (c.Failed > 0 || c.Established < c.Attempted || c.DroppedDuringRun > 0) {
		why = append(why, fmt.Sprintf("connections: %d/%d established, %d failed, %d dropped", c.Established, c.Attempted, c.Failed, c.DroppedDuringRun))
	}
	if b := r.BigRoom; b != nil && b.Incomplete > 0 {
		why = append(why, fmt.Sprintf("%d of %d messages did not reach every member", b.Incomplete, b.Messages))
	}
	if c := r.Churn; c != nil && (c.HandshakeErrors > 0 || c.JoinErrors > 0) {
		why = append(why, fmt.Sprintf("churn: %d handshake errors, %d join errors", c.HandshakeErrors, c.JoinErrors))
	}
	if !r.OK && len(why) == 0 {
		why = append(why, "loadgen reported the run as not OK")
		for _, e := range r.Errors {
			why = append(why, e)
			break
		}
	}
	return why
}

// loadgenCores is the load generator's CPU use over the measured phase
// when it has one, else over the whole run.
func (r *lgReport) loadgenCores() float64 {
	if r.MeasureCPU != nil {
		return r.MeasureCPU.Cores
	}
	return r.LoadgenCPU.Cores
}

func (r *lgReport) serverCores() (float64, bool) {
	if r.Server == nil || r.Server.CPU == nil {
		return 0, false
	}
	return r.Server.CPU.Cores, true
}

// loadgenRun is one invocation of the load generator.
type loadgenRun struct {
	name     string // file-name stem
	server   *server
	args     []string
	deadline time.Duration
	// during, if set, runs while the load generator runs (profiling).
	during func(ctx context.Context)
}

// loadgenOutcome is what one invocation produced.
type loadgenOutcome struct {
	report   *lgReport
	jsonPath string
	textPath string
	// timedOut: the runner interrupted it at its deadline.
	timedOut bool
	other    otherLoad
	err      error
}

// runLoadgen runs the load generator pinned to loadgenCore against the
// run's server, saves its JSON and table, and parses the JSON.
func (b *bench) runLoadgen(ctx context.Context, run loadgenRun) loadgenOutcome {
	b.runSeq++
	stem := filepath.Join(b.outDir, fmt.Sprintf("%02d-%s", b.runSeq, run.name))
	out := loadgenOutcome{jsonPath: stem + ".json", textPath: stem + ".txt"}
	srv := run.server
	args := append([]string{
		"-json",
		"-url", srv.url,
		"-server-pid", strconv.Itoa(srv.pid()),
		"-eio", strconv.Itoa(srv.spec.EIO),
		"-delivery", srv.spec.Delivery,
	}, run.args...)
	textFile, err := os.Create(out.textPath)
	if err != nil {
		out.err = err
		return out
	}
	defer textFile.Close()
	fmt.Fprintf(textFile, "# %s\n", strings.Join(append([]string{"loadgen"}, args...), " "))

	runCtx, cancel := context.WithTimeout(ctx, run.deadline)
	defer cancel()
	var stdout bytes.Buffer
	env := append(baseEnv(), "GOMAXPROCS=1")
	argv := pinned(loadgenCore, append([]string{filepath.Join(b.binDir, "loadgen")}, args...)...)
	before := sampleOtherLoad()
	p, err := b.procs.start("loadgen", b.repo, env, argv, func(c *exec.Cmd) {
		c.Stdout, c.Stderr = &stdout, textFile
	})
	if err != nil {
		out.err = err
		return out
	}
	if b.opts.onLoadgenStart != nil {
		b.opts.onLoadgenStart()
	}
	// during may outlast the load generator by a little (a profile being
	// written): only the runner's own end cancels it.
	duringDone := make(chan struct{})
	go func() {
		defer close(duringDone)
		if run.during != nil {
			run.during(ctx)
		}
	}()
	// Sampled all along, so that a process that came and went during the
	// run is counted too.
	var seen otherSnapshot
	seen.merge(before)
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(otherLoadSample)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-tick.C:
				seen.merge(sampleOtherLoad())
			}
		}
	}()
	select {
	case <-p.done:
	case <-runCtx.Done():
		out.timedOut = errors.Is(runCtx.Err(), context.DeadlineExceeded)
		// SIGINT: the load generator stops, closes its connections and
		// still prints what it measured.
		_ = p.cmd.Process.Signal(syscall.SIGINT)
		t := time.NewTimer(loadgenInterruptGrace)
		select {
		case <-p.done:
		case <-t.C:
			p.signalGroup(syscall.SIGKILL)
			<-p.done
		}
		t.Stop()
	}
	<-sampled
	seen.merge(sampleOtherLoad())
	cancel()
	<-duringDone
	out.other = otherLoadBetween(before, seen, map[int]bool{srv.pid(): true, p.pid(): true, os.Getpid(): true})

	if err := os.WriteFile(out.jsonPath, stdout.Bytes(), 0o644); err != nil {
		out.err = err
		return out
	}
	var rep lgReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		out.err = fmt.Errorf("loadgen %s: no JSON report (%v; exit: %v); see %s", run.name, err, p.err, out.textPath)
		return out
	}
	out.report = &rep
	// Exit 1 is an incorrect run, which the report describes; 2 is bad
	// flags, which would also have left no report.
	if p.err != nil {
		var exit *exec.ExitError
		if !errors.As(p.err, &exit) || exit.ExitCode() != 1 {
			if !out.timedOut && ctx.Err() == nil {
				out.err = fmt.Errorf("loadgen %s: %v; see %s", run.name, p.err, out.textPath)
			}
		}
	}
	return out
}
