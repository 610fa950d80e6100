//go:build unix

// Package interop checks the Socket.IO engine against real clients: the npm
// socket.io-client 2.5.0 and 4.8.x in Node, and both browser bundles in
// Debian's chromium driven by playwright-core. The JavaScript side lives in
// node/; run setup.sh once to install chromium and the npm packages.
package interop

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"chatgateway/gateway/interop/nodetest"
)

// chromium is the browser every browser test drives.
const chromium = nodetest.Chromium

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
	serverLog := nodetest.NewLineLogger(t, "server: ")
	defer serverLog.Stop()
	h := startHarness(t, nodeDir, slog.New(slog.NewTextHandler(serverLog, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Logf("Socket.IO server %s, control server %s", h.sioURL, h.controlURL)

	runNode(t, nodeDir, files, []string{"SIO_URL=" + h.sioURL, "CONTROL_URL=" + h.controlURL}, h.close, "test server")
}

// requireNodeSetup is nodetest.Dir: the node directory, installed.
func requireNodeSetup(t *testing.T) string { return nodetest.Dir(t) }

// runNode is nodetest.Run.
func runNode(t *testing.T, nodeDir string, files, env []string, stop func() []error, serverName string) {
	t.Helper()
	nodetest.Run(t, nodeDir, files, env, stop, serverName)
}
