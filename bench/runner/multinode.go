package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The multi-node scenario: several of our servers on one Redis deployment,
// the load generator's members spread over them, each configuration of
// the Redis pub/sub measured in the same run: a Redis Cluster with sharded
// pub/sub (one channel per room), and one Redis server with the single
// channel every node reads whole (the broker before issue 13) and with
// sharded channels (PUBSUB's choice on a standalone Redis 7).
const (
	// multiNodes is how many gateway processes run: as many as the cores
	// the server side gets. They all share core serverCore, GOMAXPROCS=1
	// each, so each node's figure is what it does on half a core.
	multiNodes = 2
	// clusterMasters is the size of the benchmark's Redis Cluster: no
	// replicas and no persistence, as the single Redis of the comparison
	// (pub/sub and appends are measured, not durability).
	clusterMasters = 3
	// redisCore is where the Redis servers run, with the load generator.
	redisCore = loadgenCore
	// redisReadyTimeout bounds a Redis server's start and a cluster's
	// creation.
	redisReadyTimeout = 30 * time.Second
)

// Placements of the members: every room over every node, or each room on
// one node (rooms in turn).
const (
	placementSpread = "spread"
	placementRoom   = "room"
)

var multiPlacements = []string{placementRoom, placementSpread}

// The configurations compared, in run order within a round.
var (
	multiCluster = serverSpec{Kind: kindOurs, Delivery: "room", Store: "redis-cluster", EIO: 4, PubSub: "sharded", Nodes: multiNodes}
	multiSingle  = serverSpec{Kind: kindOurs, Delivery: "room", Store: "redis", EIO: 4, PubSub: "single", Nodes: multiNodes}
	multiSharded = serverSpec{Kind: kindOurs, Delivery: "room", Store: "redis", EIO: 4, PubSub: "sharded", Nodes: multiNodes}
	multiSpecs   = []serverSpec{multiCluster, multiSingle, multiSharded}
)

// redisDeployment is one started Redis (a server or a cluster).
type redisDeployment struct {
	url   string
	procs []*proc
}

func (d *redisDeployment) stop() {
	for _, p := range d.procs {
		p.stop(stopGrace)
	}
}

// startRedisServer starts one redis-server on a free loopback port, pinned
// to redisCore, with no persistence; extra are more config directives.
func (b *bench) startRedisServer(ctx context.Context, name string, extra ...string) (*proc, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	dir := filepath.Join(b.outDir, "redis", fmt.Sprintf("%s-%d", name, port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	conf := append([]string{
		"bind 127.0.0.1", "port " + strconv.Itoa(port), "dir " + strconv.Quote(dir),
		`save ""`, "appendonly no", "logfile redis.log", "daemonize no",
	}, extra...)
	confPath := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(strings.Join(conf, "\n")+"\n"), 0o644); err != nil {
		return nil, "", err
	}
	p, err := b.procs.start("redis-"+name, dir, baseEnv(), pinned(redisCore, "redis-server", confPath), nil)
	if err != nil {
		return nil, "", err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	err = b.waitRedis(ctx, p, func() error {
		out, err := redisCLI(ctx, "-p", strconv.Itoa(port), "ping")
		if err == nil && strings.TrimSpace(out) != "PONG" {
			err = fmt.Errorf("PING answered %q", out)
		}
		return err
	})
	if err != nil {
		p.stop(stopGrace)
		return nil, "", fmt.Errorf("redis-server %s: %w (log in %s)", addr, err, dir)
	}
	return p, addr, nil
}

// startRedisCluster starts clusterMasters nodes and creates a cluster of
// them (redis-cli --cluster create, no replicas).
func (b *bench) startRedisCluster(ctx context.Context) (*redisDeployment, error) {
	d := &redisDeployment{}
	var addrs []string
	for i := range clusterMasters {
		p, addr, err := b.startRedisServer(ctx, fmt.Sprintf("cluster%d", i), "cluster-enabled yes", "cluster-config-file nodes.conf", "cluster-node-timeout 5000")
		if err != nil {
			d.stop()
			return nil, err
		}
		d.procs = append(d.procs, p)
		addrs = append(addrs, addr)
	}
	args := append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")
	if out, err := redisCLI(ctx, args...); err != nil {
		d.stop()
		return nil, fmt.Errorf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	err := b.waitRedis(ctx, d.procs[0], func() error {
		for _, a := range addrs {
			_, port, _ := strings.Cut(a, ":")
			out, err := redisCLI(ctx, "-p", port, "cluster", "info")
			if err != nil {
				return err
			}
			if !strings.Contains(out, "cluster_state:ok") {
				return fmt.Errorf("%s: cluster not ready", a)
			}
		}
		return nil
	})
	if err != nil {
		d.stop()
		return nil, err
	}
	d.url = "redis-cluster://" + strings.Join(addrs, ",")
	return d, nil
}

// waitRedis polls ready until it succeeds, p exits or redisReadyTimeout
// passes.
func (b *bench) waitRedis(ctx context.Context, p *proc, ready func() error) error {
	ctx, cancel := context.WithTimeout(ctx, redisReadyTimeout)
	defer cancel()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited: %v", p.err)
		case <-ctx.Done():
			return fmt.Errorf("not ready within %v: %v", redisReadyTimeout, err)
		case <-tick.C:
		}
	}
}

func redisCLI(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, redisReadyTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", "127.0.0.1"}, args...)...).CombinedOutput()
	return string(out), err
}

// multiNode runs the scenario: each round, each placement, each
// configuration on fresh servers (a warm-up, then a measured run), all on
// one Redis Cluster and one Redis server started for the scenario.
func (b *bench) multiNode(ctx context.Context) {
	fail := func(err error) {
		for _, spec := range multiSpecs {
			b.res.add(&runRecord{Scenario: scMultiNode, Purpose: "measure", Server: spec, Err: err.Error()})
		}
		b.logf("%s: %v", scMultiNode, err)
	}
	for _, tool := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(tool); err != nil {
			fail(fmt.Errorf("%s not on PATH (make setup installs it)", tool))
			return
		}
	}
	cluster, err := b.startRedisCluster(ctx)
	if err != nil {
		fail(err)
		return
	}
	defer cluster.stop()
	single, addr, err := b.startRedisServer(ctx, "standalone")
	if err != nil {
		fail(err)
		return
	}
	defer single.stop(stopGrace)
	urls := map[string]string{"redis-cluster": cluster.url, "redis": "redis://" + addr + "/0"}

	perMember := b.calibrateMultiNode(ctx, urls)
	if perMember == 0 {
		return
	}
	for round := 1; round <= b.sz.rounds; round++ {
		for _, placement := range multiPlacements {
			for _, spec := range multiSpecs {
				if ctx.Err() != nil {
					return
				}
				b.multiNodeRun(ctx, spec, placement, urls[spec.Store], perMember, round, "measure")
			}
		}
	}
}

