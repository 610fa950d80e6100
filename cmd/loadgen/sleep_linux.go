//go:build linux

package main

import (
	"context"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

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
type scheduleTimer struct {
	file *os.File
	fd   int
	stop func() bool
}

// newScheduleWaiter is a timerfd, or a coarse timer if none can be made
// (out of descriptors): late sends then show in send_lag.
func newScheduleWaiter(ctx context.Context) scheduleWaiter {
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
