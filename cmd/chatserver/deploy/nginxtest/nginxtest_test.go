//go:build unix

package nginxtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

func TestRenderFollowsTheDeployedFile(t *testing.T) {
	conf, err := os.ReadFile(ConfigPath())
	if err != nil {
		t.Fatal(err)
	}
	out, err := Render(string(conf), "127.0.0.1:5000", []string{"127.0.0.1:7001", "127.0.0.1:7002"}, "/tmp/x")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"listen 127.0.0.1:5000;",
		"server 127.0.0.1:7001 max_fails=1 fail_timeout=10s;",
		"server 127.0.0.1:7002 max_fails=1 fail_timeout=10s;",
		"hash $remote_addr consistent;",
		"proxy_temp_path /tmp/x/proxy;",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered configuration lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "node1:3000") || strings.Contains(out, "listen 80;") {
		t.Errorf("deployment addresses left in:\n%s", out)
	}
	if _, err := Render(string(conf), "127.0.0.1:5000", []string{"127.0.0.1:7001"}, "/tmp/x"); err == nil {
		t.Error("one upstream for two server lines was accepted")
	}
	if _, err := Render("events {}\n", "127.0.0.1:5000", nil, "/tmp/x"); err == nil {
		t.Error("a configuration without listen 80 was accepted")
	}
}

// The deployed file proxies to its upstream, WebSocket headers included.
func TestStartProxies(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Header.Get("X-Forwarded-For")+" "+r.Header.Get("Connection")+" "+r.Header.Get("Upgrade"))
	}))
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "http://")
	s := Start(t, ConfigPath(), []string{addr, addr})
	resp, err := http.Get(s.URL() + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != "127.0.0.1" {
		t.Fatalf("through nginx: %d %q", resp.StatusCode, body)
	}
	s.Stop()
	if !strings.Contains(s.AccessLog(), "GET /ping") {
		t.Errorf("access log: %q", s.AccessLog())
	}
}
