package edge

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestConnCap(t *testing.T) {
	tests := []struct {
		requested, reserve int
		limit              uint64
		want               int
		note, err          bool
	}{
		{0, 256, 2048, 1792, false, false},
		{1000, 256, 2048, 1000, false, false},
		{5000, 256, 2048, 1792, true, false},
		{0, 256, 256, 0, false, true},
		{0, 256, 1 << 62, 1<<31 - 1 - 256, false, false}, // RLIM_INFINITY and the like
	}
	for _, tc := range tests {
		got, note, err := connCap(tc.requested, tc.reserve, tc.limit)
		if got != tc.want || (note != "") != tc.note || (err != nil) != tc.err {
			t.Errorf("connCap(%d, %d, %d) = %d, %q, %v", tc.requested, tc.reserve, tc.limit, got, note, err)
		}
	}
}

// capped serves a handler behind a Listener with the given caps.
func capped(t *testing.T, l Limits) (string, *Listener) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.Logger = slog.New(slog.DiscardHandler)
	ln := NewListener(raw, l)
	srv := NewServer(&recorder{}, Timeouts{}, l.Logger)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return raw.Addr().String(), ln
}

// keepAlive is one client connection from a chosen loopback source.
type keepAlive struct {
	c  net.Conn
	br *bufio.Reader
}

func dialFrom(t *testing.T, src, addr string) *keepAlive {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a hung test guard only
	return &keepAlive{c: c, br: bufio.NewReader(c)}
}

// get sends a request and returns the answer's status, body and
// Connection header.
func (k *keepAlive) get(t *testing.T) (int, string, string) {
	t.Helper()
	if _, err := io.WriteString(k.c, "GET /x HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b), resp.Header.Get("Connection")
}

// waitOpen waits until the listener counts n connections.
func waitOpen(t *testing.T, ln *Listener, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ln.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections open, want %d", ln.Open(), n)
		}
		time.Sleep(time.Millisecond) // polling a counter, not synchronising
	}
}

