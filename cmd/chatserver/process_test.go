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
		// As the Makefile and deploy/Dockerfile build it: the tests run the
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

// serverProcess is one chatserver process.
type serverProcess struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	addr   string
	logs   *lockedBuffer
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
	return startServerUnder(t, name, nil, env...)
}

// startServerUnder is startServer with the binary run by wrapper (a
// command line that ends by executing its last argument, the binary, in
// the same process, as `sh -c 'ulimit -n 2048 && exec "$0"'` does).
func startServerUnder(t *testing.T, name string, wrapper []string, env ...string) *serverProcess {
	t.Helper()
	return startCommand(t, name, append(append([]string(nil), wrapper...), serverBinary(t)), "", env...)
}

// startCommand is startServer for any command line that ends up running
// chatserver (make run, for one), in dir ("" for this one). The process
// gets its own process group, and signals go to the whole group, so a
// server started through other commands stops with them.
func startCommand(t *testing.T, name string, argv []string, dir string, env ...string) *serverProcess {
	t.Helper()
	p := &serverProcess{t: t, name: name, logs: &lockedBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Dir = dir
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p.cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT=0", "LOG_LEVEL=info")
	p.cmd.Env = append(p.cmd.Env, env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		found := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.logs, line)
			if m := listeningLine.FindStringSubmatch(line); m != nil && !found {
				found = true
				addrCh <- m[1]
			}
		}
		_, _ = io.Copy(p.logs, stderr)
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("%s logs (tail):\n%s", p.name, tail(p.logs.String(), 40))
		}
	})
	select {
	case p.addr = <-addrCh:
	case <-p.exited:
		t.Fatalf("%s exited before listening:\n%s", name, p.logs.String())
	case <-time.After(processStartTimeout):
		t.Fatalf("%s did not listen within %v:\n%s", name, processStartTimeout, p.logs.String())
	}
	return p
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

func (p *serverProcess) url() string { return "http://" + p.addr }

// kill is kill -9.
func (p *serverProcess) kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.exited
}

// stop is a clean shutdown (SIGTERM); it fails the test if the process
// does not exit in time or exits with an error.
func (p *serverProcess) stop() {
	p.t.Helper()
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(processStopTimeout):
		p.t.Fatalf("%s did not stop within %v", p.name, processStopTimeout)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("%s exited with %d:\n%s", p.name, code, tail(p.logs.String(), 40))
	}
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
