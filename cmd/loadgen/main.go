// Command loadgen drives a chat server with many Socket.IO clients
// (WebSocket only, gateway/sioclient) and reports throughput, latency,
// delivery correctness and resource use, as a table and optionally as JSON.
//
// Scenarios:
//
//	fanout   R rooms x M members; every member posts K messages; measures
//	         deliveries/s, end-to-end latency, and checks every receiver saw
//	         every room's orders 1..N exactly once, in order
//	bigroom  one room of M members, one sender posting K messages spaced
//	         apart; measures the time until every member got each message
//	idle     N connections held open; server RSS per connection
//	churn    connect, join, disconnect at a fixed rate; handshakes/s, errors
//
// Run `loadgen -h` for the flags. The exit status is 0 when the run was
// correct, 1 when it found an error (lost, duplicated or out-of-order
// messages, failed connections or joins), 2 on bad flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Limits on flag values, so that a typo cannot ask for unbounded work.
const (
	maxConnections   = 2_000_000
	maxRooms         = 1_000_000
	maxTotalMessages = 1_000_000_000
	maxSourceIPs     = 65_536
	// maxContentSize stays under the server's default MAX_CONTENT (64 KiB).
	maxContentSize = 60_000
	// defaultContentSize is the length of a message's content: a chat line
	// of ordinary length, as the independent measurement of issue 12 used.
	defaultContentSize = 100
	// maxStreams bounds the per-receiver, per-room checkers of global
	// delivery (connections x rooms), about 64 bytes each.
	maxStreams = 50_000_000
	// maxPrefix bounds -prefix, leaving room under the server's MAX_FIELD
	// (1024 bytes) for the suffixes.
	maxPrefix = 200
	// fileMargin is file descriptors kept beyond one per connection (REST,
	// profile, standard streams).
	fileMargin = 64
	// maxDuration bounds every duration flag.
	maxDuration = 24 * time.Hour
)

// Defaults of the duration flag per scenario: the send phase bound of
// fanout and bigroom, the hold time of idle, the run time of churn.
var defaultDurations = map[string]time.Duration{
	scenarioFanout:  60 * time.Second,
	scenarioBigRoom: 60 * time.Second,
	scenarioIdle:    10 * time.Second,
	scenarioChurn:   10 * time.Second,
}

// Values of -placement.
const (
	placementSpread = "spread"
	placementRoom   = "room"
)