func TestTotalCapRefusesNewConnectionsOnly(t *testing.T) {
	addr, ln := capped(t, Limits{MaxConns: 2})
	a, b := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.2", addr)
	for _, k := range []*keepAlive{a, b} {
		if status, _, _ := k.get(t); status != 200 {
			t.Fatalf("status %d under the cap", status)
		}
	}
	over := dialFrom(t, "127.0.0.3", addr)
	resp, err := http.ReadResponse(over.br, nil) // answered before it asks
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 503 || !resp.Close || resp.Header.Get("Retry-After") == "" ||
		string(body) != `{"statusCode":503,"message":"Too many connections, retry later","error":"Service Unavailable"}` {
		t.Errorf("over the cap: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	if _, err := over.br.ReadByte(); err == nil {
		t.Error("the refused connection stays open")
	}
	// The connections already open keep answering.
	for _, k := range []*keepAlive{a, b} {
		if status, _, _ := k.get(t); status != 200 {
			t.Fatalf("status %d on a connection opened before the cap was reached", status)
		}
	}
	if total, _ := ln.Refused(); total != 1 {
		t.Errorf("refused %d over the total cap, want 1", total)
	}
	// A place is given back when a connection closes.
	a.c.Close()
	waitOpen(t, ln, 1)
	if status, _, _ := dialFrom(t, "127.0.0.4", addr).get(t); status != 200 {
		t.Errorf("status %d after a place was freed", status)
	}
}

func TestPerIPCap(t *testing.T) {
	trusted, _ := ParsePrefixes("127.0.0.9")
	addr, ln := capped(t, Limits{MaxConns: 100, MaxConnsPerIP: 2, ClientIPs: NewClientIPs(trusted)})
	for range 2 {
		if status, _, _ := dialFrom(t, "127.0.0.1", addr).get(t); status != 200 {
			t.Fatal("refused under the per-address cap")
		}
	}
	over := dialFrom(t, "127.0.0.1", addr)
	resp, err := http.ReadResponse(over.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 429 || !strings.Contains(string(body), `"Too many connections from this address"`) {
		t.Errorf("over the per-address cap: %d %s", resp.StatusCode, body)
	}
	// Another address, and a trusted proxy beyond the cap, are served.
	if status, _, _ := dialFrom(t, "127.0.0.2", addr).get(t); status != 200 {
		t.Error("another address was refused")
	}
	for range 3 {
		if status, _, _ := dialFrom(t, "127.0.0.9", addr).get(t); status != 200 {
			t.Error("a trusted proxy was held to the per-address cap")
		}
	}
	if _, perIP := ln.Refused(); perIP != 1 {
		t.Errorf("refused %d over the per-address cap, want 1", perIP)
	}
}

func TestClientIPs(t *testing.T) {
	trusted, err := ParsePrefixes("10.0.0.0/8, 192.0.2.7 ,2001:db8::/32")
	if err != nil {
		t.Fatal(err)
	}
	ips := NewClientIPs(trusted)
	tests := []struct {
		peer string
		xff  []string
		want string
	}{
		{"198.51.100.1:5000", []string{"1.2.3.4"}, "198.51.100.1"}, // untrusted peer: XFF ignored
		{"10.1.2.3:5000", []string{"1.2.3.4"}, "1.2.3.4"},
		{"10.1.2.3:5000", []string{"6.6.6.6, 1.2.3.4, 10.9.9.9"}, "1.2.3.4"}, // spoofed left entry ignored
		{"10.1.2.3:5000", []string{"6.6.6.6", "1.2.3.4"}, "1.2.3.4"},         // several headers are one list
		{"10.1.2.3:5000", []string{"garbage, 1.2.3.4"}, "1.2.3.4"},
		{"10.1.2.3:5000", []string{"1.2.3.4, garbage"}, "10.1.2.3"}, // a bad hop ends the walk
		{"10.1.2.3:5000", nil, "10.1.2.3"},
		{"[::ffff:192.0.2.7]:5000", []string{"192.0.2.99"}, "192.0.2.99"},
		{"[2001:db8::1]:5000", []string{"2001:db9::5"}, "2001:db9::5"},
	}
	for _, tc := range tests {
		r := &http.Request{RemoteAddr: tc.peer, Header: http.Header{}}
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := ips.Of(r); got.String() != tc.want {
			t.Errorf("Of(%s, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
	if _, err := ParsePrefixes("10.0.0.0/33"); err == nil {
		t.Error("a bad prefix was accepted")
	}
	if _, err := ParsePrefixes("proxy.example"); err == nil {
		t.Error("a host name was accepted")
	}
	for in, want := range map[string]string{"192.0.2.1": "192.0.2.1", "2001:db8:1:2:3:4:5:6": "2001:db8:1:2::", "::ffff:192.0.2.1": "192.0.2.1"} {
		if got := Key(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("Key(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	l := newRateLimiter(10, 5, func() time.Time { return now })
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i := range 5 {
		if ok, _ := l.Allow(a); !ok {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	ok, retry := l.Allow(a)
	if ok || retry <= 0 || retry > 100*time.Millisecond {
		t.Fatalf("over the burst: ok %v, retry after %v; want refused, a token within 100ms", ok, retry)
	}
	if ok, _ := l.Allow(b); !ok {
		t.Fatal("another address shares the bucket")
	}
	now = now.Add(100 * time.Millisecond)
	if ok, _ := l.Allow(a); !ok {
		t.Fatal("no token after the refill time")
	}
	// A refused event takes no token: after 100ms exactly one is back.
	if ok, _ := l.Allow(a); ok {
		t.Fatal("more than the refill")
	}
	if l.Tracked() != 2 {
		t.Fatalf("tracked %d, want 2", l.Tracked())
	}
	// Idle until full again: forgotten.
	now = now.Add(time.Second)
	l.Allow(b)
	if l.Tracked() != 1 {
		t.Errorf("tracked %d after a's bucket refilled, want 1 (b only)", l.Tracked())
	}
}

func TestSessionCap(t *testing.T) {
	c := NewSessionCap(NewClientIPs(nil), 2)
	r := &http.Request{RemoteAddr: "192.0.2.1:1000"}
	other := &http.Request{RemoteAddr: "192.0.2.2:1000"}
	rel1, err1 := c.Admit(r)
	_, err2 := c.Admit(r)
	_, err3 := c.Admit(r)
	if err1 != nil || err2 != nil || err3 != ErrTooManySessions {
		t.Fatalf("admits: %v %v %v; want two, then ErrTooManySessions", err1, err2, err3)
	}
	if _, err := c.Admit(other); err != nil {
		t.Fatalf("another address: %v", err)
	}
	rel1()
	rel1() // once only
	if _, err := c.Admit(r); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := c.Admit(r); err != ErrTooManySessions {
		t.Fatalf("a double release gave two places back")
	}
}
