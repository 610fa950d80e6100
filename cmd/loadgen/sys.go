package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicksPerSecond is Linux's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat (100 on every mainstream architecture; Go cannot ask
// sysconf without cgo).
const clockTicksPerSecond = 100

// raiseFileLimit lifts the soft RLIMIT_NOFILE to the hard limit, and the
// hard limit too when want is above it and the process may (root, up to
// fs.nr_open). It returns the limit now in force.
func raiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if want > lim.Max {
		higher := syscall.Rlimit{Cur: want, Max: want}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &higher) == nil {
			return want, nil
		}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, err
		}
	}
	return lim.Cur, nil
}

// ephemeralPorts is the size of the local port range, the most connections
// one source address can open to one destination.
func ephemeralPorts() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, fmt.Errorf("ip_local_port_range: %q", b)
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 0, fmt.Errorf("ip_local_port_range: %q", b)
	}
	return hi - lo + 1, nil
}

// cpuMark is a point to measure own CPU use from.
type cpuMark struct {
	at         time.Time
	user, syst time.Duration
}

func markCPU() cpuMark {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return cpuMark{at: time.Now(), user: time.Duration(ru.Utime.Nano()), syst: time.Duration(ru.Stime.Nano())}
}

func (m cpuMark) since() cpuUse {
	now := markCPU()
	return newCPUUse(now.user-m.user, now.syst-m.syst, now.at.Sub(m.at))
}

func newCPUUse(user, syst, wall time.Duration) cpuUse {
	u := cpuUse{
		UserSeconds:   user.Seconds(),
		SystemSeconds: syst.Seconds(),
		TotalSeconds:  (user + syst).Seconds(),
		WallSeconds:   wall.Seconds(),
	}
	if wall > 0 {
		u.Cores = u.TotalSeconds / u.WallSeconds
	}
	return u
}

// processCPU reads the user and system CPU time of process pid (all its
// threads) from /proc/<pid>/stat.
func processCPU(pid int) (user, syst time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'.
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[end+1:]))
	// After the name: state(3) ... utime(14) stime(15), 1-based in proc(5).
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	tick := time.Second / clockTicksPerSecond
	return time.Duration(ut) * tick, time.Duration(st) * tick, nil
}

// processRSS reads the resident set size of process pid, in bytes.
func processRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				break
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS line", pid)
}

// serverProbe samples the server process, when its pid is known.
type serverProbe struct {
	pid int
}

type serverMark struct {
	at         time.Time
	user, syst time.Duration
	ok         bool
}

func (p serverProbe) markCPU() serverMark {
	if p.pid == 0 {
		return serverMark{}
	}
	u, s, err := processCPU(p.pid)
	return serverMark{at: time.Now(), user: u, syst: s, ok: err == nil}
}

// cpuSince is the server's CPU use since m, or nil if unknown.
func (p serverProbe) cpuSince(m serverMark) *cpuUse {
	now := p.markCPU()
	if !m.ok || !now.ok {
		return nil
	}
	u := newCPUUse(now.user-m.user, now.syst-m.syst, now.at.Sub(m.at))
	return &u
}

// rss is the server's RSS, or 0 when unknown.
func (p serverProbe) rss() int64 {
	if p.pid == 0 {
		return 0
	}
	n, err := processRSS(p.pid)
	if err != nil {
		return 0
	}
	return n
}
