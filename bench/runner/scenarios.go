package main

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Fixed parameters of the scenarios.
const (
	// sourceIPs spreads many connections over several loopback source
	// addresses: each has one ephemeral port range.
	sourceIPs = "127.0.0.2-127.0.0.9"
	// idle100kConns is bench-full's large idle run, and idle100kTargetBytes
	// its target for our server's RSS.
	idle100kConns       = 100_000
	idle100kTargetBytes = 2 << 30
	// bigRoomTargetMS is the target for the time until one message has
	// reached every member of the big room (p99).
	bigRoomTargetMS = 250
	// loadgenSaturated is the share of its core above which the load
	// generator, not the server, may be what limits a run.
	loadgenSaturated = 0.9
	// otherLoadWarn is the CPU (in cores) other processes may use during a
	// run before its figures are flagged as disturbed.
	otherLoadWarn = 0.25
	// otherLoadSample is how often the CPU use of other processes is
	// sampled during a run.
	otherLoadSample = time.Second
	// minProfileSeconds is the least length of the profiled run.
	minProfileSeconds = 8
)

// sizes are the scenario parameters of one mode (smoke, default, full).
type sizes struct {
	mode string
	// fanout and latency: rooms x members, everyone sends.
	rooms, members int
	// fanoutSeconds is the planned length of a saturation run, from which
	// the message count is sized after a calibration run.
	fanoutSeconds float64
	maxPerMember  int
	// latencySeconds is the length of the open-loop latency run.
	latencySeconds float64
	sendBound      time.Duration // loadgen -duration for traffic
	drain          time.Duration // loadgen -drain
	trafficLimit   time.Duration // runner's deadline for one traffic run

	idleConns int
	idleHold  time.Duration
	idleLimit time.Duration
	// churn: cycles started at churnRate (above every server's pace), at
	// most churnFlight at once, sized to last about churnSeconds.
	churnRate        float64
	churnSeconds     float64
	churnCalibCycles int
	churnMaxCycles   int
	churnFlight      int
	churnRooms       int
	churnLimit       time.Duration

	bigMembers  int
	bigMessages int
	bigInterval time.Duration
	bigLimit    time.Duration
	bigNest     bool
}

func sizesFor(o options) sizes {
	s := sizes{
		mode:  "default",
		rooms: 10, members: 50,
		fanoutSeconds: 5, maxPerMember: 2000,
		latencySeconds: 8,
		sendBound:      2 * time.Minute, drain: 30 * time.Second, trafficLimit: 4 * time.Minute,
		idleConns: 20_000, idleHold: 5 * time.Second, idleLimit: 3 * time.Minute,
		churnRate: 10_000, churnSeconds: 5, churnCalibCycles: 1000, churnMaxCycles: 100_000, churnFlight: 256, churnRooms: 100, churnLimit: 2 * time.Minute,
		bigMembers: 10_000, bigMessages: 40, bigInterval: 100 * time.Millisecond, bigLimit: 90 * time.Second,
	}
	switch {
	case o.smoke:
		s.mode = "smoke"
		s.rooms, s.members = 5, 10
		s.fanoutSeconds, s.maxPerMember = 0.3, 5
		s.latencySeconds = 0.5
		s.sendBound, s.drain, s.trafficLimit = 30*time.Second, 10*time.Second, time.Minute
		s.idleConns, s.idleHold, s.idleLimit = 50, 500*time.Millisecond, time.Minute
		s.churnRate, s.churnSeconds, s.churnCalibCycles, s.churnMaxCycles, s.churnFlight, s.churnRooms, s.churnLimit = 100, 0.5, 20, 100, 16, 5, time.Minute
		s.bigMembers, s.bigMessages, s.bigInterval, s.bigLimit = 50, 5, 20*time.Millisecond, time.Minute
	case o.full:
		s.mode = "full"
		s.fanoutSeconds, s.maxPerMember = 20, 10_000
		s.latencySeconds = 30
		s.sendBound, s.trafficLimit = 5*time.Minute, 8*time.Minute
		s.idleHold = 10 * time.Second
		s.churnSeconds, s.churnMaxCycles, s.churnLimit = 15, 300_000, 5*time.Minute
		s.bigMessages, s.bigLimit, s.bigNest = 100, 10*time.Minute, true
	}
	return s
}

