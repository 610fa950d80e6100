// Package redistest runs a real, private redis-server for tests.
//
// Start launches Debian's redis-server on a free loopback port with its data,
// config and log in t.TempDir(), waits until it answers PING and kills it
// when the test ends. The server is durable the way a production one should
// be (appendonly yes, appendfsync always, no RDB snapshots), so a test can
// Stop, Kill or Restart it and expect every acknowledged write to survive.
//
// redis-server must be on PATH; `make setup` installs it. A missing binary
// fails the test: skipping would hide a whole storage backend from CI.
//
// The methods that change the process (Stop, Kill, Start, Restart, Pause,
// Resume) report problems with t.Fatalf, so call them from the test's own
// goroutine.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Defaults of the options.
const (
	// DefaultReadyTimeout bounds the wait for a started server to answer
	// PING, AOF replay included.
	DefaultReadyTimeout = 15 * time.Second
	// DefaultStopTimeout bounds the wait for a graceful Stop before the
	// server is killed and the test fails.
	DefaultStopTimeout = 10 * time.Second
)

// Internal bounds: how often readiness is probed, how long one probe may
// take, how many fresh ports the first start may try when a port picked as
// free was taken meanwhile, and how much of the server log a failure shows.
const (
	pollInterval   = 10 * time.Millisecond
	probeTimeout   = 500 * time.Millisecond
	portAttempts   = 5
	logTailLines   = 40
	binaryName     = "redis-server"
	missingBinHint = "run `make setup` to install it"
)

// Option configures Start.
type Option func(*config)

type config struct {
	extraConfig  []string
	readyTimeout time.Duration
	stopTimeout  time.Duration
}

// WithConfig appends redis.conf directives (one per string, e.g.
// "maxmemory 10mb"); later directives override the defaults.
func WithConfig(directives ...string) Option {
	return func(c *config) { c.extraConfig = append(c.extraConfig, directives...) }
}

// WithReadyTimeout replaces DefaultReadyTimeout.
func WithReadyTimeout(d time.Duration) Option {
	return func(c *config) { c.readyTimeout = d }
}

// WithStopTimeout replaces DefaultStopTimeout.
func WithStopTimeout(d time.Duration) Option {
	return func(c *config) { c.stopTimeout = d }
}

// Server is one redis-server process and its on-disk state. The port and
// data directory stay the same across restarts.
type Server struct {
	t       testing.TB
	cfg     config
	bin     string
	dir     string // holds redis.conf, redis.log and data/
	logPath string

	mu      sync.Mutex
	port    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	paused  bool
	logFile *os.File
}

// Start launches a server and registers its cleanup. It fails the test (never
// skips) when redis-server is missing or does not become ready.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	if testing.Short() {
		// make unit: the pure Go tests, for a machine without redis-server.
		// make test never passes -short, so there they always run.
		t.Skip("redistest: needs redis-server; skipped by -short (make unit)")
	}
	cfg := config{readyTimeout: DefaultReadyTimeout, stopTimeout: DefaultStopTimeout}
	for _, o := range opts {
		o(&cfg)
	}
	bin, err := exec.LookPath(binaryName)
	if err != nil {
		t.Fatalf("redistest: %s not found on PATH (%v); %s", binaryName, err, missingBinHint)
		return nil
	}
	dir := t.TempDir()
	s := &Server{t: t, cfg: cfg, bin: bin, dir: dir, logPath: filepath.Join(dir, "redis.log")}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatalf("redistest: %v", err)
		return nil
	}
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(s.cleanup)

	var lastErr error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: %v", err)
			return nil
		}
		s.port = port
		lastErr = s.launch()
		if lastErr == nil {
			return s
		}
		// Another process may have taken the port between our probe and
		// redis binding it; only that case is worth another port.
		if !strings.Contains(lastErr.Error(), "Address already in use") {
			break
		}
	}
	t.Fatalf("redistest: %v", lastErr)
	return nil
}

// Addr is "127.0.0.1:PORT".
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// URL is "redis://127.0.0.1:PORT/DB".
func (s *Server) URL(db int) string {
	return fmt.Sprintf("redis://%s/%d", s.Addr(), db)
}

// Dir is the server's working directory (config, log, data/).
func (s *Server) Dir() string { return s.dir }

// Running reports whether the process is alive (paused counts as alive).
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

// Stop shuts the server down gracefully (SIGTERM: redis fsyncs the AOF and
// exits) and waits for it to exit. If it does not exit within the stop
// timeout it is killed and the test fails.
func (s *Server) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		s.t.Fatalf("redistest: Stop: server is not running")
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	if s.paused {
		// A stopped process only acts on SIGTERM once it runs again.
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		s.paused = false
	}
	select {
	case <-s.exited:
	case <-time.After(s.cfg.stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.exited
		s.t.Fatalf("redistest: redis-server ignored SIGTERM for %v and was killed\n%s", s.cfg.stopTimeout, s.logTail())
	}
	s.closeLogLocked()
}

