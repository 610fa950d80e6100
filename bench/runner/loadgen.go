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

	"chatgateway/cmd/loadgen/loadreport"
)

// correctness sums lost, duplicated and out-of-order deliveries.
type correctness struct {
	Lost, Duplicated, OutOfOrder int64
}

func (c correctness) zero() bool { return c.Lost == 0 && c.Duplicated == 0 && c.OutOfOrder == 0 }

func correctnessOf(r *loadreport.Report) correctness {
	if r == nil || r.Traffic == nil {
		return correctness{}
	}
	return correctness{Lost: r.Traffic.Lost, Duplicated: r.Traffic.Duplicated, OutOfOrder: r.Traffic.OutOfOrder}
}

// reportFailures lists why the run is not correct: the report's own
// failures, or the load generator's verdict when it found something the
// figures do not show; empty means correct.
func reportFailures(r *loadreport.Report) []string {
	if r == nil {
		return []string{"no report"}
	}
	why := r.Failures()
	if !r.OK && len(why) == 0 {
		why = append(why, "loadgen reported the run as not OK")
		if len(r.Errors) > 0 {
			why = append(why, r.Errors[0])
		}
	}
	return why
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
	report   *loadreport.Report
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
	// The load generator has exited and left the set by now: it is the
	// benchmark itself, not a disturbance.
	out.other = otherLoadBetween(before, seen, b.procs.pids(os.Getpid(), p.pid()))

	if err := os.WriteFile(out.jsonPath, stdout.Bytes(), 0o644); err != nil {
		out.err = err
		return out
	}
	var rep loadreport.Report
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
