package main

// The deployment files of deploy/ that cannot run here (no container
// engine, no systemd as PID 1) are checked against the server they deploy:
// the Dockerfile's build command is run, the settings the compose file and
// the systemd unit pass are loaded as the server loads them, and the
// compose file, nginx.conf and the unit agree with each other. nginx.conf
// itself runs in TestStickyNginx.

import (
	"bufio"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
)

const deployDir = "deploy"

func readDeployFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(deployDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// knownSetting checks an environment variable name against the server's
// settings.
func knownSetting(name string) bool {
	for _, s := range settings() {
		if s.env == name {
			return true
		}
	}
	return false
}

// loadEnv loads the server's configuration from env alone, as the process
// would, and fails on unknown names.
func loadEnv(t *testing.T, where string, env map[string]string) config {
	t.Helper()
	for k := range env {
		if !knownSetting(k) {
			t.Errorf("%s: %s is not a setting of the server", where, k)
		}
	}
	c, err := loadConfig(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("%s: the server refuses its settings: %v", where, err)
	}
	return c
}

var dockerBuild = regexp.MustCompile(`(?m)^RUN (CGO_ENABLED=0 go build .*) -o /out/chatserver (\./cmd/chatserver)$`)

// The image's binary is built by the Dockerfile's own command, and that
// command makes a static binary (no dynamic loader, no shared library):
// the distroless/static base has no libc.
func TestDockerfileBuildsAStaticBinary(t *testing.T) {
	dockerfile := readDeployFile(t, "Dockerfile")
	m := dockerBuild.FindStringSubmatch(dockerfile)
	if m == nil {
		t.Fatalf("no `RUN CGO_ENABLED=0 go build ... -o /out/chatserver ./cmd/chatserver` line in the Dockerfile")
	}
	for _, want := range []string{
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"USER 65532:65532",
		"VOLUME /data",
		"STORE=sqlite:/data/chat.db",
		"COPY --from=build --chown=65532:65532 /out/data /data",
		`ENTRYPOINT ["/chatserver"]`,
	} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	out := filepath.Join(t.TempDir(), "chatserver")
	cmd := exec.Command("sh", "-c", m[1]+" -o "+out+" "+m[2])
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", m[1], err, b)
	}
	f, err := elf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary asks for a dynamic loader")
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v (%v)", libs, err)
	}
	help, err := exec.Command(out, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "Usage: chatserver") {
		t.Errorf("the static binary's --help: %v\n%s", err, help)
	}
}

// compose is the part of cmd/chatserver/deploy/compose.yaml these checks read.
type compose struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Build       struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Networks yaml.Node `yaml:"networks"`
	} `yaml:"services"`
}

var upstreamServer = regexp.MustCompile(`(?m)^\s*server\s+([\w.-]+):(\d+)\b`)

