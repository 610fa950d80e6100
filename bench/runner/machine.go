package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
const clockTicks = 100

// fdHeadroom is the number of descriptors kept free beyond the
// connections: listeners, logs, the runtime's own. The load generator
// refuses to start with fewer than 64 to spare.
const fdHeadroom = 200

// machineInfo describes where the benchmark ran.
type machineInfo struct {
	NumCPU       int      `json:"nproc"`
	CPUModel     string   `json:"cpu_model"`
	Kernel       string   `json:"kernel"`
	MemTotal     string   `json:"mem_total"`
	GoVersion    string   `json:"go_version"`
	NodeVersion  string   `json:"node_version"`
	FileLimit    uint64   `json:"rlimit_nofile"`
	PortRange    string   `json:"ip_local_port_range"`
	Commit       string   `json:"commit"`
	StartedAt    string   `json:"started_at"`
	Args         []string `json:"args"`
	LoadAvgStart string   `json:"loadavg_at_start"`
}

func collectMachineInfo(ctx context.Context, repo string, fileLimit uint64) machineInfo {
	m := machineInfo{
		NumCPU:       runtime.NumCPU(),
		CPUModel:     cpuModel(),
		Kernel:       readTrim("/proc/sys/kernel/osrelease"),
		MemTotal:     memTotal(),
		GoVersion:    commandOutput(ctx, repo, "go", "version"),
		NodeVersion:  commandOutput(ctx, repo, "node", "--version"),
		FileLimit:    fileLimit,
		PortRange:    strings.Join(strings.Fields(readTrim("/proc/sys/net/ipv4/ip_local_port_range")), "-"),
		StartedAt:    time.Now().UTC().Format(time.RFC3339),
		Args:         os.Args,
		LoadAvgStart: readTrim("/proc/loadavg"),
	}
	// Read-only git queries: which code was measured.
	if head := commandOutput(ctx, repo, "git", "rev-parse", "--short", "HEAD"); head != "" {
		m.Commit = head
		if dirty := commandOutput(ctx, repo, "git", "status", "--porcelain", "--untracked-files=no"); dirty != "" {
			m.Commit += fmt.Sprintf(" + uncommitted changes in %d files", len(strings.Split(dirty, "\n")))
		}
	}
	return m
}

func (m machineInfo) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "- started: %s\n", m.StartedAt)
	fmt.Fprintf(&b, "- CPU: %d x %s; kernel %s; memory %s\n", m.NumCPU, m.CPUModel, m.Kernel, m.MemTotal)
	fmt.Fprintf(&b, "- %s; node %s\n", m.GoVersion, m.NodeVersion)
	fmt.Fprintf(&b, "- RLIMIT_NOFILE %d; ephemeral ports %s; load average at start %s\n", m.FileLimit, m.PortRange, m.LoadAvgStart)
	fmt.Fprintf(&b, "- code: %s\n", m.Commit)
	fmt.Fprintf(&b, "- command: %s\n", strings.Join(m.Args, " "))
	return b.String()
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if kb, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}

func readTrim(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(string(b))
}

func commandOutput(ctx context.Context, dir, name string, args ...string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// raiseFileLimit lifts RLIMIT_NOFILE for the runner and so for every child
// it starts: the soft limit to want, the hard one too when allowed (root
// with CAP_SYS_RESOURCE). It returns the soft limit now in force.
func raiseFileLimit(want uint64) (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	if want > lim.Max {
		raised := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			return want, nil
		}
	}
	lim.Cur = min(max(lim.Cur, want), lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	return lim.Cur, nil
}

// maxConnections is the most connections one process may hold under the
// file limit.
func maxConnections(fileLimit uint64) int {
	if fileLimit <= fdHeadroom {
		return 0
	}
	return int(fileLimit - fdHeadroom)
}

// otherSnapshot is the CPU time of every user process at one moment, to
// notice processes outside the benchmark competing for the two cores.
type otherSnapshot struct {
	at    time.Time
	procs map[int]procTime
}

type procTime struct {
	comm  string
	start uint64 // start time in ticks, against pid reuse
	ticks uint64 // utime + stime
	ppid  int
}

// otherLoad is the CPU used by processes other than the server, the load
// generator and the runner while a run lasted.
type otherLoad struct {
	Cores float64 `json:"cores"`
	// Top names the biggest consumers.
	Top string `json:"top,omitempty"`
}

func sampleOtherLoad() otherSnapshot {
	s := otherSnapshot{at: time.Now(), procs: map[int]procTime{}}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return s
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		if pt, ok := parseProcStat(b); ok {
			s.procs[pid] = pt
		}
	}
	return s
}

// merge folds a later snapshot into s, which then holds, per process, the
// latest sample seen: a process that ended between two samples keeps the
// CPU time it had at the last one.
func (s *otherSnapshot) merge(later otherSnapshot) {
	if s.procs == nil {
		s.procs = map[int]procTime{}
	}
	for pid, pt := range later.procs {
		s.procs[pid] = pt
	}
	s.at = later.at
}

// parseProcStat reads comm, ppid, utime, stime and starttime from the text
// of /proc/PID/stat.
func parseProcStat(b []byte) (procTime, bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procTime{}, false
	}
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 20 {
		return procTime{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseUint(f[11], 10, 64)
	st, err3 := strconv.ParseUint(f[12], 10, 64)
	start, err4 := strconv.ParseUint(f[19], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return procTime{}, false
	}
	return procTime{comm: string(b[open+1 : end]), start: start, ticks: ut + st, ppid: ppid}, true
}

// otherLoadBetween is the CPU used between two snapshots by user processes
// not in exclude. Kernel threads (children of kthreadd, pid 2) are left
// out: they include the loopback network work the benchmark itself causes.
func otherLoadBetween(before, after otherSnapshot, exclude map[int]bool) otherLoad {
	wall := after.at.Sub(before.at).Seconds()
	if wall <= 0 {
		return otherLoad{}
	}
	type use struct {
		what  string
		ticks uint64
	}
	var total uint64
	var uses []use
	for pid, a := range after.procs {
		if exclude[pid] || pid == 2 || a.ppid == 2 {
			continue
		}
		var base uint64
		if b, ok := before.procs[pid]; ok && b.start == a.start {
			base = b.ticks
		}
		if a.ticks > base {
			d := a.ticks - base
			total += d
			uses = append(uses, use{fmt.Sprintf("%s[%d]", a.comm, pid), d})
		}
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].ticks > uses[j].ticks })
	var top []string
	for _, u := range uses[:min(3, len(uses))] {
		top = append(top, fmt.Sprintf("%s %.2f", u.what, float64(u.ticks)/clockTicks/wall))
	}
	return otherLoad{Cores: float64(total) / clockTicks / wall, Top: strings.Join(top, ", ")}
}
