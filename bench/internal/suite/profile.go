package suite

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/geostream/geostream/bench/internal/harness"
)

// phaseStats is what every timed phase records besides its own figures:
// the cores each process used, and Redis's per-command time.
type phaseStats struct {
	Cores map[string]float64         `json:"cores"`
	Redis map[string]harness.CmdStat `json:"redis_commandstats"`
}

// measure runs f as phase name: it resets Redis's command statistics,
// meters the CPU of procs (and Redis, and the machine), and, when
// profiling, records a perf profile of each of them while f runs. f may
// attach a process it starts (its CPU is then counted from its start).
func (e *env) measure(ctx context.Context, r *RepResult, name string, procs map[string]int, f func(attach func(who string, pid int)) error) error {
	_ = e.redis.Client.ConfigResetStat(ctx).Err()
	pids := maps.Clone(procs)
	if pids == nil {
		pids = map[string]int{}
	}
	pids["redis"] = e.redis.Pid()
	meter := harness.NewCPUMeter(pids)
	profiling := e.cfg.ProfileDir != "" && r.Rep == 1
	var perfs []*harness.Proc
	attachPerf := func(who string, pid int) {
		out := filepath.Join(e.cfg.ProfileDir, name+"-"+who+".perf.data")
		p, err := harness.Start(e.cfg.ProfileDir, "perf", "perf",
			"record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", out)
		if err != nil {
			e.logf("perf: %v", err)
			return
		}
		perfs = append(perfs, p)
	}
	if profiling {
		for _, who := range slices.Sorted(maps.Keys(pids)) {
			attachPerf(who, pids[who])
		}
		time.Sleep(200 * time.Millisecond) // perf attaches asynchronously
	}
	err := f(func(who string, pid int) {
		meter.Add(who, pid)
		if profiling {
			attachPerf(who, pid)
		}
	})
	for _, p := range perfs {
		p.Stop() // SIGTERM: perf writes its data and exits
	}
	st := phaseStats{Cores: meter.Cores()}
	if cs, cerr := e.redis.CommandStats(ctx); cerr == nil {
		st.Redis = cs
	}
	r.Phases[name] = st
	return err
}

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