// The compose file's nodes start with the settings it gives them, reach
// the services it defines, trust its nginx, and are the upstreams of the
// nginx.conf it mounts, on the port the server listens on.
func TestComposeSettings(t *testing.T) {
	var c compose
	if err := yaml.Unmarshal([]byte(readDeployFile(t, "compose.yaml")), &c); err != nil {
		t.Fatal(err)
	}
	nginx, ok := c.Services["nginx"]
	if !ok {
		t.Fatal("no nginx service")
	}
	if !slices.Contains(nginx.Volumes, "./nginx.conf:/etc/nginx/nginx.conf:ro") {
		t.Errorf("nginx does not mount cmd/chatserver/deploy/nginx.conf: %v", nginx.Volumes)
	}
	if !slices.Contains(nginx.Ports, "3000:80") || !strings.Contains(readDeployFile(t, "nginx.conf"), "listen 80;") {
		t.Errorf("nginx publishes %v; nginx.conf must listen on the published container port", nginx.Ports)
	}
	var nginxNet struct {
		Chat struct {
			IPv4 string `yaml:"ipv4_address"`
		} `yaml:"chat"`
	}
	if err := nginx.Networks.Decode(&nginxNet); err != nil || nginxNet.Chat.IPv4 == "" {
		t.Fatalf("nginx has no fixed address to be trusted by the nodes: %v", err)
	}

	var nodes []string
	ids := map[string]bool{}
	for name, svc := range c.Services {
		if svc.Build.Dockerfile == "" {
			continue
		}
		nodes = append(nodes, name)
		if svc.Build.Context != "../../.." || svc.Build.Dockerfile != "cmd/chatserver/deploy/Dockerfile" {
			t.Errorf("%s: built from %s/%s, want the repository root and cmd/chatserver/deploy/Dockerfile", name, svc.Build.Context, svc.Build.Dockerfile)
		}
		cfg := loadEnv(t, "compose service "+name, svc.Environment)
		spec, err := parseStore(cfg.Store)
		if err != nil || spec.kind != storeRedis {
			t.Errorf("%s: STORE %q is not a Redis store (%v)", name, cfg.Store, err)
		} else if host := strings.Split(strings.TrimPrefix(cfg.Store, "redis://"), ":")[0]; c.Services[host].Image == "" {
			t.Errorf("%s: STORE names host %q, which is no service with an image", name, host)
		}
		if ids[cfg.NodeID] || cfg.NodeID == "" {
			t.Errorf("%s: NODE_ID %q is empty or shared", name, cfg.NodeID)
		}
		ids[cfg.NodeID] = true
		trusted := false
		for _, p := range cfg.TrustedProxies {
			trusted = trusted || p.String() == nginxNet.Chat.IPv4+"/32"
		}
		if !trusted {
			t.Errorf("%s: TRUSTED_PROXIES %v does not hold nginx's %s", name, cfg.TrustedProxies, nginxNet.Chat.IPv4)
		}
		if cfg.Port != 3000 {
			t.Errorf("%s: listens on %d", name, cfg.Port)
		}
	}
	slices.Sort(nodes)
	var upstreams []string
	for _, m := range upstreamServer.FindAllStringSubmatch(readDeployFile(t, "nginx.conf"), -1) {
		if m[2] != "3000" {
			t.Errorf("nginx.conf sends to %s:%s; the nodes listen on 3000", m[1], m[2])
		}
		upstreams = append(upstreams, m[1])
	}
	slices.Sort(upstreams)
	if len(nodes) < 2 || !slices.Equal(nodes, upstreams) {
		t.Errorf("compose nodes %v, nginx.conf upstreams %v: want the same two or more", nodes, upstreams)
	}
}

// The unit starts the server with settings it accepts, keeps its data in
// the unit's state directory, and gives a clean shutdown time to finish.
func TestSystemdUnit(t *testing.T) {
	unit := readDeployFile(t, "chatserver.service")
	env := map[string]string{}
	keys := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "[") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("unit line %q", line)
		}
		keys[k] = append(keys[k], v)
		if k == "Environment" {
			name, value, _ := strings.Cut(v, "=")
			env[name] = value
		}
	}
	cfg := loadEnv(t, "the systemd unit", env)
	if keys["ExecStart"][0] != "/usr/local/bin/chatserver" {
		t.Errorf("ExecStart %v", keys["ExecStart"])
	}
	if state := keys["StateDirectory"]; len(state) != 1 || cfg.Store != "sqlite:/var/lib/"+state[0]+"/chat.db" {
		t.Errorf("STORE %s is not in StateDirectory %v", cfg.Store, state)
	}
	stop, err := time.ParseDuration(keys["TimeoutStopSec"][0])
	if err != nil || stop <= cfg.ShutdownTimeout {
		t.Errorf("TimeoutStopSec %v does not leave SHUTDOWN_TIMEOUT (%v) to drain (%v)", keys["TimeoutStopSec"], cfg.ShutdownTimeout, err)
	}
	for _, k := range []string{"DynamicUser", "NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "RestrictAddressFamilies", "SystemCallFilter"} {
		if len(keys[k]) == 0 {
			t.Errorf("the unit has no %s", k)
		}
	}
	if n, err := strconv.Atoi(keys["LimitNOFILE"][0]); err != nil || n <= cfg.FDReserve {
		t.Errorf("LimitNOFILE %v leaves no connection above FD_RESERVE %d", keys["LimitNOFILE"], cfg.FDReserve)
	}
}
