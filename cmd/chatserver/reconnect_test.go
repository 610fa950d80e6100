//go:build unix

package main

// Issue 9's acceptance tests: real clients (socket.io-client 2.5 in
// Chromium, socket.io-client 4.8 in Node) reconnecting to real chatserver
// processes that are restarted, killed, or left for another node, through
// a proxy that cuts connections or fails over. The scripts live in
// gateway/interop/node/reconnect and are run by nodetest; they ask this
// side to act on the processes through a small control server
// (CONTROL_URL/<action>). They live here, with the process harness
// (process_test.go, redistest), because what they accept is the behaviour
// of whole processes across restarts and nodes.

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"chatgateway/gateway/interop/nodetest"
	"chatgateway/rooms/redisstore/redistest"
)

// reconnectScripts is where the scripts live, under the node directory.
const reconnectScripts = "reconnect"

// Settings of the processes in these tests.
const (
	// shortRecoveryWindow is RECOVERY_WINDOW of the "expired" cases: the
	// scripts wait twice this after the departure, so it is short.
	shortRecoveryWindow = time.Second
)

// controlActions are what a script may ask for, by name.
type controlActions map[string]func() error

// serveControl serves actions on loopback: POST /<name> runs it and
// answers 200, or 500 with the error. Each call is logged.
func serveControl(t *testing.T, actions controlActions) string {
	t.Helper()
	mux := http.NewServeMux()
	for name, act := range actions {
		mux.HandleFunc("POST /"+name, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			if err := act(); err != nil {
				t.Logf("control %s: %v", name, err)
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			t.Logf("control %s: done in %v", name, time.Since(start).Round(time.Millisecond))
			fmt.Fprintln(w, "ok")
		})
	}
	return serveLoopback(t, mux)
}

// startSQLiteServer runs chatserver on a fresh SQLite file.
func startSQLiteServer(t *testing.T, env ...string) *serverProcess {
	t.Helper()
	return startServer(t, "node", append([]string{"STORE=sqlite:" + filepath.Join(t.TempDir(), "chat.db")}, env...)...)
}

// runScript runs one reconnect script with env and fails the test if it
// fails.
func runScript(t *testing.T, script string, env ...string) {
	t.Helper()
	dir := nodetest.Dir(t)
	if err := nodetest.Run(t, dir, []string{filepath.Join(reconnectScripts, script)}, env); err != nil {
		t.Fatal(err)
	}
}

// startRefChat runs the Node reference chat (socket.io 4.8 with
// connectionStateRecovery) on a free loopback port.
func startRefChat(t *testing.T, window time.Duration) *serverProcess {
	t.Helper()
	dir := nodetest.Dir(t)
	return startProcess(t, "refchat", processSpec{
		path:  "node",
		args:  []string{filepath.Join(reconnectScripts, "refchat.mjs")},
		dir:   dir,
		env:   []string{"PORT=0", fmt.Sprintf("RECOVERY_WINDOW_MS=%d", window.Milliseconds())},
		ready: regexp.MustCompile(`refchat listening addr=(\S+)`),
	})
}

// proxyActions are the control actions on a proxy in front of servers.
func proxyActions(proxy *stickyProxy) controlActions {
	return controlActions{
		"cut":    func() error { proxy.cut(); return nil },
		"resume": func() error { proxy.resume(); return nil },
	}
}

// chatPage is the test page of a 2.x chat that behaves like the original
// app, and its client bundle (socket.io-client 2.5.0), for a pageFront.
func chatPage(t *testing.T) map[string]string {
	t.Helper()
	dir := nodetest.Dir(t)
	return map[string]string{
		"chat.html":    filepath.Join(dir, "chat", "chat.html"),
		"socket.io.js": filepath.Join(dir, "node_modules", "sio2", "dist", "socket.io.js"),
	}
}

// runBrowserScenario runs one SCENARIO of browser-restore.test.mjs, its
// pages served by a front passing the rest to backend.
func runBrowserScenario(t *testing.T, scenario, backend string, actions controlActions) {
	t.Helper()
	nodetest.RequireChromium(t)
	front := startPageFront(t, backend, chatPage(t))
	runScript(t, "browser-restore.test.mjs", "SCENARIO="+scenario, "SERVER_URL="+front, "CONTROL_URL="+serveControl(t, actions))
}

// Acceptance 1: two Chromium pages of a 2.x chat that joins once, two users
// in one room; the server is restarted on its SQLite file; what is typed
// afterwards reaches both pages without a reload, in order, exactly once.
func TestReconnectBrowsersAfterRestart(t *testing.T) {
	srv := startSQLiteServer(t)
	runBrowserScenario(t, "restart", srv.url(), controlActions{"restart": srv.restart})
}