// fanoutPerMember sizes a closed-loop fan-out run to last about seconds at
// deliveriesPerSec: the messages each member sends.
func fanoutPerMember(deliveriesPerSec float64, global bool, rooms, members int, seconds float64, maxPerMember int) int {
	receivers := members
	if global {
		receivers = rooms * members
	}
	perRound := float64(rooms*members) * float64(receivers) // deliveries when every member sends one
	n := int(math.Ceil(deliveriesPerSec * seconds / perRound))
	return min(max(n, 1), maxPerMember)
}

// latencyPerMember sizes an open-loop run at rate messages/s to last about
// seconds: the messages each of senders sends.
func latencyPerMember(rate float64, senders int, seconds float64) int {
	return max(int(math.Ceil(rate*seconds/float64(senders))), 1)
}

// runScenarios runs every selected scenario in turn, each server started
// fresh for each scenario.
func (b *bench) runScenarios(ctx context.Context) {
	steps := []struct {
		name string
		fn   func(context.Context)
	}{
		{scFanout, b.fanout},
		{scLatency, b.latency},
		{scIdle, b.idle},
		{scChurn, b.churn},
		{scBigRoom, b.bigRoom},
		{scIdle100k, b.idle100k},
	}
	for _, st := range steps {
		if ctx.Err() != nil {
			return
		}
		if b.opts.scenarios[st.name] {
			b.logf("== %s", st.name)
			st.fn(ctx)
		}
	}
}

// session is one server started for one scenario; its runs are recorded
// under the scenario.
type session struct {
	b        *bench
	scenario string
	spec     serverSpec
	srv      *server
}

// open starts spec; on failure it records an error run and returns nil.
func (b *bench) open(ctx context.Context, scenario string, spec serverSpec, opts serverOptions) *session {
	srv, err := b.startServer(ctx, spec, opts)
	if err != nil {
		if ctx.Err() == nil {
			b.res.add(&runRecord{Scenario: scenario, Purpose: "measure", Server: spec, Err: "server did not start: " + err.Error()})
			b.logf("%s %s: server did not start: %v", scenario, spec.label(), err)
		}
		return nil
	}
	return &session{b: b, scenario: scenario, spec: spec, srv: srv}
}

// close stops the server; a server that died, had to be killed or exited
// with an error fails the scenario's last run.
func (s *session) close() {
	if err := s.srv.stop(); err != nil {
		s.b.logf("%s", err)
		if last := s.b.res.last(s.scenario, s.spec); last != nil {
			last.Failures = append(last.Failures, "server: "+err.Error())
		}
	}
}

// loadgen runs the load generator against the session's server and
// records the run. purpose "measure" is the run the table uses.
func (s *session) loadgen(ctx context.Context, purpose string, deadline time.Duration, during func(context.Context), args ...string) *runRecord {
	b := s.b
	prefix := fmt.Sprintf("b%d%s-", b.runSeq+1, strings.ReplaceAll(purpose, "-", ""))
	args = append([]string{"-prefix", prefix}, args...)
	name := fmt.Sprintf("%s-%s-%s", s.scenario, s.spec.slug(), purpose)
	began := time.Now()
	out := b.runLoadgen(ctx, loadgenRun{name: name, server: s.srv, args: args, deadline: deadline, during: during})
	rec := &runRecord{
		Seq:      b.runSeq,
		Scenario: s.scenario,
		Purpose:  purpose,
		Server:   s.spec,
		Args:     args,
		JSONPath: rel(b.outDir, out.jsonPath),
		Report:   out.report,
		TimedOut: out.timedOut,
		Other:    out.other,
		Seconds:  time.Since(began).Seconds(),
	}
	if out.err != nil {
		rec.Err = out.err.Error()
	}
	rec.evaluate()
	b.res.add(rec)
	if ctx.Err() == nil {
		b.logf("[%2d] %-8s %-40s %-10s %s (%.1fs)", rec.Seq, s.scenario, s.spec.label(), purpose, rec.summaryLine(), rec.Seconds)
		for _, w := range rec.Warnings {
			b.logf("     warning: %s", w)
		}
	}
	return rec
}

