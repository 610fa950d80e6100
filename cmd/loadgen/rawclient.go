package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"syscall"
	"time"

	"chatgateway/gateway/sioclient"
)

// rawClient is the load generator's own Socket.IO client over WebSocket,
// used for the fanout and bigroom connections (-client raw, the default).
//
// Why not sioclient there: a delivery costs the generator about as much as
// it costs the server, so a generator that spends more per delivery than
// the server measures itself. sioclient reads each connection in a
// goroutine of its own through gorilla/websocket: every wake-up is a
// goroutine switch, a read that gets the data and a second read that finds
// none (EAGAIN) before the goroutine parks, then two layers of framing. At
// ~5 µs per read syscall on the bench machine, that made the generator run
// out of its core before the server did. Here the connections wait in an
// epoll set of the generator's own (rawpoll_linux.go; a goroutine per
// connection elsewhere), a wake-up is one read of everything the socket
// holds (a short read means it is drained), and frames are split in place.
//
// It speaks what the traffic scenarios need: the WebSocket opening
// handshake, unmasked server frames (fragmented ones reassembled), the
// Engine.IO v3/v4 heartbeat, the root namespace's CONNECT, and EVENT
// packets, which go to onRaw as sioclient's Options.OnRawEvent would see
// them (recovery offsets, if any, are left in the payload).
type rawClient struct {
	conn  net.Conn
	rc    syscall.RawConn
	eio   int
	onRaw func(name, payload []byte, arrivedAt int64)

	// Reader state: the handshake's goroutine, then whoever reads
	// (readMu).
	readMu     sync.Mutex
	stopped    bool     // under readMu: Close ran, onRaw is not called again
	partial    []byte   // an incomplete frame carried to the next read
	message    []byte   // a fragmented message being reassembled
	fragmented bool     // message holds the start of one
	fragText   bool     // ... of a text message (binary ones are dropped)
	handshake  [][]byte // while connecting: the packets read, copied
	// arrivedAt is when the kernel received the last segment of the read
	// being handled (unix nanos), 0 where that is not known: the arrival
	// of every frame the read holds, or a little after.
	arrivedAt int64

	writeMu      sync.Mutex
	writeBuf     []byte
	writeErr     error
	pingTimer    *time.Timer // EIO3: the client pings
	pingInterval time.Duration

	// The end: err is set once, before done is closed.
	endOnce sync.Once
	err     error
	done    chan struct{}

	poller *rawPoller // nil when a goroutine reads
	pollID uint64
}

const (
	// rawMaxMessage bounds one message from the server; a larger one
	// ends the connection.
	rawMaxMessage = 64 << 20
	// rawWriteTimeout bounds one write.
	rawWriteTimeout = 10 * time.Second
	// rawKeptWriteBuffer is the largest write buffer kept between writes.
	rawKeptWriteBuffer = 4 << 10
	// rawKeptPartialBuffer is the largest buffer for an incomplete frame
	// kept once it is empty again (a big participant list grows it).
	rawKeptPartialBuffer = 4 << 10
	// rawGoroutineReadBuffer is the read buffer where a goroutine reads
	// the connection (no epoll).
	rawGoroutineReadBuffer = 16 << 10
)

var (
	errRawServerClosed = errors.New("server closed the connection (Engine.IO or WebSocket close)")
	errRawDisconnected = errors.New("server disconnected the socket (Socket.IO DISCONNECT)")
	errRawMessageSize  = fmt.Errorf("message from the server larger than %d bytes", rawMaxMessage)
)

const (
	wsOpContinuation = 0x0
	wsOpText         = 0x1
	wsOpBinary       = 0x2
	wsOpClose        = 0x8
	wsOpPing         = 0x9
	wsOpPong         = 0xA
)

