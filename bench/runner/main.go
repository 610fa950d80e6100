// Command benchrunner runs the chat server benchmark: it builds our server
// and the load generator, starts each server in turn (ours, the NestJS
// original and Node socket.io 4.8) pinned to core 0 with the load
// generator pinned to core 1, runs the scenarios of cmd/loadgen against
// each, and prints one table comparing our figures with the baselines',
// with the targets marked MET or MISSED. Its multi-node scenario runs
// several of our servers on a Redis Cluster and on one Redis server (see
// multinode.go). Every loadgen report (JSON), each
// server's log and the table are kept in the results directory.
//
//	go run ./bench/runner            # make bench: about 15 minutes on 2 cores
//	go run ./bench/runner -full      # make bench-full: longer runs, 100k idle connections
//	go run ./bench/runner -smoke     # a few seconds per scenario, correctness only
//
// The exit status is 0 when every run of our server was correct (no lost,
// duplicated or out-of-order message, no failed connection), 1 otherwise, 2
// on bad flags or a machine that cannot run the benchmark. Baselines'
// failures are reported in the table only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// options are the runner's flags.
type options struct {
	repo      string
	outDir    string
	binDir    string
	smoke     bool
	full      bool
	pprof     bool
	setup     bool
	build     bool
	scenarios map[string]bool
	// onLoadgenStart, when set, is called each time the load generator has
	// been started (the server is up too); tests interrupt the run there.
	onLoadgenStart func()
}

// Scenario names for -scenarios.
const (
	scFanout   = "fanout"
	scLatency  = "latency"
	scIdle     = "idle"
	scChurn    = "churn"
	scBigRoom  = "bigroom"
	scIdle100k = "idle100k"
)

var allScenarios = []string{scFanout, scLatency, scIdle, scChurn, scBigRoom, scMultiNode, scIdle100k}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	go func() {
		// After the first Ctrl-C the runner stops its children and prints
		// what it has; a second one ends it at once (the children die with
		// it: Pdeathsig).
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks problems the caller must fix (flags, missing tools).
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	opts, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "benchrunner:", err)
		return 2
	}
	res, err := runBench(ctx, opts, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "benchrunner:", err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	if !res.allCorrect() {
		return 1
	}
	return 0
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("benchrunner", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var scenarios string
	fs.StringVar(&o.repo, "repo", "", "repository root (default: the directory holding go.mod of module chatgateway, searched upwards from the working directory)")
	fs.StringVar(&o.outDir, "out", "", "results directory (default REPO/bench/out/<UTC timestamp>)")
	fs.StringVar(&o.binDir, "bin", "", "where chatserver and loadgen are built (default REPO/bin)")
	fs.BoolVar(&o.smoke, "smoke", false, "tiny runs (50 connections, about a second per scenario) checking correctness only, never timing")
	fs.BoolVar(&o.full, "full", false, "longer runs, NestJS in bigroom, and 100k idle connections to our server")
	fs.BoolVar(&o.pprof, "pprof", false, "profile our server (PPROF_ADDR) during one more fan-out saturation run and summarise the CPU profile")
	fs.BoolVar(&o.setup, "setup", true, "run bench/setup.sh first (npm ci and tsc for the baselines; does nothing when up to date)")
	fs.BoolVar(&o.build, "build", true, "build chatserver and loadgen first (go build)")
	fs.StringVar(&scenarios, "scenarios", "", "comma-separated subset of "+strings.Join(allScenarios, ",")+" (default: all; idle100k only with -full)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: benchrunner [-smoke | -full] [flags]\n\nRuns the chat server benchmark against our server, NestJS and Node socket.io, and prints a comparison table.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.smoke && o.full {
		return o, errors.New("-smoke and -full exclude each other")
	}
	o.scenarios = map[string]bool{}
	if scenarios == "" {
		for _, s := range allScenarios {
			o.scenarios[s] = s != scIdle100k || o.full
		}
	} else {
		for s := range strings.SplitSeq(scenarios, ",") {
			s = strings.TrimSpace(s)
			if !contains(allScenarios, s) {
				return o, fmt.Errorf("-scenarios: unknown %q (known: %s)", s, strings.Join(allScenarios, ","))
			}
			o.scenarios[s] = true
		}
	}
	return o, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// findRepo walks up from dir to the root of module chatgateway.
func findRepo(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), "module chatgateway") {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("%w: no go.mod of module chatgateway above %s; pass -repo", errUsage, dir)
		}
	}
}

// bench is one invocation: its settings, children and results.
type bench struct {
	opts    options
	sz      sizes
	repo    string
	outDir  string
	binDir  string
	procs   *procSet
	log     io.Writer
	machine machineInfo
	// maxConns is the most connections a process may hold (RLIMIT_NOFILE).
	maxConns  int
	fileLimit uint64

	serverSeq int
	runSeq    int
	res       *results
}

