//go:build linux

package epollset

import (
	"errors"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"
)

// pair is a loopback TCP connection: the set watches near, the test
// writes to (or closes) far.
type pair struct {
	near, far net.Conn
	rc        syscall.RawConn
}

func newPairs(t *testing.T, n int) []pair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pairs := make([]pair, n)
	for i := range pairs {
		far, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		near, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		rc, err := near.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		pairs[i] = pair{near: near, far: far, rc: rc}
		t.Cleanup(func() { near.Close(); far.Close() })
	}
	return pairs
}

// tokens are three, one with its high half set, to show that a token
// goes through whole.
var tokens = []uint64{1, 2, 7<<32 | 3}

func write(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
}

// waitFor runs Wait, with a deadline, until it has reported n distinct
// tokens, and returns them sorted. More than one Wait may be needed: under
// load the kernel may deliver a loopback write after the write returns.
func waitFor(t *testing.T, s *Set, n int) []uint64 {
	t.Helper()
	type result struct {
		got []uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		var got []uint64
		for len(got) < n {
			ready, err := s.Wait()
			if err != nil {
				done <- result{got, err}
				return
			}
			for i := range ready {
				if tok := s.Token(i); !slices.Contains(got, tok) {
					got = append(got, tok)
				}
			}
		}
		slices.Sort(got)
		done <- result{got, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Wait: %v (reported %v before)", r.err, r.got)
		}
		return r.got
	case <-time.After(10 * time.Second):
		t.Fatalf("Wait reported fewer than %d sockets in 10s", n)
		return nil
	}
}

func TestWaitReports(t *testing.T) {
	tests := []struct {
		name string
		// before acts on the pairs before they are added, after once
		// they are.
		before, after func(t *testing.T, s *Set, p []pair)
		want          []uint64
	}{
		{
			name:  "the socket that has data, by its token",
			after: func(t *testing.T, _ *Set, p []pair) { write(t, p[2].far) },
			want:  []uint64{tokens[2]},
		},
		{
			name:   "data that came before the socket was added",
			before: func(t *testing.T, _ *Set, p []pair) { write(t, p[1].far) },
			want:   []uint64{tokens[1]},
		},
		{
			name: "every socket that has data",
			after: func(t *testing.T, _ *Set, p []pair) {
				write(t, p[0].far)
				write(t, p[2].far)
			},
			want: []uint64{tokens[0], tokens[2]},
		},
		{
			name: "the peer's hang-up",
			after: func(t *testing.T, _ *Set, p []pair) {
				if err := p[0].far.Close(); err != nil {
					t.Fatal(err)
				}
			},
			want: []uint64{tokens[0]},
		},
		{
			// Edge-triggered: the first socket's data is reported once,
			// though it was not read, so the next Wait reports only what
			// came since.
			name: "each arrival once",
			after: func(t *testing.T, s *Set, p []pair) {
				write(t, p[0].far)
				if got := waitFor(t, s, 1); !slices.Equal(got, []uint64{tokens[0]}) {
					t.Fatalf("first Wait reported %v, want %v", got, tokens[:1])
				}
				write(t, p[1].far)
			},
			want: []uint64{tokens[1]},
		},
		{
			name: "not a removed socket",
			after: func(t *testing.T, s *Set, p []pair) {
				if err := s.Remove(p[0].rc); err != nil {
					t.Fatal(err)
				}
				write(t, p[0].far)
				write(t, p[1].far)
			},
			want: []uint64{tokens[1]},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New("epollset-test", 8)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			p := newPairs(t, len(tokens))
			if tt.before != nil {
				tt.before(t, s, p)
			}
			for i, tok := range tokens {
				if err := s.Add(p[i].rc, tok); err != nil {
					t.Fatal(err)
				}
			}
			if tt.after != nil {
				tt.after(t, s, p)
			}
			if got := waitFor(t, s, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Errorf("Wait reported %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCloseEndsAWait(t *testing.T) {
	s, err := New("epollset-test", 8)
	if err != nil {
		t.Fatal(err)
	}
	p := newPairs(t, 1)
	if err := s.Add(p[0].rc, 1); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		close(started)
		_, err := s.Wait()
		done <- err
	}()
	<-started
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Wait on a closed set succeeded")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait still parked 10s after Close")
	}
	if _, err := s.Wait(); err == nil {
		t.Error("a later Wait succeeded")
	}
}

func TestAddFailsForAClosedSocket(t *testing.T) {
	s, err := New("epollset-test", 8)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := newPairs(t, 1)
	p[0].near.Close()
	// The engine counts on this: a WebSocket closed while being handed
	// to a poller is then read by a goroutine, which sees its end.
	if err := s.Add(p[0].rc, 1); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Add of a closed socket: %v, want net.ErrClosed", err)
	}
}
