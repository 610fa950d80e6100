//go:build unix

// Package nginxtest runs Debian's nginx for tests, with the project's own
// configuration (cmd/chatserver/deploy/nginx.conf) rendered for loopback: its listen line
// becomes a free 127.0.0.1 port, its upstream servers the test's nodes, and
// its temporary files and logs go to a private directory. Nothing else of
// the file changes, so a test through it tests the deployed configuration.
//
// nginx must be on PATH (or at /usr/sbin/nginx); `make setup` installs it.
// A missing binary fails the test. The server is stopped when the test ends.
package nginxtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	readyTimeout = 15 * time.Second
	stopTimeout  = 10 * time.Second
	pollInterval = 10 * time.Millisecond
	portAttempts = 5
	binaryName   = "nginx"
	debianBinary = "/usr/sbin/nginx"
)

// ConfigPath is cmd/chatserver/deploy/nginx.conf of this repository.
func ConfigPath() string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "nginx.conf")
}

var (
	listenLine   = regexp.MustCompile(`(?m)^(\s*)listen\s+80\s*;`)
	upstreamLine = regexp.MustCompile(`(?m)^(\s*server\s+)(\S+:\d+)(\s[^;]*)?;`)
	httpBlock    = regexp.MustCompile(`(?m)^http\s*\{`)
)

// Render rewrites conf for a test: listen on listenAddr, upstream servers
// upstreams (one per server line, in order), temporary files and the
// access log under dir. It fails when conf does not have exactly the
// lines it expects, so a change to the deployed file that the test could
// no longer follow is noticed.
func Render(conf, listenAddr string, upstreams []string, dir string) (string, error) {
	if n := len(listenLine.FindAllStringIndex(conf, -1)); n != 1 {
		return "", fmt.Errorf("nginxtest: want one `listen 80;` line, found %d", n)
	}
	conf = listenLine.ReplaceAllString(conf, "${1}listen "+listenAddr+";")
	servers := upstreamLine.FindAllStringSubmatchIndex(conf, -1)
	if len(servers) != len(upstreams) {
		return "", fmt.Errorf("nginxtest: the configuration has %d upstream servers, the test %d", len(servers), len(upstreams))
	}
	var b strings.Builder
	last := 0
	for i, m := range servers {
		b.WriteString(conf[last:m[4]]) // up to the host:port
		b.WriteString(upstreams[i])
		last = m[5]
	}
	b.WriteString(conf[last:])
	conf = b.String()
	if n := len(httpBlock.FindAllStringIndex(conf, -1)); n != 1 {
		return "", fmt.Errorf("nginxtest: want one `http {` block, found %d", n)
	}
	private := fmt.Sprintf(`http {
    # nginxtest: this test's private files.
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
`, dir)
	return httpBlock.ReplaceAllLiteralString(conf, private), nil
}

// Server is one running nginx.
type Server struct {
	t    testing.TB
	dir  string
	addr string
	cmd  *exec.Cmd
	logs *lockedBuffer

	exitOnce sync.Once
	exited   chan struct{}
}

// Start renders confPath for upstreams and runs nginx with it until the
// test ends. It returns once nginx accepts connections.
func Start(t testing.TB, confPath string, upstreams []string) *Server {
	t.Helper()
	bin, err := exec.LookPath(binaryName)
	if err != nil {
		if _, statErr := os.Stat(debianBinary); statErr != nil {
			t.Fatalf("nginxtest: nginx is not installed (%v): run `make setup`", err)
		}
		bin = debianBinary
	}
	conf, err := os.ReadFile(confPath)
	if err != nil {
		t.Fatal(err)
	}
	// nginx's workers drop root for nobody: the directory must be theirs
	// to enter.
	dir, err := os.MkdirTemp("", "nginxtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for range portAttempts {
		addr, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		rendered, err := Render(string(conf), addr, upstreams, dir)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "nginx.conf")
		if err := os.WriteFile(path, []byte(rendered), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "-t", "-q", "-p", dir, "-c", path, "-g", globals(dir)).CombinedOutput(); err != nil {
			t.Fatalf("nginxtest: nginx -t refuses the rendered %s: %v\n%s", confPath, err, out)
		}
		s := &Server{t: t, dir: dir, addr: addr, logs: &lockedBuffer{}, exited: make(chan struct{})}
		if lastErr = s.run(bin, path); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
		if !strings.Contains(s.logs.String(), "Address already in use") {
			t.Fatalf("nginxtest: %v\n%s", lastErr, s.logs.String())
		}
	}
	t.Fatalf("nginxtest: no free port after %d attempts: %v", portAttempts, lastErr)
	return nil
}

// globals are the main-context directives of a test run.
func globals(dir string) string {
	return fmt.Sprintf("daemon off; master_process on; pid %s/nginx.pid; error_log stderr notice;", dir)
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (s *Server) run(bin, conf string) error {
	s.cmd = exec.Command(bin, "-p", s.dir, "-c", conf, "-g", globals(s.dir))
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	// Its own process group, so the workers go too if the master is killed.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return err
	}
	go func() {
		_ = s.cmd.Wait()
		close(s.exited)
	}()
	// nginx has no readiness signal: poll its port until it accepts.
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		if c, err := net.DialTimeout("tcp", s.addr, time.Second); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.exited:
			return errors.New("nginx exited before accepting connections")
		case <-deadline.C:
			s.kill()
			return fmt.Errorf("nginx did not accept connections on %s within %v", s.addr, readyTimeout)
		case <-tick.C:
		}
	}
}

// Addr is host:port; URL is http://host:port.
func (s *Server) Addr() string { return s.addr }
func (s *Server) URL() string  { return "http://" + s.addr }

// AccessLog is what nginx logged of the requests so far.
func (s *Server) AccessLog() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "access.log"))
	return string(b)
}

// Stop shuts nginx down (SIGQUIT: graceful), killing it if it lingers.
func (s *Server) Stop() {
	s.exitOnce.Do(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.kill()
			s.t.Errorf("nginxtest: nginx did not stop within %v; killed\n%s", stopTimeout, tail(s.logs.String(), 20))
		}
	})
}

func (s *Server) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