// Kill ends the server with SIGKILL, like a crash, and waits for it to exit.
// Redis writes the AOF before it replies, so nothing it acknowledged is lost
// to a process crash; appendfsync always extends that to a machine crash,
// which a test cannot simulate.
func (s *Server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		s.t.Fatalf("redistest: Kill: server is not running")
		return
	}
	s.killLocked()
}

// Start runs the server again on the same port and data directory and waits
// until it is ready (its AOF replayed).
func (s *Server) Start() {
	s.t.Helper()
	if s.Running() {
		s.t.Fatalf("redistest: Start: server is already running")
		return
	}
	if err := s.launch(); err != nil {
		s.t.Fatalf("redistest: restart on %s: %v", s.Addr(), err)
	}
}

// Restart is Stop followed by Start.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Pause freezes the process (SIGSTOP): connections still open at the TCP
// level but nothing is answered, like a hung server or a network black hole.
func (s *Server) Pause() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() || s.paused {
		s.t.Fatalf("redistest: Pause: server is not running or already paused")
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("redistest: Pause: %v", err)
	}
	s.paused = true
}

// Resume lets a paused server run again.
func (s *Server) Resume() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() || !s.paused {
		s.t.Fatalf("redistest: Resume: server is not paused")
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("redistest: Resume: %v", err)
	}
	s.paused = false
}

// LogTail returns the last lines of the server's log, for failure messages.
func (s *Server) LogTail() string { return s.logTail() }

func (s *Server) cleanup() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runningLocked() {
		s.killLocked()
	}
	if s.t.Failed() {
		s.t.Logf("redistest: redis-server on port %d, log tail:\n%s", s.port, s.logTail())
	}
}

func (s *Server) runningLocked() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *Server) killLocked() {
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.paused = false
	s.closeLogLocked()
}

func (s *Server) closeLogLocked() {
	if s.logFile != nil {
		_ = s.logFile.Close()
		s.logFile = nil
	}
}

// launch writes the config, starts the process and waits for readiness. On
// failure the process is gone.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	confPath := filepath.Join(s.dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(s.configText()), 0o600); err != nil {
		return err
	}
	logFile, err := os.OpenFile(s.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	logStart, err := logFile.Seek(0, io.SeekEnd)
	if err != nil {
		_ = logFile.Close()
		return err
	}
	cmd := exec.Command(s.bin, confPath)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.logFile, s.paused = cmd, exited, logFile, false

	if err := s.waitReadyLocked(); err != nil {
		if s.runningLocked() {
			s.killLocked()
		} else {
			s.closeLogLocked()
		}
		return fmt.Errorf("%w; its output:\n%s", err, s.logSince(logStart))
	}
	return nil
}

// logSince is what the server logged from offset on (one launch's output).
func (s *Server) logSince(offset int64) string {
	data, err := os.ReadFile(s.logPath)
	if err != nil || offset > int64(len(data)) {
		return "(no output)"
	}
	return string(data[offset:])
}

func (s *Server) configText() string {
	lines := []string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(s.port),
		"dir " + strconv.Quote(filepath.Join(s.dir, "data")),
		"daemonize no",
		`logfile ""`, // stdout, which goes to redis.log
		`save ""`,    // no RDB snapshots: the AOF is the only persistence
		"appendonly yes",
		"appendfsync always", // fsync before replying, as a durable deployment would
	}
	lines = append(lines, s.cfg.extraConfig...)
	return strings.Join(lines, "\n") + "\n"
}

// waitReadyLocked polls PING until the server answers +PONG. While redis
// replays its AOF, PING gets -LOADING, so +PONG means the data is back.
func (s *Server) waitReadyLocked() error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	deadline := time.NewTimer(s.cfg.readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var lastErr error
	for {
		if lastErr = ping(addr); lastErr == nil {
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("redis-server exited before answering PING on %s", addr)
		case <-deadline.C:
			return fmt.Errorf("redis-server did not answer PING on %s within %v: %v", addr, s.cfg.readyTimeout, lastErr)
		case <-tick.C:
		}
	}
}

// ping sends one inline PING and expects +PONG.
func ping(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, probeTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(probeTimeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimRight(line, "\r\n"); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) logTail() string {
	data, err := os.ReadFile(s.logPath)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "(no redis-server log)"
		}
		return fmt.Sprintf("(cannot read redis-server log: %v)", err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return "--- redis-server log (tail) ---\n" + string(bytes.Join(lines, []byte("\n")))
}
