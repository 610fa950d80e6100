//go:build unix

// Package nodetest runs the JavaScript side of the real-client tests, the
// `node --test` scripts under gateway/interop/node (socket.io-client 2.5 and
// 4.8 from npm, Debian's chromium through playwright-core), from Go tests of
// any package: gateway/interop drives them against servers wired in its own
// process, cmd/chatserver against real server processes it restarts, kills
// and puts behind proxies. Only test code imports it.
package nodetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// Chromium is Debian's browser; tests never download one.
	Chromium = "/usr/bin/chromium"
	// lockStampFile is written by gateway/interop/setup.sh after `npm ci`:
	// the SHA-256 of the package-lock.json node_modules was installed from.
	lockStampFile = ".interop-lock.sha256"
	// runTimeout bounds one `node --test` run when go test has no deadline
	// of its own.
	runTimeout = 10 * time.Minute
	// reportMargin is left before go test's own deadline to stop servers
	// and report.
	reportMargin = 30 * time.Second
	// extraArgsEnv names an environment variable whose space-separated
	// words are passed to `node --test` before the files, for example
	// INTEROP_NODE_ARGS=--test-name-pattern=v4 to run a subset while
	// debugging.
	extraArgsEnv = "INTEROP_NODE_ARGS"
	// killGrace is how long node may take to exit after its context ends
	// before its pipes are forcibly closed.
	killGrace = 10 * time.Second
)

// requiredPackages must be present in node_modules.
var requiredPackages = []string{"sio2", "socket.io-client", "socket.io", "playwright-core", "@socket.io/admin-ui"}

// Dir is the absolute path of gateway/interop/node. It fails the test, never
// skips it, when the JavaScript side is not installed: an acceptance test
// that silently skips accepts nothing.
//
// Under go test -short (make unit) it skips the test instead: that run is
// the pure Go tests, for a machine without Node, npm or chromium, and
// make test (CI) never passes -short.
func Dir(t testing.TB) string {
	t.Helper()
	skipUnderShort(t)
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("nodetest: cannot locate its own source file")
	}
	dir := filepath.Join(filepath.Dir(self), "..", "node")
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH (%v): install Node 20 and run gateway/interop/setup.sh", err)
	}
	for _, pkg := range requiredPackages {
		manifest := filepath.Join(dir, "node_modules", pkg, "package.json")
		if _, err := os.Stat(manifest); err != nil {
			t.Fatalf("npm package %s is not installed (%v): run gateway/interop/setup.sh", pkg, err)
		}
	}
	lock, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	if err != nil {
		t.Fatalf("read package-lock.json: %v", err)
	}
	sum := sha256.Sum256(lock)
	stamp, err := os.ReadFile(filepath.Join(dir, "node_modules", lockStampFile))
	if err != nil || strings.TrimSpace(string(stamp)) != hex.EncodeToString(sum[:]) {
		t.Fatalf("node_modules was not installed from the current package-lock.json: run gateway/interop/setup.sh")
	}
	return dir
}

// RequireChromium fails the test when Debian's chromium is missing.
func RequireChromium(t testing.TB) {
	t.Helper()
	skipUnderShort(t)
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("%s is missing (%v): run gateway/interop/setup.sh", Chromium, err)
	}
}

func skipUnderShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Node, the npm packages and chromium; skipped by -short (make unit)")
	}
}

// LineLogger streams output into the test log line by line (shown live
// with go test -v). After Stop it drops output: a straggling server
// goroutine must not log into a finished test.
type LineLogger struct {
	t       testing.TB
	prefix  string
	mu      sync.Mutex
	buf     bytes.Buffer
	stopped bool
}

// NewLineLogger logs into t, each line prefixed.
func NewLineLogger(t testing.TB, prefix string) *LineLogger {
	return &LineLogger{t: t, prefix: prefix}
}

func (l *LineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return len(p), nil
	}
	l.buf.Write(p)
	for {
		line, err := l.buf.ReadString('\n')
		if err == io.EOF {
			// Keep the partial line for the next write.
			l.buf.Reset()
			l.buf.WriteString(line)
			return len(p), nil
		}
		l.t.Log(l.prefix + strings.TrimRight(line, "\r\n"))
	}
}

// Stop logs any unterminated last line and silences the logger.
func (l *LineLogger) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	if rest := strings.TrimRight(l.buf.String(), "\r\n"); rest != "" {
		l.t.Log(l.prefix + rest)
	}
	l.buf.Reset()
	l.stopped = true
}

// Run runs `node --test` on files (paths under dir, or relative to it) with
// env added to the environment, one file at a time, streaming the output
// into the test log. It returns an error when node fails or does not finish
// in time; the caller stops its servers before failing the test on it.
func Run(t testing.TB, dir string, files, env []string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	if deadline, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if d, ok := deadline.Deadline(); ok {
			cancel()
			ctx, cancel = context.WithDeadline(context.Background(), d.Add(-reportMargin))
		}
	}
	defer cancel()

	rel := make([]string, len(files))
	for i, f := range files {
		rel[i] = f
		if filepath.IsAbs(f) {
			r, err := filepath.Rel(dir, f)
			if err != nil {
				return fmt.Errorf("test file %s outside %s: %w", f, dir, err)
			}
			rel[i] = r
		}
	}
	sort.Strings(rel)
	args := []string{"--test", "--test-concurrency=1", "--test-reporter=spec"}
	args = append(args, strings.Fields(os.Getenv(extraArgsEnv))...)
	args = append(args, rel...)
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), env...), "NO_COLOR=1")
	// node --test runs each file in a child process (which may start
	// chromium); on timeout kill the whole process group, not just the runner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = killGrace
	out := NewLineLogger(t, "")
	cmd.Stdout = out
	cmd.Stderr = out

	runErr := cmd.Run()
	out.Stop()
	if ctx.Err() != nil {
		return fmt.Errorf("node --test %s did not finish in time: %w", strings.Join(rel, " "), ctx.Err())
	}
	if runErr != nil {
		return fmt.Errorf("node --test %s failed: %w (output above)", strings.Join(rel, " "), runErr)
	}
	return nil
}
