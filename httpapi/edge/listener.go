package edge

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults of the connection caps.
const (
	// DefaultFDReserve is how many file descriptors are kept out of the
	// connection cap: the store's files and connections (SQLite: the
	// database, its WAL and shared memory per connection; Redis: a pool
	// of 10 per CPU), the listeners, the runtime's poller and the
	// refusals in flight (maxRefusing).
	DefaultFDReserve = 256
	// DefaultMaxConnsPerIP caps the connections one peer address holds at
	// once: far above a browser's handful per tab, room for a large NAT.
	// The benchmark, whose 100,000 idle clients share 8 loopback
	// addresses, raises it.
	DefaultMaxConnsPerIP = 4096
)

// maxRefusing bounds the refused connections being answered at once; past
// it a refused connection is closed without an answer. Each holds a
// descriptor for at most refusalLinger.
const (
	maxRefusing    = 64
	refusalLinger  = 500 * time.Millisecond
	refusalLogGap  = 10 * time.Second
	refusalMaxRead = 64 << 10
)

// ConnCap resolves the total connection cap against this process's
// descriptor limit (RLIMIT_NOFILE, which the Go runtime has already raised
// to its hard limit): requested 0 means as many as the limit allows after
// reserve; a larger request is lowered to that, with a note saying so. A
// limit that leaves nothing for connections is an error.
func ConnCap(requested, reserve int) (capacity int, note string, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, "", fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	return connCap(requested, reserve, rl.Cur)
}

func connCap(requested, reserve int, limit uint64) (int, string, error) {
	room := int64(math.MaxInt32)
	if limit < uint64(room) {
		room = int64(limit)
	}
	room -= int64(reserve)
	if room < 1 {
		return 0, "", fmt.Errorf("the descriptor limit (RLIMIT_NOFILE) is %d and %d are kept for the store and listeners (FD_RESERVE): no room for connections; raise it (ulimit -n) or lower FD_RESERVE", limit, reserve)
	}
	switch {
	case requested <= 0:
		return int(room), "", nil
	case int64(requested) > room:
		return int(room), fmt.Sprintf("MAX_CONNS %d lowered to %d: the descriptor limit (RLIMIT_NOFILE) is %d and %d are kept for the store and listeners (FD_RESERVE)", requested, room, limit, reserve), nil
	}
	return requested, "", nil
}

// Limits configures a Listener.
type Limits struct {
	// MaxConns caps the connections open at once (resolve it with ConnCap).
	MaxConns int
	// MaxConnsPerIP caps them per peer address key (see Key); below 1:
	// DefaultMaxConnsPerIP.
	MaxConnsPerIP int
	// ClientIPs tells which peers are trusted proxies: they are exempt
	// from MaxConnsPerIP.
	ClientIPs *ClientIPs
	Logger    *slog.Logger
}

// Listener is a net.Listener that enforces the connection caps.
type Listener struct {
	net.Listener
	max   int
	perIP *perKeyCounter
	ips   *ClientIPs
	log   *slog.Logger

	open     atomic.Int64
	refusing chan struct{}

	// lastLog rate-limits the warnings, in Unix nanoseconds per kind.
	lastCapLog, lastPerIPLog, lastFDLog atomic.Int64
	refusedTotal, refusedPerIP          atomic.Uint64
}