// dialRaw connects to baseURL's Socket.IO endpoint over WebSocket, from
// localIP when set, and completes the Engine.IO handshake and the root
// namespace's CONNECT within timeout. onRaw then sees every EVENT packet.
func dialRaw(ctx context.Context, baseURL string, eio int, localIP string, timeout time.Duration, onRaw func(name, payload []byte, arrivedAt int64)) (*rawClient, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("raw client: bad URL %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "ws" {
		return nil, fmt.Errorf("raw client: URL %q: only http and ws (use -client sioclient for TLS)", baseURL)
	}
	path := u.Path
	if path == "" || path == "/" {
		path = "/socket.io/"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := net.Dialer{Control: sioclient.BindAddressNoPort}
	if localIP != "" {
		ip := net.ParseIP(localIP)
		if ip == nil {
			return nil, fmt.Errorf("raw client: source address %q is not an IP address", localIP)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, fmt.Errorf("raw client: %w", err)
	}
	tcp, ok := conn.(*net.TCPConn)
	if !ok {
		conn.Close()
		return nil, errors.New("raw client: not a TCP connection")
	}
	rc, err := tcp.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw client: %w", err)
	}
	if err := stampArrivals(rc); err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw client: receive timestamps: %w", err)
	}
	c := &rawClient{conn: conn, rc: rc, eio: eio, onRaw: onRaw, done: make(chan struct{})}
	if err := c.connect(ctx, u.Host, path); err != nil {
		conn.Close()
		return nil, fmt.Errorf("raw client: handshake with %s: %w", baseURL, err)
	}
	if eio == 3 {
		c.writeMu.Lock()
		c.pingTimer = time.AfterFunc(c.pingInterval, c.ping)
		c.writeMu.Unlock()
	}
	c.startReading()
	return c, nil
}

// connect runs the WebSocket opening handshake, then the Engine.IO and
// Socket.IO ones, reading synchronously until the root namespace is
// connected. Anything read after the CONNECT is kept for the reader.
func (c *rawClient) connect(ctx context.Context, host, path string) error {
	deadline, _ := ctx.Deadline()
	if err := c.conn.SetDeadline(deadline); err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Now()) })
	defer stop()

	var nonce [16]byte
	if _, err := crand.Read(nonce[:]); err != nil {
		return err
	}
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + "?EIO=" + strconv.Itoa(c.eio) + "&transport=websocket HTTP/1.1\r\n" +
		"Host: " + host + "\r\n" +
		"Upgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c.conn, req); err != nil {
		return err
	}
	buf := make([]byte, 0, 4096)
	var head []byte
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= 64<<10 {
				return errors.New("response head too large")
			}
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		n, err := c.conn.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if i := bytes.Index(buf, []byte("\r\n\r\n")); i >= 0 {
			head, buf = buf[:i+4], buf[i+4:]
			break
		}
		if err != nil {
			return err
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("HTTP %s, want 101", resp.Status)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return errors.New("bad Sec-WebSocket-Accept")
	}

	c.handshake = [][]byte{}
	if err := c.feed(buf); err != nil {
		return err
	}
	next := func() ([]byte, error) {
		read := make([]byte, 4096)
		for len(c.handshake) == 0 {
			n, err := c.conn.Read(read)
			if n > 0 {
				if ferr := c.feed(read[:n]); ferr != nil {
					return nil, ferr
				}
			}
			if err != nil && len(c.handshake) == 0 {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, err
			}
		}
		p := c.handshake[0]
		c.handshake = c.handshake[1:]
		return p, nil
	}
	p, err := next()
	if err != nil {
		return err
	}
	var open struct {
		SID          string `json:"sid"`
		PingInterval int64  `json:"pingInterval"`
	}
	if p[0] != '0' || json.Unmarshal(p[1:], &open) != nil || open.SID == "" || open.PingInterval <= 0 {
		return fmt.Errorf("bad open packet %.200q", p)
	}
	c.pingInterval = time.Duration(open.PingInterval) * time.Millisecond
	if c.eio == 4 {
		if err := c.WritePacket([]byte("40")); err != nil {
			return err
		}
	}
	for {
		p, err := next()
		if err != nil {
			return err
		}
		switch {
		case bytes.HasPrefix(p, []byte("40")):
			// Connected. What came after it is the reader's.
			early := c.handshake
			c.handshake = nil
			if err := c.conn.SetDeadline(time.Time{}); err != nil {
				return err
			}
			for _, q := range early {
				if err := c.packet(q); err != nil {
					return err
				}
			}
			return nil
		case bytes.HasPrefix(p, []byte("44")):
			return fmt.Errorf("CONNECT_ERROR %.200s", p[2:])
		case p[0] == '1':
			return errRawServerClosed
		case string(p) == "2" && c.eio == 4:
			if err := c.WritePacket([]byte("3")); err != nil {
				return err
			}
		}
	}
}

