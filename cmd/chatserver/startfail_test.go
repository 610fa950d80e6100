package main

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runToExit runs chatserver with env added and returns its exit code and
// output; it must exit by itself.
func runToExit(t *testing.T, env ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(serverBinary(t))
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT=0", "STORE=memory")
	cmd.Env = append(cmd.Env, env...)
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(processStartTimeout):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("chatserver did not exit:\n%s", out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestAFailedStartSaysSo: a port in use, or a store that cannot be
// reached, ends the process with status 1 and a line saying the start
// failed and why, the Redis password redacted; never "chatserver
// stopped". rediss:// is taken as a Redis store (TLS): against a server
// that speaks no TLS it fails to connect, not to parse.
func TestAFailedStartSaysSo(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	// A listener that accepts and says nothing, so a TLS handshake times out.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"port in use", []string{"PORT=" + busyPort}, "address already in use"},
		{"redis unreachable", []string{"STORE=redis://:s3cretpw@" + busy.Addr().String() + "/0"}, "redis://:xxxxx@"},
		{"rediss, no TLS there", []string{"STORE=rediss://:s3cretpw@" + silent.Addr().String() + "/0", "LOG_FORMAT=json"}, "rediss://:xxxxx@"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out := runToExit(t, tc.env...)
			if code != 1 {
				t.Fatalf("exit status %d, want 1:\n%s", code, out)
			}
			if !strings.Contains(out, "chatserver failed to start") || !strings.Contains(out, tc.want) {
				t.Fatalf("output lacks the failed start or %q:\n%s", tc.want, out)
			}
			if strings.Contains(out, "chatserver stopped") || strings.Contains(out, "s3cretpw") {
				t.Fatalf("output says stopped or shows the password:\n%s", out)
			}
		})
	}
}