func rel(base, path string) string {
	if r, err := filepath.Rel(base, path); err == nil {
		return r
	}
	return path
}

func (b *bench) trafficArgs(members, perMember int) []string {
	return []string{
		"-scenario", "fanout",
		"-rooms", strconv.Itoa(b.sz.rooms),
		"-members", strconv.Itoa(members),
		"-messages", strconv.Itoa(perMember),
		"-duration", b.sz.sendBound.String(),
		"-drain", b.sz.drain.String(),
	}
}

// fanout measures deliveries/s at saturation (closed loop) for each
// pairing, and our durable store on the side.
func (b *bench) fanout(ctx context.Context) {
	for _, spec := range []serverSpec{oursRoom, nodeSIO, oursGlobal, nestJS, oursSQLite} {
		if ctx.Err() != nil {
			return
		}
		b.fanoutOne(ctx, spec)
	}
}

func (b *bench) fanoutOne(ctx context.Context, spec serverSpec) {
	profile := b.opts.pprof && spec == oursRoom
	s := b.open(ctx, scFanout, spec, serverOptions{pprof: profile})
	if s == nil {
		return
	}
	defer s.close()
	// Calibration: every member sends one message. It warms the server up
	// (Node's JIT) and tells how many messages make a run of the planned
	// length on this machine.
	global := spec.Delivery == "global"
	calib := s.loadgen(ctx, "calibrate", b.sz.trafficLimit, nil, b.trafficArgs(b.sz.members, 1)...)
	if ctx.Err() != nil || calib.Report == nil || calib.Report.Traffic == nil {
		return
	}
	// One message each is mostly ramp-up and underestimates a fast
	// server: a second calibration of about a quarter of the planned
	// length corrects it, unless the first already took that long.
	if quarter := b.sz.fanoutSeconds / 4; calib.Report.Traffic.DeliverySeconds < quarter {
		n := fanoutPerMember(calib.Report.Traffic.DeliveriesPerSec, global, b.sz.rooms, b.sz.members, quarter, b.sz.maxPerMember)
		calib = s.loadgen(ctx, "calibrate", b.sz.trafficLimit, nil, b.trafficArgs(b.sz.members, n)...)
		if ctx.Err() != nil || calib.Report == nil || calib.Report.Traffic == nil {
			return
		}
	}
	perMember := fanoutPerMember(calib.Report.Traffic.DeliveriesPerSec, global, b.sz.rooms, b.sz.members, b.sz.fanoutSeconds, b.sz.maxPerMember)
	measured := s.loadgen(ctx, "measure", b.sz.trafficLimit, nil, b.trafficArgs(b.sz.members, perMember)...)
	if !profile || ctx.Err() != nil || measured.Report == nil || measured.Report.Traffic == nil || measured.Report.Connections == nil {
		return
	}
	// One more run, profiled from the end of its ramp for about its send
	// phase, so the measured run above stays unprofiled. It is made long
	// enough for a profile of a few thousand samples.
	took := max(measured.Report.Traffic.DeliverySeconds, 0.1)
	profSeconds := max(b.sz.fanoutSeconds, minProfileSeconds)
	profPerMember := min(int(math.Ceil(float64(perMember)*profSeconds/took)), b.sz.maxPerMember)
	ramp := time.Duration(measured.Report.Connections.RampSeconds*float64(time.Second)) + 100*time.Millisecond
	// Four fifths of the expected send phase: the profile should end
	// before the load does, not sample an idle server.
	seconds := max(int(0.8*took*float64(profPerMember)/float64(perMember)), 1)
	profPath := filepath.Join(b.outDir, "ours-fanout.cpu.pprof")
	var profErr error
	s.loadgen(ctx, "profile", b.sz.trafficLimit, func(ctx context.Context) {
		t := time.NewTimer(ramp)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			profErr = ctx.Err()
			return
		}
		profErr = captureProfile(ctx, s.srv.pprofAddr, seconds, profPath)
	}, b.trafficArgs(b.sz.members, profPerMember)...)
	if profErr != nil {
		b.logf("profile: %v", profErr)
		b.res.Notes = append(b.res.Notes, "CPU profile not captured: "+profErr.Error())
		return
	}
	sum, err := summarizeProfile(ctx, filepath.Join(b.binDir, "chatserver"), profPath, filepath.Join(b.outDir, "ours-fanout.pprof-top.txt"))
	if err != nil {
		b.logf("profile: %v", err)
		b.res.Notes = append(b.res.Notes, "CPU profile not summarised: "+err.Error())
		return
	}
	sum.Path, sum.TopPath = rel(b.outDir, sum.Path), rel(b.outDir, sum.TopPath)
	b.res.Profile = &sum
}