// feed splits data into frames, keeping an incomplete last one for the
// next call. data is only valid during the call.
func (c *rawClient) feed(data []byte) error {
	if len(c.partial) > 0 {
		c.partial = append(c.partial, data...)
		data = c.partial
	}
	for {
		if len(data) < 2 {
			break
		}
		b0, b1 := data[0], data[1]
		size, header := int64(b1&0x7f), 2
		switch size {
		case 126:
			if len(data) < 4 {
				break
			}
			size, header = int64(binary.BigEndian.Uint16(data[2:])), 4
		case 127:
			if len(data) < 10 {
				break
			}
			size, header = int64(binary.BigEndian.Uint64(data[2:])), 10
		}
		if header == 2 && b1&0x7f >= 126 {
			break // the extended length is not all here
		}
		if size > rawMaxMessage || size < 0 {
			return errRawMessageSize
		}
		masked := b1&0x80 != 0
		if masked {
			header += 4
		}
		if int64(len(data)) < int64(header)+size {
			break
		}
		payload := data[header : int64(header)+size]
		if masked {
			key := data[header-4 : header]
			for i := range payload {
				payload[i] ^= key[i&3]
			}
		}
		if err := c.frame(b0&0x80 != 0, b0&0x0f, payload); err != nil {
			return err
		}
		data = data[int64(header)+size:]
	}
	// Keep the rest in memory of our own: data may be the poller's buffer.
	if len(c.partial) > 0 {
		c.partial = c.partial[:copy(c.partial, data)]
		if len(c.partial) == 0 && cap(c.partial) > rawKeptPartialBuffer {
			c.partial = nil
		}
	} else if len(data) > 0 {
		c.partial = append(c.partial, data...)
	}
	return nil
}

// frame handles one WebSocket frame.
func (c *rawClient) frame(fin bool, op byte, payload []byte) error {
	switch op {
	case wsOpText, wsOpBinary:
		if c.fragmented {
			return errors.New("a new message inside a fragmented one")
		}
		if !fin {
			c.fragmented, c.fragText = true, op == wsOpText
			c.message = append(c.message[:0], payload...)
			return nil
		}
		if op == wsOpText {
			return c.packet(payload)
		}
	case wsOpContinuation:
		if !c.fragmented {
			return errors.New("continuation frame without a message")
		}
		if len(c.message)+len(payload) > rawMaxMessage {
			return errRawMessageSize
		}
		c.message = append(c.message, payload...)
		if fin {
			c.fragmented = false
			var err error
			if c.fragText {
				err = c.packet(c.message)
			}
			c.message = c.message[:0]
			return err
		}
	case wsOpClose:
		return errRawServerClosed
	case wsOpPing:
		return c.writeFrame(wsOpPong, payload)
	}
	return nil
}

// packet handles one Engine.IO packet.
func (c *rawClient) packet(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if c.handshake != nil {
		c.handshake = append(c.handshake, bytes.Clone(p))
		return nil
	}
	switch p[0] {
	case '4':
		return c.socketIO(p[1:])
	case '2':
		if c.eio == 4 {
			return c.WritePacket([]byte("3"))
		}
	case '1':
		return errRawServerClosed
	}
	return nil
}

