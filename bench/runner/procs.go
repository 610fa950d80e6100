package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process limits of the runner, each a named setting.
const (
	// serverCore and loadgenCore are the CPUs the server and the load
	// generator are pinned to: one core each, nothing shared.
	serverCore  = 0
	loadgenCore = 1
	// readyTimeout bounds a server's start-up (Nest needs about a second).
	readyTimeout = 60 * time.Second
	// readyPoll is how often the readiness probe is repeated.
	readyPoll = 50 * time.Millisecond
	// stopGrace is how long a server has to exit after SIGTERM before it is
	// killed; chatserver's own SHUTDOWN_TIMEOUT is 10s.
	stopGrace = 20 * time.Second
	// loadgenInterruptGrace is how long the load generator has to print its
	// report after SIGINT (it closes every connection first).
	loadgenInterruptGrace = 30 * time.Second
	// startAttempts is how often a server start is tried, each on a fresh
	// port: a port picked free can be taken by someone else before use.
	startAttempts = 3
	// oursReadyPath is our server's readiness probe: 200 once its store
	// and broker answer.
	oursReadyPath = "/readyz"
	// baselineReadyPath answers 403 on the baselines once they listen
	// (they have no readiness endpoint).
	baselineReadyPath = "/api/v1/rooms/x/messages?fromIndex=1&toIndex=1"
)

// readiness is how a server says it is ready: the status its probe path
// answers then.
type readiness struct {
	path   string
	status int
}

func readinessOf(kind serverKind) readiness {
	if kind == kindOurs {
		return readiness{oursReadyPath, http.StatusOK}
	}
	return readiness{baselineReadyPath, http.StatusForbidden}
}

// proc is a child process in its own process group, killed with the
// runner: SIGKILL on the runner's death (Pdeathsig), and stopped by
// stopAll on any exit path.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, set before done is closed
}

// procSet remembers every running child so that no exit path leaves one
// behind.
type procSet struct {
	mu    sync.Mutex
	procs map[*proc]struct{}
}

func newProcSet() *procSet { return &procSet{procs: map[*proc]struct{}{}} }

// start launches argv with env (the whole environment) in dir; prepare,
// when set, wires the command's output before it starts (without it the
// output is discarded).
func (ps *procSet) start(name, dir string, env, argv []string, prepare func(*exec.Cmd)) (*proc, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	// Its own group: the terminal's Ctrl-C reaches the runner only, which
	// then stops children in order; Pdeathsig covers a runner killed hard.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if prepare != nil {
		prepare(cmd)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	ps.mu.Lock()
	ps.procs[p] = struct{}{}
	ps.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
		ps.mu.Lock()
		delete(ps.procs, p)
		ps.mu.Unlock()
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signalGroup signals the process and anything it started.
func (p *proc) signalGroup(sig syscall.Signal) {
	_ = syscall.Kill(-p.pid(), sig)
}

// stop asks the process to exit (SIGTERM) and kills it after grace. It
// reports whether it had to kill.
func (p *proc) stop(grace time.Duration) (killed bool) {
	if p.exited() {
		return false
	}
	p.signalGroup(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return false
	case <-t.C:
	}
	p.signalGroup(syscall.SIGKILL)
	<-p.done
	return true
}

// stopAll stops every child still running, all at once.
func (ps *procSet) stopAll(grace time.Duration) {
	ps.mu.Lock()
	var all []*proc
	for p := range ps.procs {
		all = append(all, p)
	}
	ps.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Go(func() { p.stop(grace) })
	}
	wg.Wait()
}

// pids is the set of the running children's pids, and extra: the
// benchmark's own processes (servers, Redis, the load generator).
func (ps *procSet) pids(extra ...int) map[int]bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make(map[int]bool, len(ps.procs)+len(extra))
	for p := range ps.procs {
		out[p.pid()] = true
	}
	for _, pid := range extra {
		out[pid] = true
	}
	return out
}

// freePort asks the kernel for an unused loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// pinned prefixes argv with taskset so it runs on core only. taskset execs
// the command: the pid is the program's own.
func pinned(core int, argv ...string) []string {
	return append([]string{"taskset", "-c", strconv.Itoa(core)}, argv...)
}

// baseEnv is the environment every child starts from: only what a program
// needs to run, so that a stray setting in the caller's environment (STORE,
// NODE_OPTIONS, GOGC, ...) cannot change what is measured. GORACE only
// matters to binaries built with -race (the tests').
func baseEnv() []string {
	var env []string
	for _, name := range []string{"PATH", "HOME", "LANG", "TMPDIR", "GORACE"} {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

// waitReady polls the server's HTTP port until its probe answers as ready,
// the process exits, or the deadline passes.
func waitReady(ctx context.Context, p *proc, baseURL string, probe readiness, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	tick := time.NewTicker(readyPoll)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+probe.path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == probe.status {
				return nil
			}
			last = fmt.Errorf("readiness probe %s answered %d, want %d", probe.path, resp.StatusCode, probe.status)
		} else {
			last = err
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v", p.name, p.err)
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready within %v: %v", p.name, timeout, last)
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// tailFile is the end of a log file, for error messages.
func tailFile(path string, maxBytes int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(st.Size()-maxBytes, 0)
	buf := make([]byte, st.Size()-off)
	n, _ := f.ReadAt(buf, off)
	return strings.TrimSpace(string(buf[:n]))
}