// Acceptance 2: the same on two nodes on Redis behind a sticky proxy; the
// pages' node is killed (SIGKILL) and they come back on the other one.
func TestReconnectBrowsersToAnotherNode(t *testing.T) {
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(0), 2)
	proxy := startProxy(t, nodes[0].addr, nodes[1].addr)
	runBrowserScenario(t, "failover", proxy.url(), controlActions{"kill": func() error { nodes[0].kill(); return nil }})
	if got := proxy.backend(); got != nodes[1].addr {
		t.Fatalf("the pages' connections went to %s, not to the surviving node %s", got, nodes[1].addr)
	}
}

// Acceptance 3: two tabs sharing one cookie jar, in two rooms, reconnect
// in either order after a restart: neither receives an event of the
// other's room.
func TestReconnectTabsSharingACookie(t *testing.T) {
	srv := startSQLiteServer(t)
	runBrowserScenario(t, "shared", srv.url(), controlActions{"restart": srv.restart})
}

// Acceptance 4: a socket.io-client 4.8 whose transport is cut recovers its
// socket (same id, recovered, every missed message once and in order, then
// live ones): after a blip, across a restart of the server (SQLite), on
// another node (Redis); after RECOVERY_WINDOW it gets a fresh socket.
func TestRecoveryV4(t *testing.T) {
	// oneNode is a SQLite server behind the proxy, restartable.
	oneNode := func(env ...string) func(t *testing.T) (*stickyProxy, *serverProcess, controlActions) {
		return func(t *testing.T) (*stickyProxy, *serverProcess, controlActions) {
			srv := startSQLiteServer(t, env...)
			proxy := startProxy(t, srv.addr)
			actions := proxyActions(proxy)
			actions["restart"] = srv.restart
			return proxy, srv, actions
		}
	}
	// twoNodes share a Redis (a server, or a cluster of 3 masters and 3
	// replicas); the client starts on node 0 and comes back on node 1,
	// where the poster is.
	twoNodes := func(storeURL func(t *testing.T) string) func(t *testing.T) (*stickyProxy, *serverProcess, controlActions) {
		return func(t *testing.T) (*stickyProxy, *serverProcess, controlActions) {
			nodes := startCluster(t, storeURL(t), 2)
			proxy := startProxy(t, nodes[0].addr, nodes[1].addr)
			actions := proxyActions(proxy)
			actions["move"] = func() error { proxy.moveTo(1); return nil }
			return proxy, nodes[1], actions
		}
	}
	redisServer := func(t *testing.T) string { return redistest.Start(t).URL(0) }
	redisCluster := func(t *testing.T) string { return redistest.StartCluster(t).URL() }
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) (*stickyProxy, *serverProcess, controlActions)
		// script is the script's CASE, when not the name.
		script string
	}{
		{"blip", oneNode(), ""},
		{"restart", oneNode(), ""},
		{"cluster", twoNodes(redisServer), ""},
		{"redis-cluster", twoNodes(redisCluster), "cluster"},
		{"expired", oneNode("RECOVERY_WINDOW=" + shortRecoveryWindow.String()), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proxy, poster, actions := tc.start(t)
			script := tc.script
			if script == "" {
				script = tc.name
			}
			runRecoveryScript(t, "go", script, proxy, poster, actions)
			if got := proxy.backend(); got != poster.addr {
				t.Fatalf("the client's last connections went to %s, not to the poster's node %s", got, poster.addr)
			}
		})
	}
}

// The same script against Node socket.io 4.8 with connectionStateRecovery
// (one process, its own memory): it recovers after a blip, not after the
// window, and not after a restart (the script asserts that it fails).
func TestRecoveryV4NodeReference(t *testing.T) {
	for _, tc := range []struct {
		name   string
		window time.Duration
	}{
		{"blip", 2 * time.Minute},
		{"restart", 2 * time.Minute},
		{"expired", shortRecoveryWindow},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := startRefChat(t, tc.window)
			proxy := startProxy(t, ref.addr)
			actions := proxyActions(proxy)
			actions["restart"] = ref.restart
			runRecoveryScript(t, "node", tc.name, proxy, ref, actions)
		})
	}
}

func runRecoveryScript(t *testing.T, target, name string, proxy *stickyProxy, poster *serverProcess, actions controlActions) {
	t.Helper()
	runScript(t, "recovery-v4.test.mjs",
		"TARGET="+target, "CASE="+name,
		"CLIENT_URL="+proxy.url(), "POSTER_URL="+poster.url(),
		"CONTROL_URL="+serveControl(t, actions),
		fmt.Sprintf("WINDOW_MS=%d", shortRecoveryWindow.Milliseconds()))
}