func runBench(ctx context.Context, opts options, stdout, stderr io.Writer) (*results, error) {
	began := time.Now()
	b := &bench{opts: opts, procs: newProcSet(), log: stderr, res: newResults()}
	b.sz = sizesFor(opts)
	// Whatever happens below, no child outlives the runner.
	defer b.procs.stopAll(stopGrace)

	var err error
	if b.repo = opts.repo; b.repo == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if b.repo, err = findRepo(wd); err != nil {
			return nil, err
		}
	}
	if b.repo, err = filepath.Abs(b.repo); err != nil {
		return nil, err
	}
	if err := preflight(ctx); err != nil {
		return nil, err
	}
	b.outDir = opts.outDir
	if b.outDir == "" {
		b.outDir = filepath.Join(b.repo, "bench", "out", time.Now().UTC().Format("20060102T150405Z"))
	}
	if b.binDir = opts.binDir; b.binDir == "" {
		b.binDir = filepath.Join(b.repo, "bin")
	}
	for _, d := range []string{b.outDir, b.binDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	// Children inherit the limit: enough descriptors for the largest
	// scenario, or as many as this account may have.
	want := uint64(b.sz.idleConns + fdHeadroom)
	if opts.scenarios[scIdle100k] {
		want = uint64(idle100kConns + fdHeadroom)
	}
	if b.fileLimit, err = raiseFileLimit(want); err != nil {
		return nil, fmt.Errorf("RLIMIT_NOFILE: %w", err)
	}
	b.maxConns = maxConnections(b.fileLimit)
	b.logf("results in %s", b.outDir)

	if opts.setup {
		b.logf("bash bench/setup.sh")
		if err := b.runTool(ctx, "bash", filepath.Join("bench", "setup.sh")); err != nil {
			return nil, fmt.Errorf("bench/setup.sh: %w", err)
		}
	}
	if opts.build {
		if err := buildBinaries(ctx, b.repo, b.binDir, b.log); err != nil {
			return nil, err
		}
	}
	for _, c := range []string{"chatserver", "loadgen"} {
		if _, err := os.Stat(filepath.Join(b.binDir, c)); err != nil {
			return nil, fmt.Errorf("%w: %v (build it, or drop -build=false)", errUsage, err)
		}
	}
	b.machine = collectMachineInfo(ctx, b.repo, b.fileLimit)
	b.res.Machine = b.machine
	b.res.Mode = b.sz.mode

	b.runScenarios(ctx)

	b.res.Seconds = time.Since(began).Seconds()
	if err := b.res.write(b.outDir, stdout); err != nil {
		return b.res, err
	}
	b.logf("took %s; results in %s", time.Since(began).Round(time.Second), b.outDir)
	if err := ctx.Err(); err != nil {
		return b.res, fmt.Errorf("interrupted: %w (partial results in %s)", err, b.outDir)
	}
	return b.res, nil
}

// preflight checks what the benchmark needs of the machine.
func preflight(ctx context.Context) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("%w: needs Linux (taskset, /proc), not %s", errUsage, runtime.GOOS)
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("%w: taskset not found: install util-linux (apt-get install util-linux)", errUsage)
	}
	if n := runtime.NumCPU(); n < 2 {
		return fmt.Errorf("%w: needs 2 cores (server on core %d, load generator on core %d), this machine has %d", errUsage, serverCore, loadgenCore, n)
	}
	cores := fmt.Sprintf("%d,%d", serverCore, loadgenCore)
	if out, err := exec.CommandContext(ctx, "taskset", "-c", cores, "true").CombinedOutput(); err != nil {
		return fmt.Errorf("%w: cannot pin to cores %s: %v %s", errUsage, cores, err, strings.TrimSpace(string(out)))
	}
	for _, tool := range []string{"go", "node", "npm", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not on PATH", errUsage, tool)
		}
	}
	return nil
}

// runTool runs a build step in the repository, its output on the log.
func (b *bench) runTool(ctx context.Context, name string, args ...string) error {
	return runIn(ctx, b.repo, b.log, name, args...)
}

func runIn(ctx context.Context, dir string, log io.Writer, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	return cmd.Run()
}

// buildBinaries builds the two programs the runner starts, with extra
// go build flags.
func buildBinaries(ctx context.Context, repo, binDir string, log io.Writer, flags ...string) error {
	for _, c := range []string{"chatserver", "loadgen"} {
		args := append(append([]string{"build"}, flags...), "-o", filepath.Join(binDir, c), "./cmd/"+c)
		fmt.Fprintf(log, "benchrunner: go %s\n", strings.Join(args, " "))
		if err := runIn(ctx, repo, log, "go", args...); err != nil {
			return fmt.Errorf("go build ./cmd/%s: %w", c, err)
		}
	}
	return nil
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "benchrunner: "+format+"\n", args...)
}
