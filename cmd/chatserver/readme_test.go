//go:build unix

package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"chatgateway/gateway/interop/nodetest"
)

const (
	readmePath = "../../README.md"
	// readmeStepTimeout bounds one command of the quick start;
	// readmeBuildTimeout `make build`, which may compile everything.
	readmeStepTimeout  = 30 * time.Second
	readmeBuildTimeout = 10 * time.Minute
	// readmeServerURL is the address the README's commands use.
	readmeServerURL = "http://localhost:3000"
)

// quickStartStep is one marked block of the README's quick start:
// <!-- quickstart:KIND [ARG] --> then a fenced block.
type quickStartStep struct {
	kind, arg, body string
}

var quickStartBlock = regexp.MustCompile("(?s)<!-- quickstart:(\\w+)(?: (\\w+))? -->\n```\\w*\n(.*?)\n```")

// jsTime is a time as JavaScript's toISOString writes it: it differs at
// every run, so outputs are compared with it masked.
var jsTime = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`)

func quickStart(t *testing.T) []quickStartStep {
	t.Helper()
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	start := strings.Index(readme, "\n## Quick start\n")
	if start < 0 {
		t.Fatal("README has no Quick start section")
	}
	section := readme[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var steps []quickStartStep
	for _, m := range quickStartBlock.FindAllStringSubmatch(section, -1) {
		steps = append(steps, quickStartStep{kind: m[1], arg: m[2], body: m[3]})
	}
	return steps
}

// TestReadmeQuickStart runs the README's quick start as a newcomer would:
// `make build` and `bin/chatserver --help`, the server started with `make
// run`, then every curl command and both client snippets in order, each
// output compared with the one the README shows (times masked). The
// socket.io-client 2 snippet runs on the 2.5 package installed as "sio2".
func TestReadmeQuickStart(t *testing.T) {
	nodeDir := nodetest.Dir(t)
	steps := quickStart(t)
	if len(steps) < 4 || steps[0].kind != "server" {
		t.Fatalf("quick start steps %+v: want the server first, then commands", steps)
	}

	// `make build` writes bin/chatserver (here into a temporary bin).
	bin := filepath.Join(t.TempDir(), "chatserver")
	if !strings.Contains(mustRead(t, "../../Makefile"), "BIN     := bin/chatserver") {
		t.Error("the Makefile no longer builds bin/chatserver, as the README says")
	}
	runIn(t, readmeBuildTimeout, "../..", "make", "-s", "build", "BIN="+bin)
	// The usage goes to standard error, as the flag package writes it.
	if help, err := exec.Command(bin, "--help").CombinedOutput(); err != nil || !strings.Contains(string(help), "Usage: chatserver") || !strings.Contains(string(help), "ADMIN_UI_USERNAME") {
		t.Errorf("bin/chatserver --help: %v\n%s", err, help)
	}

	// The server, by the README's command, its database kept out of the tree.
	if got := strings.TrimSpace(strings.SplitN(steps[0].body, "#", 2)[0]); got != "make run" {
		t.Fatalf("the quick start starts the server with %q, which this test does not know", got)
	}
	server := startCommand(t, "make run", []string{"make", "-s", "run"}, "../..", "STORE=sqlite:"+filepath.Join(t.TempDir(), "chat.db"))
	scripts, err := os.MkdirTemp(nodeDir, ".quickstart-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(scripts) })

	for i := 1; i < len(steps); i++ {
		step := steps[i]
		body := strings.ReplaceAll(step.body, readmeServerURL, server.url())
		var got string
		switch {
		case step.kind == "shell":
			got = runIn(t, readmeStepTimeout, "", "bash", "-e", "-o", "pipefail", "-c", body)
		case step.kind == "node" && step.arg == "v4":
			path := filepath.Join(scripts, "post.mjs")
			writeFile(t, path, body)
			got = runIn(t, readmeStepTimeout, "", "node", path)
		case step.kind == "node" && step.arg == "v2":
			// npm's socket.io-client@2 is installed here under the name sio2.
			path := filepath.Join(scripts, "reply.cjs")
			writeFile(t, path, strings.Replace(body, `require("socket.io-client")`, `require("sio2")`, 1))
			got = runIn(t, readmeStepTimeout, "", "node", path)
		default:
			t.Fatalf("quick start step %d: unknown kind %q %q", i, step.kind, step.arg)
		}
		if i+1 >= len(steps) || steps[i+1].kind != "output" {
			t.Fatalf("quick start step %d (%s) has no output block after it", i, step.kind)
		}
		i++
		want := steps[i].body
		if jsTime.ReplaceAllString(strings.TrimSpace(got), "<time>") != jsTime.ReplaceAllString(strings.TrimSpace(want), "<time>") {
			t.Errorf("quick start step %d (%s):\n%s\nprinted:\n%s\nthe README shows:\n%s", i-1, step.kind, body, got, want)
		}
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runIn runs a command in dir and returns its standard output; it fails
// the test on an error or after timeout.
func runIn(t *testing.T, timeout time.Duration, dir string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}