const (
	scenarioFanout  = "fanout"
	scenarioBigRoom = "bigroom"
	scenarioIdle    = "idle"
	scenarioChurn   = "churn"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole command; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 2
	}
	need := uint64(connectionsNeeded(cfg)) + fileMargin
	limit, err := raiseFileLimit(need)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen: cannot raise the open file limit:", err)
	}
	if limit > 0 && need > limit {
		fmt.Fprintf(stderr, "loadgen: %d connections need more file descriptors than the limit %d (raise the hard limit: ulimit -Hn, or run as root)\n", connectionsNeeded(cfg), limit)
		return 2
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := runScenario(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		if rep == nil {
			return 1
		}
	}
	table := stdout
	if cfg.JSON {
		table = stderr
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	}
	writeTable(table, rep)
	if !rep.OK {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var sourceIPs string
	fs.StringVar(&cfg.Scenario, "scenario", "", "fanout | bigroom | idle | churn (required)")
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:3000", "server base URL (REST and /socket.io/)")
	var urls string
	fs.StringVar(&urls, "urls", "", "fanout: comma-separated base URLs of the nodes of one deployment, replacing -url; members connect to them as -placement says, rooms are created on the first")
	fs.StringVar(&cfg.Placement, "placement", placementSpread, "fanout with -urls: spread (each room's members over every node in turn) or room (all of a room's members on one node, rooms in turn)")
	fs.IntVar(&cfg.EIO, "eio", 4, "Engine.IO revision: 3 (socket.io-client 2.x) or 4 (3.x/4.x)")
	fs.StringVar(&cfg.Client, "client", clientRaw, "fanout, bigroom: the Socket.IO client of the members: raw (the generator's own, read through epoll, cheap per delivery) or sioclient (gateway/sioclient, a goroutine per connection; needed for https)")
	fs.StringVar(&sourceIPs, "source-ips", "127.0.0.1", "source addresses, round robin: comma-separated IPs or IPv4 ranges A-B (e.g. 127.0.0.2-127.0.0.9); each allows one ephemeral port range of connections")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", 2000, "new connections per second while ramping up (0: unlimited)")
	fs.IntVar(&cfg.ConnectConcurrency, "connect-concurrency", 256, "handshakes (and joins) in progress at once while ramping up")
	fs.DurationVar(&cfg.HandshakeTimeout, "handshake-timeout", 10*time.Second, "bound on one connection's handshake")
	fs.DurationVar(&cfg.JoinTimeout, "join-timeout", 30*time.Second, "bound on one join (participants event until its list names the member)")
	fs.BoolVar(&cfg.CreateRooms, "create-rooms", true, "create the rooms over REST first (409 Conflict is fine)")
	fs.StringVar(&cfg.Prefix, "prefix", "", "room id prefix, unique per run (default lg-<time>-)")
	fs.StringVar(&cfg.Delivery, "delivery", "room", "the server's DELIVERY, which decides who must receive what: room | global")
	fs.IntVar(&cfg.Rooms, "rooms", 10, "fanout: rooms; churn: rooms joined in turn; idle with -join: rooms joined in turn")
	fs.IntVar(&cfg.Members, "members", 50, "fanout: members per room; bigroom: members of the room")
	fs.IntVar(&cfg.Messages, "messages", 100, "fanout: messages per member; bigroom: messages of the sender")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fanout: total messages/s, open loop (0: as fast as the -window allows); churn: connect-join-disconnect cycles/s")
	fs.IntVar(&cfg.Window, "window", 4, "fanout with -rate 0: messages a member may have in flight (sent, not yet echoed back to it)")
	fs.IntVar(&cfg.Size, "size", defaultContentSize, "content bytes per message: its send time and sequence number (about 25 bytes), padded with x to this length")
	fs.DurationVar(&cfg.Interval, "interval", 100*time.Millisecond, "bigroom: time between two messages")
	fs.IntVar(&cfg.Conns, "conns", 1000, "idle: connections to hold")
	fs.BoolVar(&cfg.Join, "join", false, "idle: after measuring the connections unjoined, join each to one of -rooms rooms (in turn) and measure again")
	fs.DurationVar(&cfg.UnjoinedHold, "unjoined-hold", 5*time.Second, "idle with -join: how long the connections are held before the unjoined reading")
	fs.IntVar(&cfg.MaxInflight, "max-inflight", 1000, "churn: cycles in progress at once")
	fs.DurationVar(&cfg.Duration, "duration", 0, "fanout, bigroom: bound on the send phase (default 60s); idle: hold time (default 10s); churn: run time (default 10s)")
	fs.DurationVar(&cfg.Drain, "drain", 10*time.Second, "fanout, bigroom: how long to wait for outstanding deliveries after the last send; still missing then = lost")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "pid of the server process, to report its RSS and CPU (0: not reported)")
	fs.BoolVar(&cfg.JSON, "json", false, "print the results as JSON on stdout (the table goes to stderr)")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the load generator to this file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: loadgen -scenario fanout|bigroom|idle|churn [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if urls != "" {
		for u := range strings.SplitSeq(urls, ",") {
			if u = strings.TrimSpace(u); u != "" {
				cfg.URLs = append(cfg.URLs, u)
			}
		}
		if len(cfg.URLs) > 0 {
			cfg.URL = cfg.URLs[0]
		}
	}
	ips, err := parseSourceIPs(sourceIPs)
	if err != nil {
		return cfg, err
	}
	cfg.SourceIPs = ips
	if cfg.Prefix == "" {
		cfg.Prefix = "lg-" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "-"
	}
	if cfg.Duration == 0 {
		cfg.Duration = defaultDurations[cfg.Scenario]
	}
	return cfg, validate(cfg)
}

func validate(c config) error {
	if _, ok := defaultDurations[c.Scenario]; !ok {
		return fmt.Errorf("-scenario must be fanout, bigroom, idle or churn, not %q", c.Scenario)
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return fmt.Errorf("-url must start with http:// or https://, not %q", c.URL)
	}
	for _, u := range c.URLs {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("-urls must start with http:// or https://, not %q", u)
		}
	}
	if len(c.URLs) > 0 && c.Scenario != scenarioFanout {
		return errors.New("-urls is for the fanout scenario")
	}
	if c.Placement != placementSpread && c.Placement != placementRoom {
		return fmt.Errorf("-placement must be spread or room, not %q", c.Placement)
	}
	if c.EIO != 3 && c.EIO != 4 {
		return fmt.Errorf("-eio must be 3 or 4, not %d", c.EIO)
	}
	if c.Client != clientRaw && c.Client != clientSioclient {
		return fmt.Errorf("-client must be raw or sioclient, not %q", c.Client)
	}
	if c.Client == clientRaw && (strings.HasPrefix(c.URL, "https://") || slices.ContainsFunc(c.URLs, func(u string) bool { return strings.HasPrefix(u, "https://") })) {
		return errors.New("-client raw speaks plain http only: use -client sioclient for https")
	}
	if c.Delivery != "room" && c.Delivery != "global" {
		return fmt.Errorf("-delivery must be room or global, not %q", c.Delivery)
	}
	if !validPrefix(c.Prefix) {
		return fmt.Errorf("-prefix %q: 1 to %d characters among A-Z a-z 0-9 . _ -", c.Prefix, maxPrefix)
	}
	checks := []check{
		{c.ConnectRate >= 0 && c.ConnectRate <= 1e7, "-connect-rate must be between 0 and 1e7"},
		{c.ConnectConcurrency >= 1 && c.ConnectConcurrency <= 100_000, "-connect-concurrency must be between 1 and 100000"},
		{c.HandshakeTimeout > 0 && c.HandshakeTimeout <= maxDuration, "-handshake-timeout must be positive and at most 24h"},
		{c.JoinTimeout > 0 && c.JoinTimeout <= maxDuration, "-join-timeout must be positive and at most 24h"},
		{c.Duration > 0 && c.Duration <= maxDuration, "-duration must be positive and at most 24h"},
		{c.Drain >= 0 && c.Drain <= maxDuration, "-drain must be between 0 and 24h"},
		{c.UnjoinedHold >= 0 && c.UnjoinedHold <= maxDuration, "-unjoined-hold must be between 0 and 24h"},
		{c.Size >= 0 && c.Size <= maxContentSize, fmt.Sprintf("-size must be between 0 and %d", maxContentSize)},
		{c.ServerPID >= 0, "-server-pid must not be negative"},
		{c.Rate >= 0 && c.Rate <= 1e8, "-rate must be between 0 and 1e8"},
	}
	switch c.Scenario {
	case scenarioFanout:
		checks = append(checks,
			check{c.Rooms >= 1 && c.Rooms <= maxRooms, fmt.Sprintf("-rooms must be between 1 and %d", maxRooms)},
			check{c.Members >= 1 && int64(c.Members)*int64(c.Rooms) <= maxConnections, fmt.Sprintf("-members must be at least 1 and -rooms x -members at most %d", maxConnections)},
			check{c.Messages >= 1 && int64(c.Messages)*int64(c.Members)*int64(c.Rooms) <= maxTotalMessages, fmt.Sprintf("-messages must be at least 1 and -rooms x -members x -messages at most %d", maxTotalMessages)},
			check{c.Window >= 1 && c.Window <= 10_000, "-window must be between 1 and 10000"},
			check{c.Delivery != "global" || int64(c.Members)*int64(c.Rooms)*int64(c.Rooms) <= maxStreams, fmt.Sprintf("global delivery checks every connection against every room: -rooms x -members x -rooms must be at most %d", maxStreams)},
		)
	case scenarioBigRoom:
		checks = append(checks,
			check{c.Members >= 1 && c.Members <= maxConnections, fmt.Sprintf("-members must be between 1 and %d", maxConnections)},
			check{c.Messages >= 1 && c.Messages <= 10_000_000, "-messages must be between 1 and 10000000"},
			check{c.Interval > 0 && c.Interval <= maxDuration, "-interval must be positive and at most 24h"},
		)
	case scenarioIdle:
		checks = append(checks,
			check{c.Conns >= 1 && c.Conns <= maxConnections, fmt.Sprintf("-conns must be between 1 and %d", maxConnections)},
			check{!c.Join || (c.Rooms >= 1 && c.Rooms <= maxRooms), fmt.Sprintf("-rooms must be between 1 and %d", maxRooms)},
		)
	case scenarioChurn:
		checks = append(checks,
			check{c.Rate > 0, "churn needs -rate > 0 (cycles per second)"},
			check{c.Rate*c.Duration.Seconds() <= maxConnections, fmt.Sprintf("-rate x -duration must be at most %d cycles", maxConnections)},
			check{c.Rooms >= 1 && c.Rooms <= maxRooms, fmt.Sprintf("-rooms must be between 1 and %d", maxRooms)},
			check{c.MaxInflight >= 1 && c.MaxInflight <= maxConnections, fmt.Sprintf("-max-inflight must be between 1 and %d", maxConnections)},
		)
	}
	for _, ch := range checks {
		if !ch.ok {
			return errors.New(ch.what)
		}
	}
	return nil
}

