package main

import (
	"context"
	"time"
)

// scheduleWaiter waits for the scheduled times of one open-loop sender.
type scheduleWaiter interface {
	// waitUntil returns at due, at once if due has passed, or with an
	// error once the run's context is done.
	waitUntil(due time.Time) error
	Close() error
}

// coarseTimer waits with a time.Timer: to the millisecond, as the Go
// runtime wakes a waiting program (see sleep_linux.go).
type coarseTimer struct {
	ctx   context.Context
	timer *time.Timer
}

func newCoarseTimer(ctx context.Context) *coarseTimer {
	return &coarseTimer{ctx: ctx, timer: time.NewTimer(time.Hour)}
}

func (t *coarseTimer) waitUntil(due time.Time) error {
	wait := time.Until(due)
	if wait <= 0 {
		return nil
	}
	t.timer.Reset(wait)
	select {
	case <-t.timer.C:
		return nil
	case <-t.ctx.Done():
		return t.ctx.Err()
	}
}

func (t *coarseTimer) Close() error {
	t.timer.Stop()
	return nil
}
