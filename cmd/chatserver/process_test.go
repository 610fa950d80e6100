package main

// Helpers for the tests that run chatserver as real processes: restart,
// kill -9, several nodes on one Redis.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatgateway/rooms"
)

const (
	processStartTimeout = 60 * time.Second
	processStopTimeout  = 20 * time.Second
	restTimeout         = 10 * time.Second
)

var (
	buildOnce   sync.Once
	builtBinary string
	buildErr    error
)

// serverBinary builds chatserver once per test binary run.
func serverBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "chatserver-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBinary = filepath.Join(dir, "chatserver")
		// As the Makefile and cmd/chatserver/deploy/Dockerfile build it: the tests run the
		// binary that ships, and share its build.
		cmd := exec.Command("go", "build", "-trimpath", "-o", builtBinary, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBinary
}

// processSpec says how to run one server process and how to tell that it
// serves.
type processSpec struct {
	path string
	args []string
	dir  string
	env  []string // added to this process's environment; later entries win
	// ready matches the log line announcing the listening address, its
	// first group.
	ready *regexp.Regexp
}

// serverProcess is one server process (chatserver, or a reference server),
// restartable on the same port.
type serverProcess struct {
	t    *testing.T
	name string
	spec processSpec
	// addr is where it listens, fixed by the first start: a restart binds
	// the same port.
	addr string
	logs *lockedBuffer

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
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

var listeningLine = regexp.MustCompile(`msg="chatserver listening" addr=(\S+)`)

// startServer runs chatserver on a free loopback port with env added to
// the defaults, and waits until it listens. The process is killed at the
// end of the test if still running.
func startServer(t *testing.T, name string, env ...string) *serverProcess {
	t.Helper()
	return startProcess(t, name, processSpec{
		path:  serverBinary(t),
		env:   append([]string{"HOST=127.0.0.1", "PORT=0", "LOG_LEVEL=info"}, env...),
		ready: listeningLine,
	})
}

// startServerUnder is startServer with the binary run by wrapper (a
// command line that ends by executing its last argument, the binary, in
// the same process, as `sh -c 'ulimit -n 2048 && exec "$0"'` does).
func startServerUnder(t *testing.T, name string, wrapper []string, env ...string) *serverProcess {
	t.Helper()
	argv := append(append([]string(nil), wrapper...), serverBinary(t))
	return startProcess(t, name, processSpec{
		path:  argv[0],
		args:  argv[1:],
		env:   append([]string{"HOST=127.0.0.1", "PORT=0", "LOG_LEVEL=info"}, env...),
		ready: listeningLine,
	})
}

// startCommand is startServer for any command line that ends up running
// chatserver (make run, for one), in dir ("" for this one). Signals go to
// the process group, so a server started through other commands stops with
// them.
func startCommand(t *testing.T, name string, argv []string, dir string, env ...string) *serverProcess {
	t.Helper()
	return startProcess(t, name, processSpec{
		path:  argv[0],
		args:  argv[1:],
		dir:   dir,
		env:   append([]string{"HOST=127.0.0.1", "PORT=0", "LOG_LEVEL=info"}, env...),
		ready: listeningLine,
	})
}

// startProcess runs spec and waits until it listens; the process is killed
// at the end of the test if still running, and its logs shown if the test
// failed.
func startProcess(t *testing.T, name string, spec processSpec) *serverProcess {
	t.Helper()
	p := &serverProcess{t: t, name: name, spec: spec, logs: &lockedBuffer{}}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s logs (tail):\n%s", p.name, tail(p.logs.String(), 60))
		}
	})
	if err := p.launch(); err != nil {
		t.Fatal(err)
	}
	return p
}

