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
	// ownLatencyTargetMS is the target for p99 at half our own saturation.
	ownLatencyTargetMS = 50
	// messageBytes is the content length of the messages of the fan-out
	// and latency runs: a chat line of ordinary length. smallMessageBytes
	// is the second fan-out figure's: the send time and sequence number
	// alone, what earlier runs of this benchmark sent.
	messageBytes      = 100
	smallMessageBytes = 25
	// idleRoomSize is how many idle connections join each room, as many
	// as in a fan-out room.
	idleRoomSize = 50
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
	// rounds is how many interleaved measured runs every case gets; the
	// table shows their median.
	rounds int
	// warmUp: every measured run is preceded by a short one on the same
	// server; calibrate: fan-out and churn runs are sized by a calibration
	// run on each server. Smoke mode, which judges no figure, goes without
	// both: its runs are tiny and fixed.
	warmUp, calibrate bool
	// fanout and latency: rooms x members, everyone sends.
	rooms, members int
	// fanoutSeconds is the planned length of a saturation run, from which
	// the message count is sized after a calibration run.
	fanoutSeconds float64
	maxPerMember  int
	// multiNodeSeconds is the planned length of a multi-node run.
	multiNodeSeconds float64
	// latencySeconds is the length of the open-loop latency run.
	latencySeconds float64
	sendBound      time.Duration // loadgen -duration for traffic
	drain          time.Duration // loadgen -drain
	trafficLimit   time.Duration // runner's deadline for one traffic run

	// idle: idleConns connections held idleUnjoinedHold, then joined to
	// rooms of idleRoomSize and held idleHold.
	idleConns        int
	idleUnjoinedHold time.Duration
	idleHold         time.Duration
	idleLimit        time.Duration
	// churn: cycles started at churnRate (above every server's pace), at
	// most churnFlight at once, sized to last about churnSeconds; a fresh
	// server gets churnWarmCycles first.
	churnRate        float64
	churnSeconds     float64
	churnCalibCycles int
	churnWarmCycles  int
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
		mode:   "default",
		rounds: 3,
		warmUp: true, calibrate: true,
		rooms: 10, members: 50,
		fanoutSeconds: 4, maxPerMember: 2000, multiNodeSeconds: 3,
		latencySeconds: 6,
		sendBound:      2 * time.Minute, drain: 30 * time.Second, trafficLimit: 4 * time.Minute,
		idleConns: 10_000, idleUnjoinedHold: 3 * time.Second, idleHold: 3 * time.Second, idleLimit: 3 * time.Minute,
		churnRate: 10_000, churnSeconds: 4, churnCalibCycles: 1000, churnWarmCycles: 200, churnMaxCycles: 100_000, churnFlight: 256, churnRooms: 100, churnLimit: 2 * time.Minute,
		bigMembers: 10_000, bigMessages: 40, bigInterval: 100 * time.Millisecond, bigLimit: 90 * time.Second,
	}
	switch {
	case o.smoke:
		s.mode = "smoke"
		s.rounds, s.warmUp, s.calibrate = 1, false, false
		s.rooms, s.members = 5, 10
		s.fanoutSeconds, s.maxPerMember, s.multiNodeSeconds = 0.3, 5, 0.3
		s.latencySeconds = 0.5
		s.sendBound, s.drain, s.trafficLimit = 30*time.Second, 10*time.Second, time.Minute
		s.idleConns, s.idleUnjoinedHold, s.idleHold, s.idleLimit = 50, 200*time.Millisecond, 300*time.Millisecond, time.Minute
		s.churnRate, s.churnSeconds, s.churnCalibCycles, s.churnMaxCycles, s.churnFlight, s.churnRooms, s.churnLimit = 100, 0.5, 20, 100, 16, 5, time.Minute
		s.bigMembers, s.bigMessages, s.bigInterval, s.bigLimit = 50, 5, 20*time.Millisecond, time.Minute
	case o.full:
		s.mode = "full"
		s.fanoutSeconds, s.maxPerMember, s.multiNodeSeconds = 20, 10_000, 10
		s.latencySeconds = 30
		s.sendBound, s.trafficLimit = 5*time.Minute, 8*time.Minute
		s.idleConns, s.idleUnjoinedHold, s.idleHold = 20_000, 10*time.Second, 10*time.Second
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

// runScenarios runs every selected scenario in turn.
func (b *bench) runScenarios(ctx context.Context) {
	b.res.Rounds = b.sz.rounds
	b.res.MessageBytes = messageBytes
	steps := []struct {
		name string
		fn   func(context.Context)
	}{
		{scFanout, b.fanout},
		{scLatency, b.latency},
		{scIdle, b.idle},
		{scChurn, b.churn},
		{scBigRoom, b.bigRoom},
		{scMultiNode, b.multiNode},
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

// session is one server started for some runs of one case; the runs are
// recorded under its scenario, variant and round.
type session struct {
	b        *bench
	scenario string
	variant  string
	round    int
	spec     serverSpec
	srv      *server
}

// open starts spec; on failure it records an error run and returns nil.
func (b *bench) open(ctx context.Context, k kase, round int, opts serverOptions) *session {
	srv, err := b.startServer(ctx, k.spec, opts)
	if err != nil {
		if ctx.Err() == nil {
			b.res.add(&runRecord{Scenario: k.scenario, Variant: k.variant, Round: round, Purpose: "measure", Server: k.spec, Err: "server did not start: " + err.Error()})
			b.logf("%s %s: server did not start: %v", k.scenario, k.spec.label(), err)
		}
		return nil
	}
	return &session{b: b, scenario: k.scenario, variant: k.variant, round: round, spec: k.spec, srv: srv}
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
// records the run. purpose "measure" is a run the table uses; it carries
// the session's round.
func (s *session) loadgen(ctx context.Context, purpose string, deadline time.Duration, during func(context.Context), args ...string) *runRecord {
	b := s.b
	prefix := fmt.Sprintf("b%d%s-", b.runSeq+1, strings.ReplaceAll(purpose, "-", ""))
	args = append([]string{"-prefix", prefix}, args...)
	name := fmt.Sprintf("%s-%s-%s", s.scenario, s.spec.slug(), purpose)
	if s.variant != "" {
		name = fmt.Sprintf("%s-%s-%s-%s", s.scenario, s.variant, s.spec.slug(), purpose)
	}
	round := 0
	if purpose == "measure" {
		round = s.round
		name += fmt.Sprintf("-%d", round)
	}
	began := time.Now()
	out := b.runLoadgen(ctx, loadgenRun{name: name, server: s.srv, args: args, deadline: deadline, during: during})
	rec := &runRecord{
		Seq:      b.runSeq,
		Scenario: s.scenario,
		Variant:  s.variant,
		Purpose:  purpose,
		Round:    round,
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
		b.logf("[%2d] %-12s %-40s %-10s %s (%.1fs)", rec.Seq, rec.scenarioText(), s.spec.label(), rec.purposeText(), rec.summaryLine(), rec.Seconds)
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

// trafficArgs are a fan-out run of perMember messages of size bytes from
// each member.
func (b *bench) trafficArgs(perMember, size int) []string {
	return []string{
		"-scenario", "fanout",
		"-rooms", strconv.Itoa(b.sz.rooms),
		"-members", strconv.Itoa(b.sz.members),
		"-messages", strconv.Itoa(perMember),
		"-size", strconv.Itoa(size),
		"-duration", b.sz.sendBound.String(),
		"-drain", b.sz.drain.String(),
	}
}

// warmUp sends one message per member: it warms a fresh server up (Node's
// JIT) before a measured run, and is not reported.
func (s *session) warmUp(ctx context.Context, size int) bool {
	if !s.b.sz.warmUp {
		return ctx.Err() == nil
	}
	rec := s.loadgen(ctx, "warm-up", s.b.sz.trafficLimit, nil, s.b.trafficArgs(1, size)...)
	return ctx.Err() == nil && rec.Report != nil
}

// fanoutCase is one fan-out configuration measured in every round.
type fanoutCase struct {
	spec    serverSpec
	variant string
	size    int
}

// fanoutCases are measured in this order in each round: ours and its
// baseline in turn.
var fanoutCases = []fanoutCase{
	{oursRoom, "", messageBytes}, {nodeSIO, "", messageBytes},
	{oursRoom, variantSmall, smallMessageBytes}, {nodeSIO, variantSmall, smallMessageBytes},
	{oursGlobal, "", messageBytes}, {nestJS, "", messageBytes},
	{oursSQLite, "", messageBytes},
}

// fanout measures deliveries/s at saturation (closed loop) for each
// pairing, and our durable store. Each server is calibrated once to size
// its runs; the measured runs of the rounds each get a fresh server.
func (b *bench) fanout(ctx context.Context) {
	perMember := map[serverSpec]int{}
	for _, c := range fanoutCases {
		if _, done := perMember[c.spec]; done || ctx.Err() != nil {
			continue
		}
		perMember[c.spec] = b.calibrateFanout(ctx, c.spec)
	}
	for round := 1; round <= b.sz.rounds; round++ {
		for _, c := range fanoutCases {
			if ctx.Err() != nil {
				return
			}
			if n := perMember[c.spec]; n > 0 {
				b.fanoutRun(ctx, c, n, round)
			}
		}
	}
	if b.opts.pprof && ctx.Err() == nil {
		b.profileFanout(ctx, perMember[oursRoom])
	}
}

// calibrateFanout tells how many messages per member make a run of the
// planned length on spec: 0 when the server could not be measured.
func (b *bench) calibrateFanout(ctx context.Context, spec serverSpec) int {
	if !b.sz.calibrate {
		return b.sz.maxPerMember
	}
	s := b.open(ctx, kase{scFanout, "", spec}, 0, serverOptions{})
	if s == nil {
		return 0
	}
	defer s.close()
	// Every member sends one message: it warms the server up and gives a
	// first rate. One message each is mostly ramp-up and underestimates a
	// fast server, so a second run of about a quarter of the planned
	// length corrects it, unless the first already took that long.
	global := spec.Delivery == "global"
	calib := s.loadgen(ctx, "calibrate", b.sz.trafficLimit, nil, b.trafficArgs(1, messageBytes)...)
	if ctx.Err() != nil || calib.Report == nil || calib.Report.Traffic == nil {
		return 0
	}
	if quarter := b.sz.fanoutSeconds / 4; calib.Report.Traffic.DeliverySeconds < quarter {
		n := fanoutPerMember(calib.Report.Traffic.DeliveriesPerSec, global, b.sz.rooms, b.sz.members, quarter, b.sz.maxPerMember)
		calib = s.loadgen(ctx, "calibrate", b.sz.trafficLimit, nil, b.trafficArgs(n, messageBytes)...)
		if ctx.Err() != nil || calib.Report == nil || calib.Report.Traffic == nil {
			return 0
		}
	}
	return fanoutPerMember(calib.Report.Traffic.DeliveriesPerSec, global, b.sz.rooms, b.sz.members, b.sz.fanoutSeconds, b.sz.maxPerMember)
}

// fanoutRun is one measured saturation run on a fresh server.
func (b *bench) fanoutRun(ctx context.Context, c fanoutCase, perMember, round int) {
	s := b.open(ctx, kase{scFanout, c.variant, c.spec}, round, serverOptions{})
	if s == nil {
		return
	}
	defer s.close()
	if s.warmUp(ctx, c.size) {
		s.loadgen(ctx, "measure", b.sz.trafficLimit, nil, b.trafficArgs(perMember, c.size)...)
	}
}

// profileFanout runs our server once more at saturation, profiled from
// the end of its ramp for about its send phase, so that the measured runs
// stay unprofiled. It is made long enough for a profile of a few thousand
// samples.
func (b *bench) profileFanout(ctx context.Context, perMember int) {
	runs := b.res.measured(scFanout, "", oursRoom)
	if perMember == 0 || len(runs) == 0 {
		return
	}
	last := runs[len(runs)-1]
	if last.Report == nil || last.Report.Traffic == nil || last.Report.Connections == nil {
		return
	}
	s := b.open(ctx, kase{scFanout, "", oursRoom}, 0, serverOptions{pprof: true})
	if s == nil {
		return
	}
	defer s.close()
	took := max(last.Report.Traffic.DeliverySeconds, 0.1)
	profSeconds := max(b.sz.fanoutSeconds, minProfileSeconds)
	profPerMember := min(int(math.Ceil(float64(perMember)*profSeconds/took)), b.sz.maxPerMember)
	ramp := time.Duration(last.Report.Connections.RampSeconds*float64(time.Second)) + 100*time.Millisecond
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
	}, b.trafficArgs(profPerMember, messageBytes)...)
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

// saturation is the median rate, in messages/s, of spec's correct
// measured fan-out runs with the main message size.
func (b *bench) saturation(spec serverSpec) float64 {
	var rates []float64
	for _, x := range b.res.measured(scFanout, "", spec) {
		if v, ok := figureOf(x, messagesPerSec); ok && x.ok() {
			rates = append(rates, v)
		}
	}
	return median(rates)
}

// latency measures latency in open loop at half of Node socket.io's
// saturation rate, for ours and Node socket.io, and for ours at half its
// own saturation rate too.
func (b *bench) latency(ctx context.Context) {
	if !b.opts.scenarios[scFanout] {
		// The rates come from the saturation runs: one round of them.
		for _, spec := range []serverSpec{oursRoom, nodeSIO} {
			if n := b.calibrateFanout(ctx, spec); n > 0 {
				b.fanoutRun(ctx, fanoutCase{spec, "", messageBytes}, n, 1)
			}
		}
	}
	rate, own := b.saturation(nodeSIO)/2, b.saturation(oursRoom)/2
	if rate <= 0 {
		for _, spec := range []serverSpec{oursRoom, nodeSIO} {
			b.res.add(&runRecord{Scenario: scLatency, Purpose: "measure", Server: spec, Err: "no correct Node socket.io saturation run to take the rate from"})
		}
	}
	if own <= 0 {
		b.res.add(&runRecord{Scenario: scLatency, Variant: variantOwn, Purpose: "measure", Server: oursRoom, Err: "no correct saturation run of ours to take the rate from"})
	}
	b.res.LatencyRate, b.res.OwnLatencyRate = rate, own
	for round := 1; round <= b.sz.rounds; round++ {
		for _, c := range []struct {
			spec    serverSpec
			variant string
			rate    float64
		}{{oursRoom, "", rate}, {nodeSIO, "", rate}, {oursRoom, variantOwn, own}} {
			if ctx.Err() != nil {
				return
			}
			if c.rate > 0 {
				b.latencyRun(ctx, kase{scLatency, c.variant, c.spec}, c.rate, round)
			}
		}
	}
}

func (b *bench) latencyRun(ctx context.Context, k kase, rate float64, round int) {
	s := b.open(ctx, k, round, serverOptions{})
	if s == nil {
		return
	}
	defer s.close()
	perMember := latencyPerMember(rate, b.sz.rooms*b.sz.members, b.sz.latencySeconds)
	if s.warmUp(ctx, messageBytes) {
		s.loadgen(ctx, "measure", b.sz.trafficLimit, nil, append(b.trafficArgs(perMember, messageBytes), "-rate", strconv.FormatFloat(rate, 'f', 1, 64))...)
	}
}

// idle holds many idle WebSocket connections to each server and reads its
// RSS per connection, before and after they joined rooms of idleRoomSize.
// NestJS is measured unjoined only: it sends every join's participant list
// to every connected socket (global delivery), about n² lists in all.
func (b *bench) idle(ctx context.Context) {
	conns := min(b.sz.idleConns, b.maxConns)
	if conns < b.sz.idleConns {
		b.res.Notes = append(b.res.Notes, fmt.Sprintf("idle: %d connections instead of %d: RLIMIT_NOFILE is %d and cannot be raised here (needs CAP_SYS_RESOURCE or a higher `ulimit -Hn`)", conns, b.sz.idleConns, b.fileLimit))
	}
	b.res.IdleConns = conns
	for round := 1; round <= b.sz.rounds; round++ {
		for _, spec := range []serverSpec{oursRoom, nodeSIO, oursGlobal, nestJS} {
			if ctx.Err() != nil {
				return
			}
			b.idleOne(ctx, kase{scIdle, "", spec}, round, conns, spec != nestJS, b.sz.idleLimit)
		}
	}
}

func (b *bench) idleOne(ctx context.Context, k kase, round, conns int, join bool, limit time.Duration) {
	s := b.open(ctx, k, round, serverOptions{})
	if s == nil {
		return
	}
	defer s.close()
	args := []string{
		"-scenario", "idle",
		"-conns", strconv.Itoa(conns),
		"-connect-rate", "0",
		"-duration", b.sz.idleHold.String(),
		"-source-ips", sourceIPs,
	}
	if join {
		args = append(args, "-join", "-rooms", strconv.Itoa(max(conns/idleRoomSize, 1)), "-unjoined-hold", b.sz.idleUnjoinedHold.String())
	}
	s.loadgen(ctx, "measure", limit, nil, args...)
}

// idle100k (bench-full) holds 100k idle connections to our server.
func (b *bench) idle100k(ctx context.Context) {
	if b.maxConns < idle100kConns {
		b.res.add(&runRecord{Scenario: scIdle100k, Purpose: "measure", Server: oursRoom, Skipped: true,
			Err: fmt.Sprintf("%d connections need RLIMIT_NOFILE >= %d for the server and the load generator each; the limit here is %d and cannot be raised (run as root with CAP_SYS_RESOURCE, or raise `ulimit -Hn`)", idle100kConns, idle100kConns+fdHeadroom, b.fileLimit)})
		return
	}
	b.idleOne(ctx, kase{scIdle100k, "", oursRoom}, 1, idle100kConns, false, 15*time.Minute)
}

// churn connects, joins and disconnects as fast as each server allows: an
// open-loop target above every server's pace, bounded in flight. The load
// generator runs rate x duration cycles however long they take, so a
// calibration run per server sizes the measured ones to last about
// churnSeconds.
func (b *bench) churn(ctx context.Context) {
	specs := []serverSpec{oursRoom, nodeSIO, oursGlobal, nestJS}
	cycles := map[serverSpec]int{}
	for _, spec := range specs {
		if ctx.Err() != nil {
			return
		}
		if !b.sz.calibrate {
			cycles[spec] = b.sz.churnCalibCycles
			continue
		}
		s := b.open(ctx, kase{scChurn, "", spec}, 0, serverOptions{})
		if s == nil {
			continue
		}
		calib := s.loadgen(ctx, "calibrate", b.sz.churnLimit, nil, b.churnArgs(b.sz.churnCalibCycles)...)
		if ctx.Err() == nil && calib.Report != nil && calib.Report.Churn != nil {
			cycles[spec] = churnCycles(calib.Report.Churn.HandshakesPerSec, b.sz.churnSeconds, b.sz.churnCalibCycles, b.sz.churnMaxCycles)
		}
		s.close()
	}
	for round := 1; round <= b.sz.rounds; round++ {
		for _, spec := range specs {
			if ctx.Err() != nil {
				return
			}
			if cycles[spec] == 0 {
				continue
			}
			s := b.open(ctx, kase{scChurn, "", spec}, round, serverOptions{})
			if s == nil {
				continue
			}
			warm := true
			if b.sz.warmUp {
				w := s.loadgen(ctx, "warm-up", b.sz.churnLimit, nil, b.churnArgs(b.sz.churnWarmCycles)...)
				warm = w.Report != nil
			}
			if warm && ctx.Err() == nil {
				s.loadgen(ctx, "measure", b.sz.churnLimit, nil, b.churnArgs(cycles[spec])...)
			}
			s.close()
		}
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
// takes to reach them all. A baseline that could not do it in a round (no
// figure) is not tried again: its failure is the finding, and each try
// lasts the runner's whole deadline.
func (b *bench) bigRoom(ctx context.Context) {
	specs := []serverSpec{oursRoom, nodeSIO}
	if b.sz.bigNest {
		specs = append(specs, oursGlobal, nestJS)
	}
	members := min(b.sz.bigMembers, b.maxConns)
	gaveUp := map[serverSpec]bool{}
	for round := 1; round <= b.sz.rounds; round++ {
		for _, spec := range specs {
			if ctx.Err() != nil {
				return
			}
			if gaveUp[spec] {
				continue
			}
			s := b.open(ctx, kase{scBigRoom, "", spec}, round, serverOptions{})
			if s == nil {
				continue
			}
			rec := s.loadgen(ctx, "measure", b.sz.bigLimit, nil,
				"-scenario", "bigroom",
				"-members", strconv.Itoa(members),
				"-messages", strconv.Itoa(b.sz.bigMessages),
				"-interval", b.sz.bigInterval.String(),
				"-drain", b.sz.drain.String(),
				"-source-ips", sourceIPs,
			)
			s.close()
			if _, ok := figureOf(rec, allMembersP99); spec.Kind != kindOurs && !ok && round < b.sz.rounds {
				gaveUp[spec] = true
				b.res.Notes = append(b.res.Notes, fmt.Sprintf("bigroom: %s had no figure in round %d (%s); its later rounds were not run", spec.label(), round, rec.status()))
			}
		}
	}
}
