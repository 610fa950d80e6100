package sqlitestore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"chatgateway/rooms"
)

// The crash child: a copy of this test binary that appends until killed.
const (
	// crashChildEnv names the database the child appends to; when set,
	// TestMain runs the child instead of the tests.
	crashChildEnv = "SQLITESTORE_CRASH_CHILD_DB"
	// crashRooms are the rooms the child appends to, round robin.
	crashRooms = 4
	// crashAppenders is the number of goroutines appending in the child.
	crashAppenders = 8
	// crashChildMaxAppends bounds each child goroutine, so a child whose
	// parent never kills it still ends.
	crashChildMaxAppends = 20_000
	// crashRuns is how many times the test kills a child.
	crashRuns = 5
	// crashAcksBeforeKill is how many acknowledgements the parent reads
	// before killing; later runs wait longer, to kill at other moments.
	crashAcksBeforeKill = 300
	// crashRunLimit bounds one run, start to kill.
	crashRunLimit = 60 * time.Second
)

func crashRoom(i int) string { return fmt.Sprint("crash-", i) }

// runCrashChild opens the database and appends from several goroutines,
// printing "room order content" for each acknowledged append, one write
// per line so that the lines of different goroutines never interleave.
func runCrashChild(path string) int {
	s, err := Open(context.Background(), path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child: open:", err)
		return 2
	}
	var wg sync.WaitGroup
	failed := make(chan error, crashAppenders)
	for g := range crashAppenders {
		wg.Go(func() {
			for i := range crashChildMaxAppends {
				room := crashRoom((g + i) % crashRooms)
				content := fmt.Sprintf("g%d-%d", g, i)
				m, err := s.AppendMessage(context.Background(), room, rooms.NewMessage{Username: "child", Content: content})
				if err != nil {
					failed <- err
					return
				}
				if _, err := fmt.Fprintf(os.Stdout, "%s %d %s\n", room, m.Order, content); err != nil {
					failed <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(failed)
	for err := range failed {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		return 1
	}
	return 0
}

type ack struct {
	room    string
	order   int64
	content string
}

// TestCrashKeepsAcknowledgedAppends kills a process in the middle of
// appending (SIGKILL: no deferred code, no Close) and checks that every
// append it acknowledged survived, in a database that opens cleanly.
func TestCrashKeepsAcknowledgedAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	ids := make([]string, crashRooms)
	for i := range ids {
		ids[i] = crashRoom(i)
	}
	seedRooms(t, path, ids...)

	acked := make(map[string]map[int64]string)
	for _, id := range ids {
		acked[id] = make(map[int64]string)
	}
	for run := range crashRuns {
		acks := runAndKillChild(t, path, crashAcksBeforeKill+run*100)
		for _, a := range acks {
			if prev, dup := acked[a.room][a.order]; dup {
				t.Fatalf("run %d: room %s order %d acknowledged twice (%q, then %q)", run, a.room, a.order, prev, a.content)
			}
			acked[a.room][a.order] = a.content
		}
		checkAfterCrash(t, path, run, acked)
	}
}

// runAndKillChild starts a child, kills it once it has acknowledged
// killAfter appends, and returns every acknowledgement it printed.
func runAndKillChild(t *testing.T, path string, killAfter int) []ack {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens below, the child does not outlive the run.
	timer := time.AfterFunc(crashRunLimit, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()

	var acks []ack
	killed := false
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		a, err := parseAck(lines.Text())
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child printed %q: %v", lines.Text(), err)
		}
		acks = append(acks, a)
		if !killed && len(acks) >= killAfter {
			// Keep reading: lines already in the pipe were acknowledged
			// before the kill and count as much as the others.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	if err := lines.Err(); err != nil {
		t.Fatalf("reading the child: %v", err)
	}
	err = cmd.Wait()
	if !killed {
		t.Fatalf("child ended after %d acknowledgements, before the kill (%v); stderr:\n%s", len(acks), err, stderr.String())
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want killed by SIGKILL; stderr:\n%s", err, stderr.String())
	}
	return acks
}

func parseAck(line string) (ack, error) {
	fields := strings.Fields(line)
	if len(fields) != 3 {
		return ack{}, errors.New("want three fields")
	}
	order, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return ack{}, err
	}
	return ack{room: fields[0], order: order, content: fields[2]}, nil
}

// checkAfterCrash reopens the database the way a restarted server does.
func checkAfterCrash(t *testing.T, path string, run int, acked map[string]map[int64]string) {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("run %d: reopen after the kill: %v", run, err)
	}
	defer mustClose(t, s)
	var integrity string
	if err := s.readDB.QueryRow("PRAGMA integrity_check").Scan(&integrity); err != nil || integrity != "ok" {
		t.Fatalf("run %d: integrity_check = (%q, %v), want ok", run, integrity, err)
	}
	for room, byOrder := range acked {
		stored := mustMessages(t, s, room)
		for i, m := range stored {
			if m.Order != int64(i+1) {
				t.Fatalf("run %d: room %s: position %d holds order %d: a gap", run, room, i+1, m.Order)
			}
		}
		last, err := s.LastOrder(context.Background(), room)
		if err != nil || last != int64(len(stored)) {
			t.Fatalf("run %d: LastOrder(%s) = (%d, %v), want %d", run, room, last, err, len(stored))
		}
		for order, content := range byOrder {
			if order > last {
				t.Fatalf("run %d: room %s lost acknowledged order %d (%q): last order is %d", run, room, order, content, last)
			}
			if got := stored[order-1].Content; got != content {
				t.Fatalf("run %d: room %s order %d holds %q, %q was acknowledged", run, room, order, got, content)
			}
		}
	}
}