// launch starts the process (on p.addr's port once it has one) and waits
// until it listens.
func (p *serverProcess) launch() error {
	cmd := exec.Command(p.spec.path, p.spec.args...)
	cmd.Dir = p.spec.dir
	// Its own process group: signals reach whatever it started too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Env = append(os.Environ(), p.spec.env...)
	if p.addr != "" {
		_, port, err := net.SplitHostPort(p.addr)
		if err != nil {
			return err
		}
		cmd.Env = append(cmd.Env, "PORT="+port)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	cmd.Stdout = p.logs
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.exited = cmd, exited
	p.mu.Unlock()
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.logs, line)
			if m := p.spec.ready.FindStringSubmatch(line); m != nil && !found {
				found = true
				addrCh <- m[1]
			}
		}
		_, _ = io.Copy(p.logs, stderr)
		_ = cmd.Wait()
		close(exited)
	}()
	select {
	case addr := <-addrCh:
		if p.addr == "" {
			p.addr = addr
		} else if addr != p.addr {
			return fmt.Errorf("%s restarted on %s, not on %s", p.name, addr, p.addr)
		}
		return nil
	case <-exited:
		return fmt.Errorf("%s exited before listening:\n%s", p.name, tail(p.logs.String(), 40))
	case <-time.After(processStartTimeout):
		return fmt.Errorf("%s did not listen within %v:\n%s", p.name, processStartTimeout, tail(p.logs.String(), 40))
	}
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func (p *serverProcess) url() string { return "http://" + p.addr }

func (p *serverProcess) current() (*exec.Cmd, chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd, p.exited
}

// kill is kill -9.
func (p *serverProcess) kill() {
	cmd, exited := p.current()
	select {
	case <-exited:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-exited
}

// terminate is a clean shutdown (SIGTERM); it fails if the process does
// not exit in time or exits with an error.
func (p *serverProcess) terminate() error {
	cmd, exited := p.current()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(processStopTimeout):
		return fmt.Errorf("%s did not stop within %v", p.name, processStopTimeout)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("%s exited with %d:\n%s", p.name, code, tail(p.logs.String(), 40))
	}
	return nil
}

// stop is terminate for the test goroutine.
func (p *serverProcess) stop() {
	p.t.Helper()
	if err := p.terminate(); err != nil {
		p.t.Fatal(err)
	}
}

// restart stops the process cleanly (SIGTERM) and starts it again on the
// same port with the same settings (the same database file).
func (p *serverProcess) restart() error {
	if err := p.terminate(); err != nil {
		return err
	}
	fmt.Fprintf(p.logs, "--- %s restarted ---\n", p.name)
	return p.launch()
}

// rest is one REST call; it returns the status and body.
func rest(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), restTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, b
}

func createRoom(t *testing.T, base, roomID string) {
	t.Helper()
	status, body := rest(t, http.MethodPost, base+"/api/v1/rooms", fmt.Sprintf(`{"roomId":%q,"creatorUsername":"bob"}`, roomID))
	if status != http.StatusCreated {
		t.Fatalf("create room %s: %d %s", roomID, status, body)
	}
}

// history reads a room's whole history over REST, in ranges of MAX_RANGE.
func history(t *testing.T, base, roomID string) []rooms.Message {
	t.Helper()
	var all []rooms.Message
	for from := int64(1); ; from += rooms.DefaultMaxRange {
		status, body := rest(t, http.MethodGet, fmt.Sprintf("%s/api/v1/rooms/%s/messages?fromIndex=%d&toIndex=%d", base, roomID, from, from+rooms.DefaultMaxRange-1), "")
		if status != http.StatusOK {
			t.Fatalf("history of %s: %d %s", roomID, status, body)
		}
		var msgs []rooms.Message
		if err := json.Unmarshal(body, &msgs); err != nil {
			t.Fatalf("history of %s: %v in %s", roomID, err, body)
		}
		all = append(all, msgs...)
		if len(msgs) < rooms.DefaultMaxRange {
			return all
		}
	}
}

// checkGapless fails unless msgs have orders 1..len(msgs).
func checkGapless(t *testing.T, roomID string, msgs []rooms.Message) {
	t.Helper()
	for i, m := range msgs {
		if m.Order != int64(i+1) {
			t.Fatalf("room %s: history position %d has order %d (gap or disorder)", roomID, i+1, m.Order)
		}
	}
}