// latency measures latency in open loop at half of Node socket.io's
// saturation rate, for ours and Node socket.io.
func (b *bench) latency(ctx context.Context) {
	sat := b.res.measured(scFanout, nodeSIO)
	if sat == nil && !b.opts.scenarios[scFanout] {
		b.fanoutOne(ctx, nodeSIO)
		sat = b.res.measured(scFanout, nodeSIO)
	}
	rate := 0.0
	if sat != nil && sat.ok() {
		rate = sat.Report.Traffic.messagesPerSec() / 2
	}
	if rate <= 0 {
		for _, spec := range []serverSpec{oursRoom, nodeSIO} {
			b.res.add(&runRecord{Scenario: scLatency, Purpose: "measure", Server: spec, Err: "no correct Node socket.io saturation run to take the rate from"})
		}
		return
	}
	b.res.LatencyRate = rate
	senders := b.sz.rooms * b.sz.members
	perMember := latencyPerMember(rate, senders, b.sz.latencySeconds)
	args := append(b.trafficArgs(b.sz.members, perMember), "-rate", strconv.FormatFloat(rate, 'f', 1, 64))
	for _, spec := range []serverSpec{oursRoom, nodeSIO} {
		if ctx.Err() != nil {
			return
		}
		s := b.open(ctx, scLatency, spec, serverOptions{})
		if s == nil {
			continue
		}
		s.loadgen(ctx, "warm-up", b.sz.trafficLimit, nil, b.trafficArgs(b.sz.members, 1)...)
		if ctx.Err() == nil {
			s.loadgen(ctx, "measure", b.sz.trafficLimit, nil, args...)
		}
		s.close()
	}
}

// idle holds many idle WebSocket connections to each server and reads its
// RSS per connection.
func (b *bench) idle(ctx context.Context) {
	conns := min(b.sz.idleConns, b.maxConns)
	if conns < b.sz.idleConns {
		b.res.Notes = append(b.res.Notes, fmt.Sprintf("idle: %d connections instead of %d: RLIMIT_NOFILE is %d and cannot be raised here (needs CAP_SYS_RESOURCE or a higher `ulimit -Hn`)", conns, b.sz.idleConns, b.fileLimit))
	}
	b.res.IdleConns = conns
	for _, spec := range []serverSpec{oursRoom, nodeSIO, oursGlobal, nestJS} {
		if ctx.Err() != nil {
			return
		}
		b.idleOne(ctx, scIdle, spec, conns, b.sz.idleLimit)
	}
}

