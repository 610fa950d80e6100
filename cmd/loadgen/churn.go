package main

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runChurn connects, joins and disconnects at cfg.Rate cycles per second
// for cfg.Duration.
func runChurn(ctx context.Context, cfg config, rep *report) error {
	roomIDs := make([]string, cfg.Rooms)
	for r := range roomIDs {
		roomIDs[r] = cfg.Prefix + "c" + strconv.Itoa(r)
	}
	if cfg.CreateRooms {
		if err := createRooms(ctx, cfg.URL, roomIDs); err != nil {
			return err
		}
	}
	probe := serverProbe{pid: cfg.ServerPID}
	server := &serverStats{PID: cfg.ServerPID, RSSBeforeBytes: probe.rss()}
	rep.Server = server
	serverCPU := probe.markCPU()
	loadCPU := markCPU()

	d := &dialer{cfg: cfg}
	handshakes, joins := newHistogram(histShards), newHistogram(histShards)
	var failures errorSamples
	var st churnStats
	var handshakesOK, handshakeErrs, joinsOK, joinErrs, late atomic.Int64
	cycle := func(ctx context.Context, i int) {
		roomID, username := roomIDs[i%len(roomIDs)], "churn"+strconv.Itoa(i)
		watch := newJoinWatch(roomID, username)
		exceptions := make(chan string, 1)
		began := time.Now()
		c, err := d.dial(ctx, func(name, payload []byte) {
			if watch.observe(name, payload) {
				return
			}
			if string(name) == "exception" {
				select {
				case exceptions <- string(payload):
				default:
				}
			}
		}, watch.skip)
		if err != nil {
			handshakeErrs.Add(1)
			failures.add(err)
			return
		}
		handshakesOK.Add(1)
		handshakes.record(i, time.Since(began))
		defer c.Close()
		began = time.Now()
		joinCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		joined := make(chan error, 1)
		go func() { joined <- join(joinCtx, c, watch, roomID, username, cfg.JoinTimeout) }()
		select {
		case err = <-joined:
		case ex := <-exceptions:
			err = fmt.Errorf("join %s: exception %s", roomID, ex)
			cancel()
			<-joined
		}
		if err != nil {
			joinErrs.Add(1)
			failures.add(err)
			return
		}
		joinsOK.Add(1)
		joins.record(i, time.Since(began))
	}

	// Open loop: cycle i starts at start + i/rate, unless -max-inflight
	// cycles are still running, in which case it starts late. The count,
	// rate x duration, bounds the loop even when it falls behind.
	start := time.Now()
	sem := make(chan struct{}, cfg.MaxInflight)
	var wg sync.WaitGroup
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	cycles := int(math.Ceil(cfg.Rate*cfg.Duration.Seconds() - 1e-9))
	for i := range cycles {
		due := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			late.Add(1)
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		st.Cycles++
		wg.Go(func() {
			defer func() { <-sem }()
			// A cycle started before the end finishes, within its own timeouts.
			cycle(ctx, i)
		})
	}
	wg.Wait()
	run := time.Since(start)

	rep.MeasureCPU = ptr(loadCPU.since())
	server.CPU = probe.cpuSince(serverCPU)
	server.RSSAfterBytes = probe.rss()
	st.TargetRate = cfg.Rate
	st.Handshakes, st.HandshakeErrors = handshakesOK.Load(), handshakeErrs.Load()
	st.Joins, st.JoinErrors = joinsOK.Load(), joinErrs.Load()
	st.LateStarts = late.Load()
	st.RunSeconds = run.Seconds()
	if st.Cycles > 0 {
		st.ErrorRate = float64(st.Cycles-st.Joins) / float64(st.Cycles)
	}
	if run > 0 {
		st.HandshakesPerSec = float64(st.Handshakes) / run.Seconds()
		st.CyclesPerSec = float64(st.Joins) / run.Seconds()
	}
	st.Handshake, st.Join = handshakes.summary(), joins.summary()
	rep.Churn = &st
	rep.Connections = &connStats{
		Attempted:   int(st.Cycles),
		Established: int(st.Handshakes),
		Failed:      int(st.HandshakeErrors),
		Handshake:   st.Handshake,
		Join:        &st.Join,
		RampSeconds: run.Seconds(),
	}
	rep.AddErrors(failures.samples)
	return ctx.Err()
}