// socketIO handles one Socket.IO packet of the root namespace.
func (c *rawClient) socketIO(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	typ, p := p[0], p[1:]
	if len(p) > 0 && p[0] == '/' {
		if !bytes.HasPrefix(p, []byte("/,")) {
			return nil // another namespace
		}
		p = p[2:]
	}
	for len(p) > 0 && p[0] >= '0' && p[0] <= '9' {
		p = p[1:] // an ack id: not answered
	}
	switch typ {
	case '2':
		if name, payload, ok := sioclient.SplitEvent(p); ok {
			c.onRaw(name, payload, c.arrivedAt)
		}
	case '1':
		return errRawDisconnected
	case '4':
		return fmt.Errorf("CONNECT_ERROR %.200s", p)
	}
	return nil
}

// readLoop reads the connection in a goroutine of its own, where there is
// no poller.
func (c *rawClient) readLoop() {
	buf := make([]byte, rawGoroutineReadBuffer)
	for {
		n, err := c.conn.Read(buf)
		c.readMu.Lock()
		if c.stopped {
			c.readMu.Unlock()
			return
		}
		if n > 0 {
			if ferr := c.feed(buf[:n]); ferr != nil {
				err = ferr
			}
		}
		c.readMu.Unlock()
		if err != nil {
			c.end(err)
			return
		}
	}
}

// WritePacket sends one Engine.IO packet as a text frame.
func (c *rawClient) WritePacket(p []byte) error { return c.writeFrame(wsOpText, p) }

// writeFrame writes one masked frame, as a client must.
func (c *rawClient) writeFrame(op byte, p []byte) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if c.writeErr != nil {
		return c.writeErr
	}
	b := append(c.writeBuf[:0], 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	key := rand.Uint32()
	b = binary.BigEndian.AppendUint32(b, key)
	start := len(b)
	b = append(b, p...)
	var mask [4]byte
	binary.BigEndian.PutUint32(mask[:], key)
	for i := range b[start:] {
		b[start+i] ^= mask[i&3]
	}
	err := c.conn.SetWriteDeadline(time.Now().Add(rawWriteTimeout))
	if err == nil {
		_, err = c.conn.Write(b)
	}
	if cap(b) <= rawKeptWriteBuffer {
		c.writeBuf = b
	}
	if err != nil {
		c.writeErr = err
		go c.end(fmt.Errorf("write: %w", err))
	}
	return err
}

// ping is the EIO3 heartbeat: the client pings every pingInterval.
func (c *rawClient) ping() {
	if c.WritePacket([]byte("2")) != nil {
		return
	}
	c.writeMu.Lock()
	if c.writeErr == nil {
		c.pingTimer.Reset(c.pingInterval)
	}
	c.writeMu.Unlock()
}

// end records why the connection ended, closes it and stops reading it.
// It may run on the reader, with readMu held.
func (c *rawClient) end(err error) {
	c.endOnce.Do(func() {
		c.err = err
		if c.poller != nil {
			c.poller.remove(c)
		}
		c.conn.Close()
		close(c.done)
	})
}

// Close disconnects politely (a Socket.IO DISCONNECT), closes the
// connection and returns once the reader will not call onRaw again. It
// must not be called from onRaw.
func (c *rawClient) Close() error {
	c.writeMu.Lock()
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	if c.writeErr == nil {
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.conn.Write(closeFrames)
		c.writeErr = sioclient.ErrClosed
	}
	c.writeMu.Unlock()
	c.end(sioclient.ErrClosed)
	c.readMu.Lock()
	c.stopped = true
	c.readMu.Unlock()
	return nil
}

// closeFrames is a masked "41" (Socket.IO DISCONNECT) and a masked
// WebSocket close, both with a zero mask key.
var closeFrames = []byte{0x81, 0x82, 0, 0, 0, 0, '4', '1', 0x88, 0x80, 0, 0, 0, 0}

// Done is closed when the connection has ended.
func (c *rawClient) Done() <-chan struct{} { return c.done }

// Err is why the connection ended, once Done is closed.
func (c *rawClient) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}