func (b *bench) idleOne(ctx context.Context, scenario string, spec serverSpec, conns int, limit time.Duration) {
	s := b.open(ctx, scenario, spec, serverOptions{})
	if s == nil {
		return
	}
	defer s.close()
	s.loadgen(ctx, "measure", limit, nil,
		"-scenario", "idle",
		"-conns", strconv.Itoa(conns),
		"-connect-rate", "0",
		"-duration", b.sz.idleHold.String(),
		"-source-ips", sourceIPs,
	)
}

// idle100k (bench-full) holds 100k idle connections to our server.
func (b *bench) idle100k(ctx context.Context) {
	if b.maxConns < idle100kConns {
		b.res.add(&runRecord{Scenario: scIdle100k, Purpose: "measure", Server: oursRoom, Skipped: true,
			Err: fmt.Sprintf("%d connections need RLIMIT_NOFILE >= %d for the server and the load generator each; the limit here is %d and cannot be raised (run as root with CAP_SYS_RESOURCE, or raise `ulimit -Hn`)", idle100kConns, idle100kConns+fdHeadroom, b.fileLimit)})
		return
	}
	b.idleOne(ctx, scIdle100k, oursRoom, idle100kConns, 15*time.Minute)
}

// churn connects, joins and disconnects as fast as each server allows: an
// open-loop target above every server's pace, bounded in flight. The load
// generator runs rate x duration cycles however long they take, so a short
// calibration run sizes the measured one to last about churnSeconds.
func (b *bench) churn(ctx context.Context) {
	for _, spec := range []serverSpec{oursRoom, nodeSIO, oursGlobal, nestJS} {
		if ctx.Err() != nil {
			return
		}
		s := b.open(ctx, scChurn, spec, serverOptions{})
		if s == nil {
			continue
		}
		calib := s.loadgen(ctx, "calibrate", b.sz.churnLimit, nil, b.churnArgs(b.sz.churnCalibCycles)...)
		if ctx.Err() == nil && calib.Report != nil && calib.Report.Churn != nil {
			cycles := churnCycles(calib.Report.Churn.HandshakesPerSec, b.sz.churnSeconds, b.sz.churnCalibCycles, b.sz.churnMaxCycles)
			s.loadgen(ctx, "measure", b.sz.churnLimit, nil, b.churnArgs(cycles)...)
		}
		s.close()
	}
}

// churnCycles is how many cycles last about seconds at perSec, within
// [least, most].
func churnCycles(perSec, seconds float64, least, most int) int {
	return min(max(int(math.Ceil(perSec*seconds)), least), most)
}

func (b *bench) churnArgs(cycles int) []string {
	d := time.Duration(float64(cycles) / b.sz.churnRate * float64(time.Second))
	return []string{
		"-scenario", "churn",
		"-rate", strconv.FormatFloat(b.sz.churnRate, 'f', -1, 64),
		"-duration", d.String(),
		"-max-inflight", strconv.Itoa(b.sz.churnFlight),
		"-rooms", strconv.Itoa(b.sz.churnRooms),
		"-source-ips", sourceIPs,
	}
}

// bigRoom puts every member in one room and measures how long one message
// takes to reach them all.
func (b *bench) bigRoom(ctx context.Context) {
	specs := []serverSpec{oursRoom, nodeSIO}
	if b.sz.bigNest {
		specs = append(specs, oursGlobal, nestJS)
	}
	members := min(b.sz.bigMembers, b.maxConns)
	for _, spec := range specs {
		if ctx.Err() != nil {
			return
		}
		s := b.open(ctx, scBigRoom, spec, serverOptions{})
		if s == nil {
			continue
		}
		s.loadgen(ctx, "measure", b.sz.bigLimit, nil,
			"-scenario", "bigroom",
			"-members", strconv.Itoa(members),
			"-messages", strconv.Itoa(b.sz.bigMessages),
			"-interval", b.sz.bigInterval.String(),
			"-drain", b.sz.drain.String(),
			"-source-ips", sourceIPs,
		)
		s.close()
	}
}
