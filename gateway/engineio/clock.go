package engineio

import "time"

// clock is the heartbeat's time source. The heartbeat reads the time and
// arms one timer per session through it, so a test can hold a timer back
// (a late timer under load) while time moves on, deterministically.
type clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) timer
}

// timer is the part of *time.Timer the heartbeat uses.
type timer interface {
	Reset(d time.Duration) bool
	Stop() bool
}

// systemClock is the runtime's clock and timers.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) AfterFunc(d time.Duration, f func()) timer { return time.AfterFunc(d, f) }
