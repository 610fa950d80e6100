package main

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"chatgateway/cmd/loadgen/loadreport"
	"chatgateway/gateway/sioclient"
)

// runIdle holds cfg.Conns connections open and reports the server's RSS
// per connection. With cfg.Join it measures twice on the same
// connections: after they are up and held for cfg.UnjoinedHold, then after
// each has joined one of cfg.Rooms rooms and they are held for
// cfg.Duration, so the cost of joining is the difference.
func runIdle(ctx context.Context, cfg config, rep *report) error {
	probe := serverProbe{pid: cfg.ServerPID}
	var roomIDs []string
	if cfg.Join {
		for r := range cfg.Rooms {
			roomIDs = append(roomIDs, cfg.Prefix+"i"+strconv.Itoa(r))
		}
		if cfg.CreateRooms {
			if err := createRooms(ctx, cfg.URL, roomIDs); err != nil {
				return err
			}
		}
	}
	server := &serverStats{PID: cfg.ServerPID, RSSBeforeBytes: probe.rss()}
	rep.Server = server
	selfBefore, _ := processRSS(os.Getpid())

	d := &dialer{cfg: cfg}
	clients := make([]*sioclient.Client, cfg.Conns)
	// Each connection watches for its own list from the start, so a list
	// that arrives while others join is never missed.
	watches := make([]*joinWatch, cfg.Conns)
	defer func() { closeAll(clients) }()
	handshakes, joins := newHistogram(histShards), newHistogram(histShards)
	var failures errorSamples
	var established atomic.Int64
	rampStart := time.Now()
	ramp(ctx, cfg.Conns, cfg.ConnectRate, cfg.ConnectConcurrency, func(ctx context.Context, i int) {
		var onRaw func(name, payload []byte)
		var skip func(name []byte) bool
		if cfg.Join {
			w := newJoinWatch(roomIDs[i%len(roomIDs)], idleUsername(i))
			watches[i] = w
			onRaw = func(name, payload []byte) { w.observe(name, payload) }
			skip = w.skip
		}
		began := time.Now()
		c, err := d.dial(ctx, onRaw, skip)
		if err != nil {
			failures.add(err)
			return
		}
		handshakes.record(i, time.Since(began))
		clients[i] = c
		established.Add(1)
	})
	rep.Connections = &connStats{
		Attempted: cfg.Conns,
		Failed:    failures.count,
		Handshake: handshakes.summary(),
	}
	st := &idleStats{Joined: cfg.Join}
	if cfg.Join && ctx.Err() == nil {
		sleepCtx(ctx, cfg.UnjoinedHold)
		st.UnjoinedRSSBytes = probe.rss()
		st.UnjoinedRSSPerConnBytes = loadreport.PerConnection(server.RSSBeforeBytes, st.UnjoinedRSSBytes, int(established.Load()))
		ramp(ctx, cfg.Conns, cfg.ConnectRate, cfg.ConnectConcurrency, func(ctx context.Context, i int) {
			c := clients[i]
			if c == nil {
				return
			}
			began := time.Now()
			if err := join(ctx, c, watches[i], roomIDs[i%len(roomIDs)], idleUsername(i), cfg.JoinTimeout); err != nil {
				failures.add(err)
				c.Close()
				clients[i] = nil
				established.Add(-1)
				return
			}
			joins.record(i, time.Since(began))
		})
		rep.Connections.Join = ptr(joins.summary())
		rep.Connections.Failed = failures.count
	}
	rep.Connections.Established = int(established.Load())
	rep.Connections.RampSeconds = time.Since(rampStart).Seconds()
	rep.AddErrors(failures.samples)

	holdStart := time.Now()
	sleepCtx(ctx, cfg.Duration)
	st.Connections = rep.Connections.Established
	st.HoldSeconds = time.Since(holdStart).Seconds()
	server.RSSAfterBytes = probe.rss()
	server.SetPerConnection(rep.Connections.Established)
	if selfAfter, err := processRSS(os.Getpid()); err == nil && st.Connections > 0 {
		st.LoadgenRSSPerConnBytes = float64(selfAfter-selfBefore) / float64(st.Connections)
	}
	var drops []string
	rep.Connections.DroppedDuringRun, drops = dropped(clients)
	rep.AddErrors(drops)
	st.Alive = st.Connections - rep.Connections.DroppedDuringRun
	rep.Idle = st
	return ctx.Err()
}

func idleUsername(i int) string { return "idle" + strconv.Itoa(i) }
