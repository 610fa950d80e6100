//go:build unix

// Package interop checks the Socket.IO engine against real clients: the npm
// socket.io-client 2.5.0 and 4.8.x in Node, and both browser bundles in
// Debian's chromium driven by playwright-core. The JavaScript side lives in
// node/ (run by nodetest); run setup.sh once to install chromium and the npm
// packages.
package interop

import (
	"log/slog"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"chatgateway/gateway/internal/warmgo"
	"chatgateway/gateway/interop/nodetest"
)

func TestNodeClients(t *testing.T) {
	ignoreBefore := goleak.IgnoreCurrent()
	nodeDir := nodetest.Dir(t)
	files, err := filepath.Glob(filepath.Join(nodeDir, "test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no node test files under %s/test (err %v)", nodeDir, err)
	}
	runNodeTests(t, nodeDir, files)
	goleak.VerifyNone(t, ignoreBefore, goleak.IgnoreAnyFunction(warmgo.IdleFunction))
}

func TestBrowser(t *testing.T) {
	ignoreBefore := goleak.IgnoreCurrent()
	nodeDir := nodetest.Dir(t)
	nodetest.RequireChromium(t)
	runNodeTests(t, nodeDir, []string{filepath.Join(nodeDir, "browser", "browser.test.mjs")})
	goleak.VerifyNone(t, ignoreBefore, goleak.IgnoreAnyFunction(warmgo.IdleFunction))
}

// runNodeTests starts the Go test server, runs `node --test` on files
// against it with the output streamed into the test log, and fails on a
// non-zero exit or on anything the server recorded as wrong.
func runNodeTests(t *testing.T, nodeDir string, files []string) {
	t.Helper()
	// Server logs (handler panics, protocol errors) go to the test log.
	serverLog := nodetest.NewLineLogger(t, "server: ")
	defer serverLog.Stop()
	h := startHarness(t, nodeDir, slog.New(slog.NewTextHandler(serverLog, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Logf("Socket.IO server %s, control server %s", h.sioURL, h.controlURL)

	runNode(t, nodeDir, files, []string{"SIO_URL=" + h.sioURL, "CONTROL_URL=" + h.controlURL}, h.close, "test server")
}

// runNode runs `node --test` on files (under nodeDir) with env added, then
// stops the server with stop and fails on a node failure or timeout, or on
// anything the server reported as wrong.
func runNode(t *testing.T, nodeDir string, files, env []string, stop func() []error, serverName string) {
	t.Helper()
	runErr := nodetest.Run(t, nodeDir, files, env)
	for _, problem := range stop() {
		t.Errorf("%s: %v", serverName, problem)
	}
	if runErr != nil {
		t.Fatal(runErr)
	}
}
