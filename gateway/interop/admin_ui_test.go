//go:build unix

package interop

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"chatgateway/gateway"
	"chatgateway/gateway/admin"
	"chatgateway/gateway/interop/nodetest"
)

const (
	// adminUIScript drives the dashboard in chromium; adminProtocolScript
	// speaks the admin namespace's protocol with socket.io-client. Neither
	// matches another test's glob: they need the admin namespace.
	adminUIScript       = "admin/admin-ui.browser.mjs"
	adminProtocolScript = "admin/protocol.admin.mjs"
	adminUser           = "ops"
	adminPassword       = "correct horse battery staple"
	adminNodeID         = "admin-test-node"
)

// TestAdminUI is issue 11's item 3: the official Socket.IO Admin UI's
// dashboard (@socket.io/admin-ui 0.5's ui/dist, served here from its own
// loopback origin) logs in to this server in headless chromium and shows
// its sockets, rooms and events, in both of the package's modes.
func TestAdminUI(t *testing.T) {
	nodeDir := nodetest.Dir(t)
	nodetest.RequireChromium(t)
	uiDir := filepath.Join(nodeDir, "node_modules", "@socket.io", "admin-ui", "ui", "dist")
	if _, err := os.Stat(filepath.Join(uiDir, "index.html")); err != nil {
		t.Fatalf("the Admin UI's built files: %v (run gateway/interop/setup.sh)", err)
	}
	// The cost the npm package's README suggests; MinCost would hide the
	// price of a real login.
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), 10)
	if err != nil {
		t.Fatal(err)
	}
	ui := httptest.NewServer(http.FileServer(http.Dir(uiDir)))
	defer ui.Close()

	for _, mode := range []admin.Mode{admin.ModeDevelopment, admin.ModeProduction} {
		t.Run(string(mode), func(t *testing.T) {
			serverLog := nodetest.NewLineLogger(t, "server: ")
			defer serverLog.Stop()
			problems := newProblemLog(slog.NewTextHandler(serverLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
			logger := slog.New(problems)
			srv := startChatServer(t, gateway.DeliveryRoom, "", logger, problems, func(w wiring) {
				adm, err := admin.New(admin.Config{Username: adminUser, PasswordHash: string(hash), Mode: mode, ServerID: adminNodeID, Logger: logger})
				if err != nil {
					t.Fatal(err)
				}
				adm.Register(w.sio, w.gw)
				t.Cleanup(adm.Shutdown)
			})
			t.Logf("chat server %s, Admin UI files %s, mode %s", srv.url, ui.URL, mode)
			runNode(t, nodeDir, []string{adminProtocolScript, adminUIScript}, []string{
				"SERVER_URL=" + srv.url, "UI_URL=" + ui.URL, "ADMIN_USER=" + adminUser, "ADMIN_PASSWORD=" + adminPassword,
				"ADMIN_MODE=" + string(mode), "NODE_ID=" + adminNodeID,
			}, srv.stop, "chat server")
		})
	}
}
