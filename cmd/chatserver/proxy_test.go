package main

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// proxyDialTimeout bounds one connection attempt to a backend on loopback.
const proxyDialTimeout = 5 * time.Second

// stickyProxy is a TCP proxy on loopback in front of server processes, the
// way a load balancer with sticky sessions is: every connection goes to one
// backend (long-polling needs every request of a session on one node) until
// that backend stops answering, then to the next one for good. It can also
// cut every connection and refuse new ones, as a network that drops does:
// no close frame, no goodbye, the peers only see the TCP connection end.
type stickyProxy struct {
	ln       net.Listener
	backends []string

	mu      sync.Mutex
	current int
	down    bool
	conns   map[net.Conn]struct{}
	closed  bool
	handled sync.WaitGroup
}

func startProxy(t *testing.T, backends ...string) *stickyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stickyProxy{ln: ln, backends: backends, conns: make(map[net.Conn]struct{})}
	p.handled.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

func (p *stickyProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *stickyProxy) serve() {
	defer p.handled.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			_ = c.Close()
			return
		}
		p.handled.Add(1)
		p.mu.Unlock()
		go p.handle(c)
	}
}

func (p *stickyProxy) handle(client net.Conn) {
	defer p.handled.Done()
	backend, err := p.dial()
	if err != nil || !p.track(client, backend) {
		_ = client.Close()
		if backend != nil {
			_ = backend.Close()
		}
		return
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(backend, client)
	go pipe(client, backend)
	// Either side ending ends both: a backend that dies takes its clients'
	// connections with it, as it would without a proxy.
	<-done
	p.untrack(client, backend)
	<-done
}

// dial connects to the current backend; one that refuses is taken as dead
// and the next one becomes current for good.
func (p *stickyProxy) dial() (net.Conn, error) {
	p.mu.Lock()
	i, down := p.current, p.down
	p.mu.Unlock()
	if down {
		return nil, errors.New("proxy: down")
	}
	for {
		c, err := net.DialTimeout("tcp", p.backends[i], proxyDialTimeout)
		if err == nil {
			return c, nil
		}
		p.mu.Lock()
		if p.current == i && i+1 < len(p.backends) {
			p.current = i + 1
		}
		next := p.current
		p.mu.Unlock()
		if next == i {
			return nil, err
		}
		i = next
	}
}

// track registers a proxied pair unless the proxy went down meanwhile.
func (p *stickyProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down || p.closed {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *stickyProxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
		_ = c.Close()
	}
}

// cut drops every proxied connection and refuses new ones (accepted, then
// closed at once) until resume.
func (p *stickyProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
		delete(p.conns, c)
	}
}

func (p *stickyProxy) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// moveTo makes backend i the current one for new connections.
func (p *stickyProxy) moveTo(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.current = i
}

// backend is the backend new connections go to.
func (p *stickyProxy) backend() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.backends[p.current]
}

func (p *stickyProxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	_ = p.ln.Close()
	p.cut()
	p.handled.Wait()
}

// TestStickyProxy checks the proxy the acceptance tests rely on: it sticks
// to one backend, fails over for good when that one refuses connections,
// and a cut ends every connection and refuses new ones until resumed.
func TestStickyProxy(t *testing.T) {
	// Each backend answers every connection with its name.
	backend := func(name string) net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(name))
				go func() { _, _ = io.Copy(io.Discard, c); _ = c.Close() }()
			}
		}()
		t.Cleanup(func() { _ = ln.Close() })
		return ln
	}
	a, b := backend("a"), backend("b")
	p := startProxy(t, a.Addr().String(), b.Addr().String())
	// greeting dials the proxy and returns the backend's name, or "" when
	// the connection ends first.
	greeting := func() (string, net.Conn) {
		t.Helper()
		c, err := net.Dial("tcp", p.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetReadDeadline(time.Now().Add(proxyDialTimeout))
		buf := make([]byte, 1)
		if _, err := io.ReadFull(c, buf); err != nil {
			if errors.Is(err, io.EOF) {
				return "", c
			}
			t.Fatal(err)
		}
		return string(buf), c
	}
	if got, _ := greeting(); got != "a" {
		t.Fatalf("first connection reached %q, want a", got)
	}
	_, open := greeting()
	p.cut()
	_ = open.SetReadDeadline(time.Now().Add(proxyDialTimeout))
	if _, err := open.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("a connection across the cut: read %v, want EOF", err)
	}
	if got, _ := greeting(); got != "" {
		t.Fatalf("a connection while cut reached %q", got)
	}
	p.resume()
	_ = a.Close() // a refuses from now on
	for range 2 {
		if got, _ := greeting(); got != "b" {
			t.Fatalf("after a stopped: reached %q, want b", got)
		}
	}
	if got := p.backend(); got != b.Addr().String() {
		t.Fatalf("current backend %s, want b", got)
	}
}