// validPrefix keeps room ids safe to splice into JSON and URLs as they are.
func validPrefix(p string) bool {
	if p == "" || len(p) > maxPrefix {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// check is one validation rule: what is the error when ok is false.
type check struct {
	ok   bool
	what string
}

// connectionsNeeded is the most connections the scenario holds at once.
func connectionsNeeded(c config) int {
	switch c.Scenario {
	case scenarioFanout:
		return c.Rooms * c.Members
	case scenarioBigRoom:
		return c.Members
	case scenarioIdle:
		return c.Conns
	case scenarioChurn:
		return c.MaxInflight
	}
	return 0
}

// parseSourceIPs reads "a,b,c" where each item is an IP or an IPv4 range
// "A-B" (inclusive).
func parseSourceIPs(s string) ([]string, error) {
	var ips []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		from, to, isRange := strings.Cut(item, "-")
		if !isRange {
			ip := net.ParseIP(item)
			if ip == nil {
				return nil, fmt.Errorf("-source-ips: %q is not an IP address", item)
			}
			ips = append(ips, ip.String())
			continue
		}
		a, b := net.ParseIP(strings.TrimSpace(from)).To4(), net.ParseIP(strings.TrimSpace(to)).To4()
		if a == nil || b == nil {
			return nil, fmt.Errorf("-source-ips: range %q needs two IPv4 addresses, as 127.0.0.2-127.0.0.9", item)
		}
		lo, hi := ipv4Number(a), ipv4Number(b)
		if hi < lo {
			return nil, fmt.Errorf("-source-ips: range %q ends before it starts", item)
		}
		if hi-lo+1 > maxSourceIPs || len(ips)+int(hi-lo+1) > maxSourceIPs {
			return nil, fmt.Errorf("-source-ips: more than %d addresses", maxSourceIPs)
		}
		for n := lo; n <= hi; n++ {
			ips = append(ips, net.IPv4(byte(n>>24), byte(n>>16), byte(n>>8), byte(n)).String())
		}
	}
	if len(ips) == 0 {
		return nil, errors.New("-source-ips: no address")
	}
	if len(ips) > maxSourceIPs {
		return nil, fmt.Errorf("-source-ips: more than %d addresses", maxSourceIPs)
	}
	return ips, nil
}

func ipv4Number(ip net.IP) uint32 {
	return uint32(ip[0])<<24 | uint32(ip[1])<<16 | uint32(ip[2])<<8 | uint32(ip[3])
}

// runScenario runs cfg's scenario and reports on it. A report with an error
// is a run that stopped early but still has results.
func runScenario(ctx context.Context, cfg config) (*report, error) {
	rep := &report{
		Scenario:   cfg.Scenario,
		Config:     cfg,
		StartedAt:  time.Now().UTC(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Errors:     []string{},
	}
	if ports, err := ephemeralPorts(); err == nil {
		if need := connectionsNeeded(cfg); need > ports*len(cfg.SourceIPs) {
			rep.Warn(fmt.Sprintf("%d connections over %d source address(es) of %d ephemeral ports each: expect connect failures; widen -source-ips", need, len(cfg.SourceIPs), ports))
		}
	}
	whole := markCPU()
	var err error
	switch cfg.Scenario {
	case scenarioFanout, scenarioBigRoom:
		err = runTraffic(ctx, cfg, rep)
	case scenarioIdle:
		err = runIdle(ctx, cfg, rep)
	case scenarioChurn:
		err = runChurn(ctx, cfg, rep)
	}
	rep.LoadgenCPU = whole.since()
	rep.WallSeconds = rep.LoadgenCPU.WallSeconds
	rep.OK = err == nil && len(rep.Failures()) == 0
	if err != nil {
		rep.Errors = append(rep.Errors, err.Error())
	}
	return rep, err
}
