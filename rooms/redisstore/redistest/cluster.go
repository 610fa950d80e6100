package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Defaults of StartCluster's options.
const (
	// DefaultMasters and DefaultReplicas: three masters with one replica
	// each, the smallest cluster that survives the loss of any master.
	DefaultMasters  = 3
	DefaultReplicas = 1
	// DefaultNodeTimeout is cluster-node-timeout: how long a master may
	// be unreachable before its replica is promoted. Production uses
	// Redis's 15s; tests want a failover within seconds.
	DefaultNodeTimeout = time.Second
	// DefaultClusterTimeout bounds every wait for the cluster to settle:
	// its creation, a failover, a node's return, a migration.
	DefaultClusterTimeout = 60 * time.Second
)

// cliTimeout bounds one redis-cli command (a reshard of one slot moves its
// keys one pipeline at a time, which is quick on loopback).
const cliTimeout = 60 * time.Second

// ClusterOption configures StartCluster.
type ClusterOption func(*clusterConfig)

type clusterConfig struct {
	masters, replicas int
	nodeTimeout       time.Duration
	timeout           time.Duration
	nodeOpts          []Option
}

// WithMasters replaces DefaultMasters.
func WithMasters(n int) ClusterOption { return func(c *clusterConfig) { c.masters = n } }

// WithReplicas replaces DefaultReplicas (replicas per master).
func WithReplicas(n int) ClusterOption { return func(c *clusterConfig) { c.replicas = n } }

// WithNodeTimeout replaces DefaultNodeTimeout.
func WithNodeTimeout(d time.Duration) ClusterOption {
	return func(c *clusterConfig) { c.nodeTimeout = d }
}

// WithNodeOptions passes options to every node's Start (e.g. WithConfig).
func WithNodeOptions(opts ...Option) ClusterOption {
	return func(c *clusterConfig) { c.nodeOpts = append(c.nodeOpts, opts...) }
}

// Cluster is a Redis Cluster of real redis-servers on loopback, created
// with `redis-cli --cluster create`, each node durable as Start makes it.
// Its nodes keep their ports and data (nodes.conf included) across Kill
// and Start, so a killed master comes back as a replica of the node that
// replaced it, as in production.
//
// Like Server's, the methods report problems with t.Fatalf: call them from
// the test's own goroutine.
type Cluster struct {
	t     testing.TB
	cfg   clusterConfig
	Nodes []*Server
}

// StartCluster starts the nodes, creates the cluster and waits until every
// slot is served and every replica is in sync with its master. Nodes are
// killed when the test ends. It fails the test (never skips) when
// redis-server or redis-cli is missing.
func StartCluster(t testing.TB, opts ...ClusterOption) *Cluster {
	t.Helper()
	cfg := clusterConfig{masters: DefaultMasters, replicas: DefaultReplicas, nodeTimeout: DefaultNodeTimeout, timeout: DefaultClusterTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Fatalf("redistest: redis-cli not found on PATH (%v); %s", err, missingBinHint)
	}
	c := &Cluster{t: t, cfg: cfg}
	nodeConfig := WithConfig(
		"cluster-enabled yes",
		"cluster-config-file nodes.conf",
		"cluster-node-timeout "+strconv.FormatInt(cfg.nodeTimeout.Milliseconds(), 10),
		// A replica may take over whatever its link's history: tests kill
		// masters on purpose.
		"cluster-replica-validity-factor 0",
	)
	for range cfg.masters * (1 + cfg.replicas) {
		c.Nodes = append(c.Nodes, Start(t, append([]Option{nodeConfig}, cfg.nodeOpts...)...))
	}
	args := []string{"--cluster", "create"}
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(cfg.replicas), "--cluster-yes")
	if out, err := cli(args...); err != nil {
		t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.WaitHealthy()
	return c
}

// Addrs are every node's "127.0.0.1:PORT".
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// URL is "redis-cluster://ADDR,ADDR,..." naming every node.
func (c *Cluster) URL() string { return "redis-cluster://" + strings.Join(c.Addrs(), ",") }

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	id, addr, master string // master: the master's id, for a replica
	isMaster, failed bool
	slots            [][2]int
}

// topology reads CLUSTER NODES from a running node.
func (c *Cluster) topology() ([]clusterNode, error) {
	var lastErr error
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		out, err := cli("-p", strconv.Itoa(n.port), "cluster", "nodes")
		if err != nil {
			lastErr = err
			continue
		}
		return parseClusterNodes(out), nil
	}
	return nil, fmt.Errorf("no running node answers CLUSTER NODES: %v", lastErr)
}

func parseClusterNodes(out string) []clusterNode {
	var nodes []clusterNode
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		n := clusterNode{id: f[0], addr: strings.Split(f[1], "@")[0], master: f[3]}
		flags := strings.Split(f[2], ",")
		n.isMaster = slices.Contains(flags, "master")
		n.failed = slices.Contains(flags, "fail") || slices.Contains(flags, "fail?")
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") {
				continue // a slot being migrated
			}
			lo, hi, isRange := strings.Cut(r, "-")
			a, _ := strconv.Atoi(lo)
			b := a
			if isRange {
				b, _ = strconv.Atoi(hi)
			}
			n.slots = append(n.slots, [2]int{a, b})
		}
		nodes = append(nodes, n)
	}
	return nodes
}

func (c *Cluster) byAddr(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr() == addr {
			return n
		}
	}
	return nil
}

// MasterOfSlot is the node serving slot, as the running nodes see it.
func (c *Cluster) MasterOfSlot(slot int) *Server {
	c.t.Helper()
	nodes, err := c.topology()
	if err != nil {
		c.t.Fatalf("redistest: %v", err)
	}
	for _, n := range nodes {
		for _, r := range n.slots {
			if n.isMaster && !n.failed && slot >= r[0] && slot <= r[1] {
				return c.byAddr(n.addr)
			}
		}
	}
	c.t.Fatalf("redistest: no master serves slot %d", slot)
	return nil
}

