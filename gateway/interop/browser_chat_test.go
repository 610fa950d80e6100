//go:build unix

package interop

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/labstack/echo/v4"

	"chatgateway/gateway"
	"chatgateway/gateway/interop/nodetest"
)

const (
	// browserChatScript is the two-page chat, under the node directory. Its name
	// does not match TestChatScenarios' chat/*.test.mjs glob: it needs the
	// test page routes only TestBrowserChat mounts.
	browserChatScript = "chat/browser-chat.browser.mjs"
	// testPagePrefix is where the test page and the client bundle are
	// served, on the chat server's own origin: the REST API sends no CORS
	// headers, like the original, so the page must be same-origin.
	testPagePrefix = "/__test/"
)

// TestBrowserChat is issue 3's acceptance test 5: two headless Chromium
// pages, each with the socket.io-client 2.5 bundle on default transports
// (as ngx-socket-io 3), load the REST history, join and chat through the
// full server in room delivery; each sees both messages and both
// participants.
func TestBrowserChat(t *testing.T) {
	nodeDir := nodetest.Dir(t)
	nodetest.RequireChromium(t)
	script := filepath.Join(nodeDir, browserChatScript)
	if _, err := os.Stat(script); err != nil {
		t.Fatalf("browser chat script: %v", err)
	}
	// Only these files are served; anything else under the prefix is 404.
	testFiles := map[string]string{
		"chat.html":    filepath.Join(nodeDir, "chat", "chat.html"),
		"socket.io.js": filepath.Join(nodeDir, "node_modules", "sio2", "dist", "socket.io.js"),
	}
	for name, path := range testFiles {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("test page file %s: %v", name, err)
		}
	}

	serverLog := nodetest.NewLineLogger(t, "server: ")
	defer serverLog.Stop()
	problems := newProblemLog(slog.NewTextHandler(serverLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv := startChatServerWithTestFiles(t, gateway.DeliveryRoom, slog.New(problems), problems, testFiles)
	t.Logf("chat server %s, DELIVERY=%s", srv.url, gateway.DeliveryRoom)

	runNode(t, nodeDir, []string{browserChatScript}, []string{"SERVER_URL=" + srv.url}, srv.stop, "chat server")
}

// startChatServerWithTestFiles wires the product as startChatServer does
// and also serves files (name → path) under testPagePrefix. The routes must
// be mounted before the server starts: Echo's router is not safe to change
// while it serves.
func startChatServerWithTestFiles(t *testing.T, delivery gateway.Delivery, logger *slog.Logger, problems *problemLog, files map[string]string) *chatServer {
	t.Helper()
	// The defaults: room delivery binds identity, which the original frontend
	// (it joins, then posts under the name it joined with) never notices.
	return startChatServer(t, delivery, "", logger, problems, func(w wiring) {
		w.e.GET(testPagePrefix+"*", func(c echo.Context) error {
			path, ok := files[c.Param("*")]
			if !ok {
				return echo.ErrNotFound
			}
			return c.File(path)
		})
	})
}
