package suite

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/geostream/geostream/bench/internal/harness"
)

// phaseStats is what every timed phase records besides its own figures:
// the CPU each process used, Redis's own account of its CPU, its
// per-command time and its longest call.
type phaseStats struct {
	Seconds float64            `json:"seconds"`
	Cores   map[string]float64 `json:"cores"`
	// CPU is the CPU seconds of each process (/proc/PID/stat) and of the
	// machine.
	CPU map[string]float64 `json:"cpu_s"`
	// RedisCPU is the change of Redis's INFO cpu over the phase: its main
	// thread (where commands and scripts run) is what the Redis figures use.
	RedisCPU harness.RedisCPU `json:"redis_info_cpu_s"`
	// Points is what the phase's per-point figures divide by: points
	// stored or counted (operations for the ceilings); 0 when none.
	Points  int64                      `json:"points,omitempty"`
	Slowest harness.SlowCall           `json:"slowest_redis_call"`
	Redis   map[string]harness.CmdStat `json:"redis_commandstats"`
	Top     []cmdTop                   `json:"redis_top_commands,omitempty"`
}

// phase is a phase being measured: f of measure reports through it.
type phase struct {
	e      *env
	meter  *harness.CPUMeter
	attach func(who string, pid int)
	// points is what the phase's figures are per (phaseStats.Points).
	points int64
	mu     sync.Mutex
	slow   harness.SlowCall
}

// takeSlowlog reads and empties Redis's slow log, keeping the longest
// call seen in the phase.
func (p *phase) takeSlowlog(ctx context.Context) {
	entries, err := p.e.redis.TakeSlowlog(ctx)
	if err != nil {
		return
	}
	s := harness.Slowest(entries, scriptNames)
	p.mu.Lock()
	p.slow = harness.Merge(p.slow, s)
	p.mu.Unlock()
}

// slowlogEvery is how often a phase empties the slow log (it holds at
// most harness.SlowlogMaxLen calls, the newest).
const slowlogEvery = time.Second

// measure runs f as phase name: it resets Redis's command statistics and
// slow log, meters the CPU of procs (and Redis, and the machine), and,
// when profiling, records a perf profile of each of them while f runs. f
// may attach a process it starts (its CPU is then counted from its start)
// and sets the points the phase's figures are per.
func (e *env) measure(ctx context.Context, r *RepResult, name string, procs map[string]int, f func(p *phase) error) error {
	_ = e.redis.Client.ConfigResetStat(ctx).Err()
	_ = e.redis.ResetSlowlog(ctx)
	pids := maps.Clone(procs)
	if pids == nil {
		pids = map[string]int{}
	}
	pids["redis"] = e.redis.Pid()
	cpu0, _ := e.redis.CPU(ctx)
	p := &phase{e: e, meter: harness.NewCPUMeter(pids)}
	profiling := e.cfg.ProfileDir != "" && r.Rep == 1
	var perfs []*harness.Proc
	attachPerf := func(who string, pid int) {
		out := filepath.Join(e.cfg.ProfileDir, name+"-"+who+".perf.data")
		pp, err := harness.Start(e.cfg.ProfileDir, "perf", "perf",
			"record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out)
		if err != nil {
			e.logf("perf: %v", err)
			return
		}
		perfs = append(perfs, pp)
	}
	if profiling {
		for _, who := range slices.Sorted(maps.Keys(pids)) {
			attachPerf(who, pids[who])
		}
		time.Sleep(200 * time.Millisecond) // perf attaches asynchronously
	}
	p.attach = func(who string, pid int) {
		p.meter.Add(who, pid)
		if profiling {
			attachPerf(who, pid)
		}
	}
	stop := every(slowlogEvery, func() { p.takeSlowlog(ctx) })
	err := f(p)
	stop()
	for _, pp := range perfs {
		pp.Stop() // SIGTERM: perf writes its data and exits
	}
	cpu, wall := p.meter.Used()
	p.takeSlowlog(ctx)
	st := phaseStats{Seconds: wall, CPU: cpu, Cores: harness.Cores(cpu, wall), Points: p.points, Slowest: p.slow}
	if cpu1, cerr := e.redis.CPU(ctx); cerr == nil {
		st.RedisCPU = harness.RedisCPU{Main: cpu1.Main - cpu0.Main, Process: cpu1.Process - cpu0.Process}
	}
	if cs, cerr := e.redis.CommandStats(ctx); cerr == nil {
		st.Redis = cs
		st.Top = topCommands(cs, st.Points, 8)
	}
	r.Phases[name] = st
	return err
}

// cmdTop is one of the commands Redis spent the most time in during a
// phase, per point of the phase.
type cmdTop struct {
	Command       string  `json:"command"`
	Calls         int64   `json:"calls"`
	Usec          int64   `json:"usec"`
	UsecPerCall   float64 `json:"usec_per_call"`
	CallsPerPoint float64 `json:"calls_per_point,omitempty"`
	UsecPerPoint  float64 `json:"usec_per_point,omitempty"`
}

// topCommands returns the n commands of stats with the most time, most
// first, with their calls and time per point when points > 0.
func topCommands(stats map[string]harness.CmdStat, points int64, n int) []cmdTop {
	var out []cmdTop
	for name, s := range stats {
		if s.Calls == 0 {
			continue
		}
		t := cmdTop{Command: name, Calls: s.Calls, Usec: s.Usec, UsecPerCall: round3f(float64(s.Usec) / float64(s.Calls))}
		if points > 0 {
			t.CallsPerPoint = round3f(float64(s.Calls) / float64(points))
			t.UsecPerPoint = round3f(float64(s.Usec) / float64(points))
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b cmdTop) int {
		if a.Usec != b.Usec {
			return cmp.Compare(b.Usec, a.Usec)
		}
		return strings.Compare(a.Command, b.Command)
	})
	return out[:min(n, len(out))]
}

// round3f rounds to 3 significant decimals after the point, for the JSON.
func round3f(v float64) float64 { return math.Round(v*1000) / 1000 }

// perfReports turns every perf.data of the profile directory into two
// text reports: self time by symbol, and time including callees.
func perfReports(ctx context.Context, dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.perf.data"))
	if err != nil {
		return err
	}
	for _, f := range files {
		base := f[:len(f)-len(".perf.data")]
		for _, r := range []struct {
			suffix string
			args   []string
		}{
			{".self.txt", []string{"--no-children", "--percent-limit", "0.7"}},
			{".children.txt", []string{"--children", "--percent-limit", "3"}},
		} {
			args := append([]string{"report", "-i", f, "--stdio", "--sort", "symbol", "-g", "none"}, r.args...)
			out, err := harness.Run(ctx, 5*time.Minute, "perf", args...)
			if err != nil {
				return fmt.Errorf("perf report %s: %w", f, err)
			}
			if err := os.WriteFile(base+r.suffix, []byte(out), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