// NewListener wraps ln with the caps of l.
func NewListener(ln net.Listener, l Limits) *Listener {
	if l.MaxConnsPerIP < 1 {
		l.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if l.ClientIPs == nil {
		l.ClientIPs = &ClientIPs{}
	}
	if l.Logger == nil {
		l.Logger = slog.Default()
	}
	return &Listener{
		Listener: ln,
		max:      l.MaxConns,
		perIP:    newPerKeyCounter(l.MaxConnsPerIP),
		ips:      l.ClientIPs,
		log:      l.Logger,
		refusing: make(chan struct{}, maxRefusing),
	}
}

// Open is the number of connections open now.
func (l *Listener) Open() int { return int(l.open.Load()) }

// Refused counts the connections refused over the total and the per-address cap.
func (l *Listener) Refused() (total, perIP uint64) {
	return l.refusedTotal.Load(), l.refusedPerIP.Load()
}

var (
	refuseTotal = refusal(503, "Service Unavailable", "Too many connections, retry later")
	refusePerIP = refusal(429, "Too Many Requests", "Too many connections from this address")
)

// refusal is a complete HTTP response with a Nest-shaped body.
func refusal(status int, text, message string) []byte {
	body := `{"statusCode":` + strconv.Itoa(status) + `,"message":"` + message + `","error":"` + text + `"}`
	return []byte("HTTP/1.1 " + strconv.Itoa(status) + " " + text + "\r\n" +
		"Content-Type: application/json; charset=utf-8\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n" +
		"Retry-After: 1\r\n" +
		"Connection: close\r\n\r\n" + body)
}

// Accept returns the next connection within the caps; the others are
// answered and closed here.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// The caps should make this impossible; if something else
				// ate the reserve, say so (net/http retries with backoff).
				l.warnEvery(&l.lastFDLog, "accept: out of file descriptors; raise FD_RESERVE or the descriptor limit", "err", err)
			}
			return nil, err
		}
		if l.open.Add(1) > int64(l.max) {
			l.open.Add(-1)
			l.refusedTotal.Add(1)
			l.warnEvery(&l.lastCapLog, "refusing connections: MAX_CONNS reached", "max_conns", l.max)
			l.refuse(c, refuseTotal)
			continue
		}
		peer := addrOf(c.RemoteAddr().String())
		counted := peer.IsValid() && !l.ips.Trusted(peer)
		key := Key(peer)
		if counted && !l.perIP.acquire(key) {
			l.open.Add(-1)
			l.refusedPerIP.Add(1)
			l.warnEvery(&l.lastPerIPLog, "refusing connections: MAX_CONNS_PER_IP reached", "addr", key.String(), "max_conns_per_ip", l.perIP.max)
			l.refuse(c, refusePerIP)
			continue
		}
		if tc, ok := c.(*net.TCPConn); ok {
			// Embedding *net.TCPConn keeps its writev path (net.Buffers
			// only uses it on the concrete type's method set) and its
			// sendfile/splice paths.
			return &trackedTCPConn{TCPConn: tc, tracked: tracked{l: l, key: key, counted: counted}}, nil
		}
		return &trackedConn{Conn: c, tracked: tracked{l: l, key: key, counted: counted}}, nil
	}
}

// refuse answers c with resp and closes it. The answer fits in an empty
// socket buffer, so writing it does not block; the connection then lingers
// a moment reading what the client sent, so that closing it does not reset
// the connection before the client has read the answer.
func (l *Listener) refuse(c net.Conn, resp []byte) {
	select {
	case l.refusing <- struct{}{}:
	default:
		_ = c.Close()
		return
	}
	go func() {
		defer func() { <-l.refusing }()
		_ = c.SetDeadline(time.Now().Add(refusalLinger))
		if _, err := c.Write(resp); err == nil {
			if cw, ok := c.(interface{ CloseWrite() error }); ok {
				_ = cw.CloseWrite()
			}
			_, _ = io.Copy(io.Discard, io.LimitReader(c, refusalMaxRead))
		}
		_ = c.Close()
	}()
}

func (l *Listener) warnEvery(last *atomic.Int64, msg string, args ...any) {
	now := time.Now().UnixNano()
	prev := last.Load()
	if now-prev < int64(refusalLogGap) || !last.CompareAndSwap(prev, now) {
		return
	}
	l.log.Warn(msg, args...)
}

// tracked gives a connection's places back when it closes.
type tracked struct {
	l       *Listener
	key     netip.Addr
	counted bool
	done    atomic.Bool
}

func (t *tracked) release() {
	if !t.done.CompareAndSwap(false, true) {
		return
	}
	t.l.open.Add(-1)
	if t.counted {
		t.l.perIP.release(t.key)
	}
}

type trackedTCPConn struct {
	*net.TCPConn
	tracked
}

func (c *trackedTCPConn) Close() error {
	err := c.TCPConn.Close()
	c.release()
	return err
}

type trackedConn struct {
	net.Conn
	tracked
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
}
