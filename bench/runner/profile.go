package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// captureProfile fetches a CPU profile of seconds from a chatserver's
// PPROF_ADDR listener into dst.
func captureProfile(ctx context.Context, addr string, seconds int, dst string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(seconds)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("pprof %s: HTTP %d %s", url, resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// profileGroup is a share of the CPU profile by kind of code.
type profileGroup struct {
	Name    string  `json:"name"`
	Percent float64 `json:"percent"`
}

// profileSummary is the top of a CPU profile for the results.
type profileSummary struct {
	Path       string         `json:"path"`
	TopPath    string         `json:"top_path"`
	SampledCPU string         `json:"sampled"`
	Groups     []profileGroup `json:"groups"`
	// Top is the head of `go tool pprof -top`; OursCum the functions of
	// our code with the most time spent in them and their callees.
	Top       []string `json:"top"`
	OursCum   []string `json:"ours_cum"`
	Landmarks []string `json:"landmarks"`
}

// landmarks are functions whose cumulative time answers "where does the
// time go" at a glance.
var landmarks = []struct{ fn, what string }{
	{"internal/poll.(*FD).Writev", "socket writes (writev)"},
	{"internal/poll.(*FD).Write", "socket writes (write)"},
	{"internal/poll.(*FD).Read", "socket reads"},
	{"runtime.netpoll", "epoll"},
	{"chatgateway/gateway.(*Gateway).onExchanges", "handling a posted message (validate, store, fan out)"},
	{"encoding/json.Unmarshal", "JSON decoding"},
	{"encoding/json.Marshal", "JSON encoding"},
	{"runtime.mallocgc", "allocation"},
	{"runtime.gcBgMarkWorker", "background GC"},
}

// profileLine is one function of `go tool pprof -top`.
type profileLine struct {
	text    string
	fn      string
	flatPct float64
	cumPct  float64
}

// Groups of the flat profile, matched in this order against the function
// name.
var profileGroups = []struct {
	name  string
	match func(fn string) bool
}{
	{"syscalls (network reads/writes, epoll)", func(fn string) bool {
		return strings.Contains(fn, "syscall.") || strings.Contains(fn, "/syscall") || strings.HasPrefix(fn, "runtime.netpoll")
	}},
	{"our code (chatgateway/...)", func(fn string) bool { return strings.HasPrefix(fn, "chatgateway/") }},
	{"Go runtime (GC, scheduler, allocation, memmove)", func(fn string) bool {
		return strings.HasPrefix(fn, "runtime.") || strings.HasPrefix(fn, "internal/runtime") || strings.HasPrefix(fn, "gcWriteBarrier")
	}},
	{"standard library and dependencies (encoding/json, net, gorilla, ...)", func(string) bool { return true }},
}

// summarizeProfile runs `go tool pprof -top` on the profile and groups
// the flat time.
func summarizeProfile(ctx context.Context, binary, profile, topPath string) (profileSummary, error) {
	sum := profileSummary{Path: profile, TopPath: topPath}
	cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=1000000", "-nodefraction=0", binary, profile)
	out, err := cmd.Output()
	if err != nil {
		return sum, fmt.Errorf("go tool pprof: %w", err)
	}
	if err := os.WriteFile(topPath, out, 0o644); err != nil {
		return sum, err
	}
	sum.summarizeTop(string(out))
	return sum, nil
}

// summarizeTop fills the summary from the text of `go tool pprof -top`.
func (sum *profileSummary) summarizeTop(out string) {
	lines, sampled := parseProfileTop(out)
	sum.SampledCPU = sampled
	shares := make([]float64, len(profileGroups))
	var ours []profileLine
	for _, l := range lines {
		for i, g := range profileGroups {
			if g.match(l.fn) {
				shares[i] += l.flatPct
				break
			}
		}
		if len(sum.Top) < 15 {
			sum.Top = append(sum.Top, l.text)
		}
		if strings.HasPrefix(l.fn, "chatgateway/") {
			ours = append(ours, l)
		}
	}
	for i, g := range profileGroups {
		sum.Groups = append(sum.Groups, profileGroup{Name: g.name, Percent: shares[i]})
	}
	for _, lm := range landmarks {
		for _, l := range lines {
			if l.fn == lm.fn {
				sum.Landmarks = append(sum.Landmarks, fmt.Sprintf("%5.1f%%  %s: %s", l.cumPct, lm.what, lm.fn))
				break
			}
		}
	}
	sort.SliceStable(ours, func(i, j int) bool { return ours[i].cumPct > ours[j].cumPct })
	for _, l := range ours[:min(10, len(ours))] {
		sum.OursCum = append(sum.OursCum, fmt.Sprintf("%5.1f%%  %s", l.cumPct, l.fn))
	}
}

// parseProfileTop reads the function lines of `go tool pprof -top` and
// its Duration line.
func parseProfileTop(out string) (lines []profileLine, sampled string) {
	inTable := false
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\n")
		if strings.HasPrefix(line, "Duration:") {
			sampled = strings.TrimSpace(line)
		}
		f := strings.Fields(line)
		if len(f) >= 5 && f[0] == "flat" && f[1] == "flat%" {
			inTable = true
			continue
		}
		if !inTable || len(f) < 6 {
			continue
		}
		flat, err1 := strconv.ParseFloat(strings.TrimSuffix(f[1], "%"), 64)
		cum, err2 := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err1 != nil || err2 != nil {
			continue
		}
		lines = append(lines, profileLine{text: line, fn: strings.Join(f[5:], " "), flatPct: flat, cumPct: cum})
	}
	return lines, sampled
}

func (p profileSummary) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "CPU profile of our server (%s): %s\n\n", p.Path, p.SampledCPU)
	b.WriteString("| where | share of CPU samples (flat) |\n|---|---|\n")
	for _, g := range p.Groups {
		fmt.Fprintf(&b, "| %s | %.1f%% |\n", g.Name, g.Percent)
	}
	b.WriteString("\nTop functions by flat time (`go tool pprof -top`, full list in " + p.TopPath + "):\n\n```\n")
	for _, l := range p.Top {
		b.WriteString(l + "\n")
	}
	b.WriteString("```\n")
	if len(p.Landmarks) > 0 {
		b.WriteString("\nCumulative time (the function and what it calls) of some landmarks:\n\n```\n")
		for _, l := range p.Landmarks {
			b.WriteString(l + "\n")
		}
		b.WriteString("```\n")
	}
	if len(p.OursCum) > 0 {
		b.WriteString("\nOur code by cumulative time (the function and what it calls):\n\n```\n")
		for _, l := range p.OursCum {
			b.WriteString(l + "\n")
		}
		b.WriteString("```\n")
	}
	return b.String()
}