// MasterOf is the node serving key's slot.
func (c *Cluster) MasterOf(key string) *Server { return c.MasterOfSlot(KeySlot(key)) }

// Masters are the nodes serving slots now.
func (c *Cluster) Masters() []*Server {
	c.t.Helper()
	nodes, err := c.topology()
	if err != nil {
		c.t.Fatalf("redistest: %v", err)
	}
	var out []*Server
	for _, n := range nodes {
		if n.isMaster && !n.failed && len(n.slots) > 0 {
			out = append(out, c.byAddr(n.addr))
		}
	}
	return out
}

// FirstSlot is the lowest slot master serves: the one `redis-cli --cluster
// reshard` moves first.
func (c *Cluster) FirstSlot(master *Server) int {
	c.t.Helper()
	nodes, err := c.topology()
	if err != nil {
		c.t.Fatalf("redistest: %v", err)
	}
	for _, n := range nodes {
		if n.addr == master.Addr() && len(n.slots) > 0 {
			lowest := n.slots[0][0]
			for _, r := range n.slots {
				lowest = min(lowest, r[0])
			}
			return lowest
		}
	}
	c.t.Fatalf("redistest: %s serves no slot", master.Addr())
	return -1
}

func (c *Cluster) id(s *Server) string {
	c.t.Helper()
	out, err := cli("-p", strconv.Itoa(s.port), "cluster", "myid")
	if err != nil {
		c.t.Fatalf("redistest: CLUSTER MYID on %s: %v", s.Addr(), err)
	}
	return strings.TrimSpace(out)
}

// Reshard moves `slots` slots, the lowest ones, from one master to another
// with their keys (`redis-cli --cluster reshard`), and waits until the
// cluster is healthy again.
func (c *Cluster) Reshard(from, to *Server, slots int) {
	c.t.Helper()
	args := []string{"--cluster", "reshard", to.Addr(),
		"--cluster-from", c.id(from), "--cluster-to", c.id(to),
		"--cluster-slots", strconv.Itoa(slots), "--cluster-yes"}
	if out, err := cli(args...); err != nil {
		c.t.Fatalf("redistest: redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	c.WaitHealthy()
}

// WaitPromoted waits until the slots of master, which was killed, are
// served by a running node (its replica, promoted) and the cluster is
// healthy again; it returns the new master.
func (c *Cluster) WaitPromoted(master *Server) *Server {
	c.t.Helper()
	slot := c.FirstSlot(master) // the killed node keeps its slots until replaced
	var promoted *Server
	c.waitFor("a replica of "+master.Addr()+" promoted", func() (bool, error) {
		nodes, err := c.topology()
		if err != nil {
			return false, err
		}
		for _, n := range nodes {
			for _, r := range n.slots {
				if n.isMaster && !n.failed && slot >= r[0] && slot <= r[1] && n.addr != master.Addr() {
					promoted = c.byAddr(n.addr)
				}
			}
		}
		return promoted != nil && promoted.Running(), nil
	})
	c.WaitHealthy()
	return promoted
}

// WaitHealthy waits until every running node says cluster_state:ok, every
// slot is served by a master that is not failing, and every running
// replica's link to its master is up.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	c.waitFor("the cluster to be healthy", func() (bool, error) {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			port := strconv.Itoa(n.port)
			info, err := cli("-p", port, "cluster", "info")
			if err != nil {
				return false, err
			}
			if !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_slots_ok:16384") {
				return false, fmt.Errorf("node %s: cluster_state or cluster_slots_ok not yet ok", port)
			}
			repl, err := cli("-p", port, "info", "replication")
			if err != nil {
				return false, err
			}
			if strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
				return false, fmt.Errorf("replica %s: link to its master not up", port)
			}
		}
		nodes, err := c.topology()
		if err != nil {
			return false, err
		}
		for _, n := range nodes {
			if n.failed && c.byAddr(n.addr) != nil && c.byAddr(n.addr).Running() {
				// A node back from the dead, not yet seen as such.
				return false, fmt.Errorf("node %s still flagged as failed", n.addr)
			}
		}
		return true, nil
	})
}

// waitFor polls cond (the cluster's state has no event to wait on) until
// it holds or the cluster timeout passes.
func (c *Cluster) waitFor(what string, cond func() (bool, error)) {
	c.t.Helper()
	deadline := time.NewTimer(c.cfg.timeout)
	defer deadline.Stop()
	tick := time.NewTicker(clusterPoll)
	defer tick.Stop()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		select {
		case <-deadline.C:
			c.t.Fatalf("redistest: waited %v for %s; last: %v", c.cfg.timeout, what, lastErr)
		case <-tick.C:
		}
	}
}

// clusterPoll is how often the cluster's state is read while waiting.
const clusterPoll = 50 * time.Millisecond

// cli runs redis-cli against loopback.
func cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", append([]string{"-h", "127.0.0.1"}, args...)...).CombinedOutput()
	if err == nil && (strings.HasPrefix(string(out), "ERR ") || strings.Contains(string(out), "Could not connect")) {
		err = fmt.Errorf("%s", strings.TrimSpace(string(out)))
	}
	return string(out), err
}

// KeySlot is the Redis Cluster hash slot of key: CRC16 (XMODEM) of its hash
// tag, or of the whole key without one, modulo 16384.
func KeySlot(key string) int {
	if open := strings.IndexByte(key, '{'); open >= 0 {
		if end := strings.IndexByte(key[open+1:], '}'); end > 0 {
			key = key[open+1 : open+1+end]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}
