//go:build !linux

package main

import "context"

// newScheduleWaiter is a coarse timer where there is no timerfd.
func newScheduleWaiter(ctx context.Context, _ float64) scheduleWaiter { return newCoarseTimer(ctx) }
