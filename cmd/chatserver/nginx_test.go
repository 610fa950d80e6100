//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"chatgateway/cmd/chatserver/deploy/nginxtest"
	"chatgateway/gateway/interop/nodetest"
	"chatgateway/rooms/redisstore/redistest"
)

// stickyScript is the client side of TestStickyNginx, under the interop
// node directory.
const stickyScript = "lb/sticky.lb.mjs"

// TestStickyNginx is issue 11's item 8: Debian's nginx, started here on
// loopback with the project's own cmd/chatserver/deploy/nginx.conf, in front of two nodes
// on one real Redis. socket.io-client 2.5 and 4.8 connect through it on
// their default transports (polling, then WebSocket), two on each node;
// their messages cross nodes; node A is killed and its clients recover
// through nginx on node B (2.x from the io cookie, 4.x by connection state
// recovery). The clients are Node's (lb/sticky.lb.mjs); this test owns the
// processes and answers the script's two requests: which node holds a
// session, and kill node A.
func TestStickyNginx(t *testing.T) {
	nodeDir := nodetest.Dir(t)
	redis := redistest.Start(t)
	env := []string{
		"STORE=" + redis.URL(0),
		"HEARTBEAT_INTERVAL=" + clusterHeartbeat.String(), "NODE_TTL=" + clusterNodeTTL.String(),
		// As cmd/chatserver/deploy/compose.yaml trusts its nginx.
		"TRUSTED_PROXIES=127.0.0.1/32",
	}
	nodes := map[string]*serverProcess{
		"a": startServer(t, "node-a", append(env, "NODE_ID=node-a")...),
		"b": startServer(t, "node-b", append(env, "NODE_ID=node-b")...),
	}
	lb := nginxtest.Start(t, nginxtest.ConfigPath(), []string{nodes["a"].addr, nodes["b"].addr})
	sources := stickySources(t, lb.URL(), nodes)
	t.Logf("nginx %s; node A %s from %v, node B %s from %v", lb.URL(), nodes["a"].addr, sources["a"], nodes["b"].addr, sources["b"])

	const room = "behind-nginx"
	createRoom(t, lb.URL(), room)

	var killOnce sync.Once
	control := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/whois":
			owner, err := sessionOwner(r.URL.Query().Get("sid"), nodes)
			if err != nil {
				http.Error(w, err.Error(), http.StatusConflict)
				return
			}
			io.WriteString(w, owner)
		case "/kill-a":
			killOnce.Do(nodes["a"].kill)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	defer control.Close()

	if err := nodetest.Run(t, nodeDir, []string{stickyScript}, []string{
		"LB_URL=" + lb.URL(), "CONTROL_URL=" + control.URL, "ROOM=" + room,
		"SOURCES_A=" + strings.Join(sources["a"], ","), "SOURCES_B=" + strings.Join(sources["b"], ","),
	}); err != nil {
		t.Fatal(err)
	}

	for _, line := range strings.Split(nodes["b"].logs.String(), "\n") {
		if strings.Contains(line, "restored") || strings.Contains(line, "dead") || strings.Contains(line, "reap") {
			t.Logf("node-b: %s", line)
		}
	}
	// The history, read through nginx from the survivor, has every message once.
	msgs := history(t, lb.URL(), room)
	checkGapless(t, room, msgs)
	if len(msgs) != 6 {
		t.Fatalf("%d messages stored, want 6: %+v", len(msgs), msgs)
	}
	// Both generations really went through nginx, upgraded there.
	log := lb.AccessLog()
	for _, want := range []string{"EIO=3&transport=websocket", "EIO=4&transport=websocket", "EIO=3&transport=polling", "EIO=4&transport=polling"} {
		if !strings.Contains(log, want) {
			t.Errorf("nginx's access log has no %q request", want)
		}
	}
}

// stickySources finds, for each node, two loopback source addresses that
// nginx sends to it: from each candidate address it opens an Engine.IO
// session through nginx, then asks each node directly to close that
// session; only the node holding it accepts.
func stickySources(t *testing.T, lbURL string, nodes map[string]*serverProcess) map[string][]string {
	t.Helper()
	const perNode = 2
	found := map[string][]string{}
	for i := 2; i < 64; i++ {
		ip := fmt.Sprintf("127.0.0.%d", i)
		sid := openSessionFrom(t, lbURL, ip)
		owner, err := sessionOwner(sid, nodes)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := closeSession(nodes[owner].url(), sid); err != nil {
			t.Fatal(err)
		}
		if len(found[owner]) < perNode {
			found[owner] = append(found[owner], ip)
		}
		if len(found["a"]) == perNode && len(found["b"]) == perNode {
			return found
		}
	}
	t.Fatalf("nginx sent 62 source addresses to the nodes as %v: not sticky per address, or not spread", found)
	return nil
}

// openSessionFrom opens an Engine.IO v4 polling session through lbURL from
// source address ip and returns its id.
func openSessionFrom(t *testing.T, lbURL, ip string) string {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: restTimeout}
	client := &http.Client{Timeout: restTimeout, Transport: &http.Transport{DialContext: dialer.DialContext, DisableKeepAlives: true}}
	resp, err := client.Get(lbURL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatalf("handshake from %s: %v", ip, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || len(body) < 2 || body[0] != '0' {
		t.Fatalf("handshake from %s: %d %q %v", ip, resp.StatusCode, body, err)
	}
	var open struct{ SID string }
	if err := json.Unmarshal(body[1:], &open); err != nil || open.SID == "" {
		t.Fatalf("handshake from %s: %q", ip, body)
	}
	return open.SID
}

// sessionOwner asks each live node, without disturbing the session, which
// holds it: a poll on an upgraded session gets code 3 from its node, a
// fresh polling one is closed by the probe (closeSession) only there, and
// every other node answers code 1, "Session ID unknown".
func sessionOwner(sid string, nodes map[string]*serverProcess) (string, error) {
	var owners []string
	for name, p := range nodes {
		select {
		case <-p.exited:
			continue
		default:
		}
		known, err := knowsSession(p.url(), sid)
		if err != nil {
			return "", fmt.Errorf("%s: %w", p.name, err)
		}
		if known {
			owners = append(owners, name)
		}
	}
	if len(owners) != 1 {
		return "", fmt.Errorf("session %s is held by %v, want exactly one node", sid, owners)
	}
	return owners[0], nil
}

// knowsSession polls the session on one node: an upgraded session answers
// 400 code 3 at once and carries on over its WebSocket; a session still on
// polling is asked with a noop POST instead, which any owner accepts.
func knowsSession(base, sid string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), restTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/socket.io/?EIO=4&transport=polling&sid="+sid, strings.NewReader("6"))
	if err != nil {
		return false, err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct{ Code int }
	switch {
	case resp.StatusCode == http.StatusOK:
		return true, nil
	case resp.StatusCode == http.StatusBadRequest && json.Unmarshal(body, &e) == nil && e.Code == 3:
		return true, nil // upgraded: polling refused by its own node
	case resp.StatusCode == http.StatusBadRequest && json.Unmarshal(body, &e) == nil && e.Code == 1:
		return false, nil
	}
	return false, fmt.Errorf("probe of %s: %d %s", sid, resp.StatusCode, body)
}

// closeSession sends the Engine.IO close packet to the node holding sid.
func closeSession(base, sid string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), restTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/socket.io/?EIO=4&transport=polling&sid="+sid, strings.NewReader("1"))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("close %s: %d", sid, resp.StatusCode)
	}
	return resp.StatusCode, nil
}
