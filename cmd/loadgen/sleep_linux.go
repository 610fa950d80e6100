//go:build linux

package main

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// preciseWaitMaxRate is the fastest sender (messages/s) that waits on a
// timerfd: one at least a millisecond apart, the runtime timers' grain.
const preciseWaitMaxRate = 1000

// scheduleTimer waits for an open-loop send's scheduled time on a timerfd,
// to the microsecond.
//
// Why not time.Timer: a waiting Go program is woken for its timers by the
// runtime's netpoller, whose wait has millisecond granularity (a timer
// 0.3 ms away fires after 1 ms). That made the sends 0.45 ms late at the
// median and 1.1 ms at p99 on the bench machine, and since latency runs
// from the scheduled time, every server's latency carried it alike. A
// timerfd is an ordinary descriptor the netpoller waits on, woken by the
// kernel's high-resolution timer.
//
// Only for slow senders: a timerfd wait is three system calls and a
// netpoller wake-up per message, which at 10,000 messages/s took the
// generator from 0.65 to 0.9 of its core and made it later, not earlier
// (p99 send lag 1.3 to 11 ms). A generator that busy is woken at every
// scheduling round anyway, so the runtime's timers are precise enough.
type scheduleTimer struct {
	file *os.File
	fd   int
	stop func() bool
}

// newScheduleWaiter is a timerfd for a sender that sends at most
// preciseWaitMaxRate messages/s, else (or if no timerfd can be made) a
// coarse timer: late sends then show in send_lag.
func newScheduleWaiter(ctx context.Context, rate float64) scheduleWaiter {
	if rate > preciseWaitMaxRate {
		return newCoarseTimer(ctx)
	}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return newCoarseTimer(ctx)
	}
	t := &scheduleTimer{file: os.NewFile(uintptr(fd), "loadgen-timerfd"), fd: fd}
	// A cancelled run ends a wait at once.
	t.stop = context.AfterFunc(ctx, func() { _ = t.file.SetReadDeadline(time.Now()) })
	return t
}

func (t *scheduleTimer) waitUntil(due time.Time) error {
	wait := time.Until(due)
	if wait <= 0 {
		return nil
	}
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(wait.Nanoseconds())}
	if err := unix.TimerfdSettime(t.fd, 0, &spec, nil); err != nil {
		return os.NewSyscallError("timerfd_settime", err)
	}
	var expirations [8]byte
	_, err := t.file.Read(expirations[:])
	return err
}

func (t *scheduleTimer) Close() error {
	t.stop()
	return t.file.Close()
}