// calibrateMultiNode sizes the measured runs on the single channel
// (every configuration then sends the same messages): 0 when it failed.
func (b *bench) calibrateMultiNode(ctx context.Context, urls map[string]string) int {
	if !b.sz.calibrate {
		return b.sz.maxPerMember
	}
	rec := b.multiNodeRun(ctx, multiSingle, placementSpread, urls[multiSingle.Store], 1, 0, "calibrate")
	if rec == nil || rec.Report == nil || rec.Report.Traffic == nil {
		return 0
	}
	return fanoutPerMember(rec.Report.Traffic.DeliveriesPerSec, false, b.sz.rooms, b.sz.members, b.sz.multiNodeSeconds, b.sz.maxPerMember)
}

// multiNodeRun starts multiNodes servers of spec on storeURL, runs the
// load generator against them (after a warm-up, for a measured run) and
// stops them.
func (b *bench) multiNodeRun(ctx context.Context, spec serverSpec, placement, storeURL string, perMember, round int, purpose string) *runRecord {
	var nodes []*server
	defer func() {
		for _, n := range nodes {
			if err := n.stop(); err != nil {
				b.logf("%s", err)
			}
		}
	}()
	for i := range spec.Nodes {
		s, err := b.startServer(ctx, spec, serverOptions{env: []string{"STORE=" + storeURL, "PUBSUB=" + spec.PubSub, fmt.Sprintf("NODE_ID=bench%d", i)}})
		if err != nil {
			if ctx.Err() == nil {
				rec := &runRecord{Scenario: scMultiNode, Variant: placement, Round: round, Purpose: purpose, Server: spec, Err: "server did not start: " + err.Error()}
				b.res.add(rec)
				b.logf("%s %s: server did not start: %v", scMultiNode, spec.label(), err)
				return rec
			}
			return nil
		}
		nodes = append(nodes, s)
	}
	s := &session{b: b, scenario: scMultiNode, variant: placement, round: round, spec: spec, srv: nodes[0]}
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.url)
	}
	args := func(n int) []string {
		return append(b.trafficArgs(n, messageBytes), "-urls", strings.Join(urls, ","), "-placement", placement)
	}
	if purpose == "measure" && b.sz.warmUp {
		if w := s.loadgen(ctx, "warm-up", b.sz.trafficLimit, nil, args(1)...); w.Report == nil || ctx.Err() != nil {
			return w
		}
	}
	return s.loadgen(ctx, purpose, b.sz.trafficLimit, nil, args(perMember)...)
}

// scMultiNode names the scenario.
const scMultiNode = "multinode"
