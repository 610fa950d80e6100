//go:build unix

// Package interop checks the Socket.IO engine against real clients: the npm
// socket.io-client 2.5.0 and 4.8.x in Node, and both browser bundles in
// Debian's chromium driven by playwright-core. The JavaScript side lives in
// node/; run setup.sh once to install chromium and the npm packages.
package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const (
	nodeDirName = "node"
	chromium    = "/usr/bin/chromium"
	// lockStampFile is written by setup.sh after `npm ci`: the SHA-256 of
	// the package-lock.json that node_modules was installed from.
	lockStampFile = ".interop-lock.sha256"
	// nodeRunTimeout bounds one `node --test` run when go test has no
	// deadline of its own.
	nodeRunTimeout = 10 * time.Minute
	// extraNodeArgsEnv names an environment variable whose space-separated
	// words are passed to `node --test` before the files, for example
	// INTEROP_NODE_ARGS=--test-name-pattern=v4 to run a subset while
	// debugging.
	extraNodeArgsEnv = "INTEROP_NODE_ARGS"
	// killGrace is how long node may take to exit after its context ends
	// before its pipes are forcibly closed.
	killGrace = 10 * time.Second
)

// requiredPackages must be present in node/node_modules.
var requiredPackages = []string{"sio2", "socket.io-client", "socket.io", "playwright-core"}

func TestNodeClients(t *testing.T) {
	ignoreBefore := goleak.IgnoreCurrent()
	nodeDir := requireNodeSetup(t)
	files, err := filepath.Glob(filepath.Join(nodeDir, "test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no node test files under %s/test (err %v)", nodeDir, err)
	}
	runNodeTests(t, nodeDir, files)
	goleak.VerifyNone(t, ignoreBefore)
}

func TestBrowser(t *testing.T) {
	ignoreBefore := goleak.IgnoreCurrent()
	nodeDir := requireNodeSetup(t)
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (%v): run gateway/interop/setup.sh", chromium, err)
	}
	runNodeTests(t, nodeDir, []string{filepath.Join(nodeDir, "browser", "browser.test.mjs")})
	goleak.VerifyNone(t, ignoreBefore)
}

// runNodeTests starts the Go test server, runs `node --test` on files
// against it with the output streamed into the test log, and fails on a
// non-zero exit or on anything the server recorded as wrong.
func runNodeTests(t *testing.T, nodeDir string, files []string) {
	t.Helper()
	// Server logs (handler panics, protocol errors) go to the test log.
	serverLog := &lineLogger{t: t, prefix: "server: "}
	defer serverLog.stop()
	h := startHarness(t, nodeDir, slog.New(slog.NewTextHandler(serverLog, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Logf("Socket.IO server %s, control server %s", h.sioURL, h.controlURL)

	runNode(t, nodeDir, files, []string{"SIO_URL=" + h.sioURL, "CONTROL_URL=" + h.controlURL}, h.close, "test server")
}

// requireNodeSetup fails, not skips, when the JavaScript side is not
// installed: an acceptance test that silently skips accepts nothing.
func requireNodeSetup(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		// make unit: the pure Go tests, for a machine without Node,
		// npm or chromium. make test never passes -short.
		t.Skip("interop: needs Node, the npm packages and chromium; skipped by -short (make unit)")
	}
	nodeDir, err := filepath.Abs(nodeDirName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH (%v): install Node 20 and run gateway/interop/setup.sh", err)
	}
	for _, pkg := range requiredPackages {
		manifest := filepath.Join(nodeDir, "node_modules", pkg, "package.json")
		if _, err := os.Stat(manifest); err != nil {
			t.Fatalf("npm package %s is not installed (%v): run gateway/interop/setup.sh", pkg, err)
		}
	}
	lock, err := os.ReadFile(filepath.Join(nodeDir, "package-lock.json"))
	if err != nil {
		t.Fatalf("read package-lock.json: %v", err)
	}
	sum := sha256.Sum256(lock)
	stamp, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", lockStampFile))
	if err != nil || strings.TrimSpace(string(stamp)) != hex.EncodeToString(sum[:]) {
		t.Fatalf("node_modules was not installed from the current package-lock.json: run gateway/interop/setup.sh")
	}
	return nodeDir
}

// lineLogger streams output into the test log line by line (shown live
// with go test -v). After stop it drops output: a straggling server
// goroutine must not log into a finished test.
type lineLogger struct {
	t       *testing.T
	prefix  string
	mu      sync.Mutex
	buf     bytes.Buffer
	stopped bool
}

func (l *lineLogger) Write(p []byte) (int, error) {
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

// stop logs any unterminated last line and silences the logger.
func (l *lineLogger) stop() {
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

// runNode runs `node --test` on files (under nodeDir) with env added, one
// file at a time since they share one server, streams the output into the
// test log, then stops the server with stop and fails on a non-zero exit,
// a timeout, or anything the server reported as wrong.
func runNode(t *testing.T, nodeDir string, files, env []string, stop func() []error, serverName string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), nodeRunTimeout)
	if deadline, ok := t.Deadline(); ok {
		cancel()
		// Leave time to stop the servers and report.
		ctx, cancel = context.WithDeadline(context.Background(), deadline.Add(-30*time.Second))
	}
	defer cancel()

	rel := make([]string, len(files))
	for i, f := range files {
		rel[i] = f
		if filepath.IsAbs(f) {
			r, err := filepath.Rel(nodeDir, f)
			if err != nil {
				t.Fatalf("test file %s outside %s: %v", f, nodeDir, err)
			}
			rel[i] = r
		}
	}
	sort.Strings(rel)
	args := []string{"--test", "--test-concurrency=1", "--test-reporter=spec"}
	args = append(args, strings.Fields(os.Getenv(extraNodeArgsEnv))...)
	args = append(args, rel...)
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = nodeDir
	cmd.Env = append(append(os.Environ(), env...), "NO_COLOR=1")
	// node --test runs each file in a child process (which may start
	// chromium); on timeout kill the whole process group, not just the runner.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = killGrace
	out := &lineLogger{t: t}
	cmd.Stdout = out
	cmd.Stderr = out

	runErr := cmd.Run()
	out.stop()

	for _, problem := range stop() {
		t.Errorf("%s: %v", serverName, problem)
	}
	if ctx.Err() != nil {
		t.Fatalf("node --test %s did not finish in time: %v", strings.Join(rel, " "), ctx.Err())
	}
	if runErr != nil {
		t.Fatalf("node --test %s failed: %v (output above)", strings.Join(rel, " "), runErr)
	}
}
