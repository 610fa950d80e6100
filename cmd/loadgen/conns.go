package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatgateway/cmd/loadgen/loadreport"
	"chatgateway/gateway/sioclient"
)

const (
	// restTimeout bounds one REST call.
	restTimeout = 10 * time.Second
	// restConcurrency is how many rooms are created at once.
	restConcurrency = 16
	// closeConcurrency is how many clients are closed at once at the end.
	closeConcurrency = 256
)

// dialer opens Socket.IO connections spread over the source addresses.
type dialer struct {
	cfg  config
	next atomic.Uint64
}

// dial connects to the server; onRaw sees the events, skip (optional) may
// discard large ones unread (sioclient.Options.SkipEvent).
func (d *dialer) dial(ctx context.Context, onRaw func(name, payload []byte), skip func(name []byte) bool) (*sioclient.Client, error) {
	return d.dialURL(ctx, d.cfg.URL, onRaw, skip)
}

// dialURL is dial to one node of several.
func (d *dialer) dialURL(ctx context.Context, url string, onRaw func(name, payload []byte), skip func(name []byte) bool) (*sioclient.Client, error) {
	ip := d.cfg.SourceIPs[int(d.next.Add(1)-1)%len(d.cfg.SourceIPs)]
	opts := sioclient.Options{
		EIO:              d.cfg.EIO,
		HandshakeTimeout: d.cfg.HandshakeTimeout,
		OnRawEvent:       onRaw,
		SkipEvent:        skip,
	}
	if len(d.cfg.SourceIPs) > 1 || ip != "127.0.0.1" {
		opts.LocalAddr = ip
	}
	return sioclient.Dial(ctx, url, opts)
}

// Clients of the traffic scenarios (-client).
const (
	clientRaw       = "raw"
	clientSioclient = "sioclient"
)

// wireConn is what the scenarios use of a connection; *sioclient.Client
// and *rawClient satisfy it.
type wireConn interface {
	WritePacket(packet []byte) error
	Close() error
	Done() <-chan struct{}
	Err() error
}

// dialTraffic connects a member of a traffic scenario with the client
// -client names.
// onEvent gets, beside each event, when the kernel received it (unix
// nanos; 0 where unknown: sioclient does not say).
func (d *dialer) dialTraffic(ctx context.Context, url string, onEvent func(name, payload []byte, arrivedAt int64), skip func(name []byte) bool) (wireConn, error) {
	if d.cfg.Client != clientRaw {
		return d.dialURL(ctx, url, func(name, payload []byte) { onEvent(name, payload, 0) }, skip)
	}
	ip := d.cfg.SourceIPs[int(d.next.Add(1)-1)%len(d.cfg.SourceIPs)]
	if len(d.cfg.SourceIPs) == 1 && ip == "127.0.0.1" {
		ip = ""
	}
	return dialRaw(ctx, url, d.cfg.EIO, ip, d.cfg.HandshakeTimeout, onEvent)
}

// ramp calls fn(ctx, i) for i in [0, n), starting at most rate calls per
// second (0: no limit) with at most concurrency in progress, and waits for
// them all. It stops starting new calls once ctx ends.
func ramp(ctx context.Context, n int, rate float64, concurrency int, fn func(ctx context.Context, i int)) {
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := range n {
		if rate > 0 {
			due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
				}
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			fn(ctx, i)
		})
	}
	wg.Wait()
}

// errorSamples keeps the first few distinct error texts and counts all.
type errorSamples struct {
	mu      sync.Mutex
	count   int
	samples []string
}

func (e *errorSamples) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count++
	text := err.Error()
	if len(e.samples) < loadreport.MaxErrorSamples && !contains(e.samples, text) {
		e.samples = append(e.samples, text)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// createRooms creates ids over REST, taking 409 Conflict (exists) as done.
func createRooms(ctx context.Context, baseURL string, ids []string) error {
	client := &http.Client{Timeout: restTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: restConcurrency}}
	defer client.CloseIdleConnections()
	var failed errorSamples
	ramp(ctx, len(ids), 0, restConcurrency, func(ctx context.Context, i int) {
		if err := createRoom(ctx, client, baseURL, ids[i]); err != nil {
			failed.add(err)
		}
	})
	if failed.count > 0 {
		return fmt.Errorf("%d of %d rooms not created: %s", failed.count, len(ids), strings.Join(failed.samples, "; "))
	}
	return ctx.Err()
}

func createRoom(ctx context.Context, client *http.Client, baseURL, id string) error {
	body := fmt.Sprintf(`{"roomId":%q,"creatorUsername":"loadgen"}`, id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(baseURL, "/")+"/api/v1/rooms", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("create room %s: %w", id, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("create room %s: HTTP %d %s", id, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}

// closeAll closes every non-nil client, a few at a time.
func closeAll[C interface {
	comparable
	wireConn
}](clients []C) {
	var none C
	ramp(context.Background(), len(clients), 0, closeConcurrency, func(_ context.Context, i int) {
		if clients[i] != none {
			clients[i].Close()
		}
	})
}

// dropped counts the clients whose connection already ended, with samples
// of why.
func dropped[C interface {
	comparable
	wireConn
}](clients []C) (int, []string) {
	var why errorSamples
	var none C
	for _, c := range clients {
		if c == none {
			continue
		}
		select {
		case <-c.Done():
			why.add(fmt.Errorf("connection dropped: %w", c.Err()))
		default:
		}
	}
	return why.count, why.samples
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
