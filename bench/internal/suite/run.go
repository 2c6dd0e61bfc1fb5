package suite

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/geostream/geostream/bench/internal/harness"
	"github.com/geostream/geostream/bench/internal/load"
)

// Run runs the benchmark: it starts a redis-server and the no-op server,
// runs cfg.Reps repetitions of every measure, stops everything it started,
// and returns the report. Progress goes to log.
func Run(ctx context.Context, cfg Config, log io.Writer) (rep *Report, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	start := time.Now()
	dir := cfg.WorkDir
	if dir == "" {
		d, mkErr := os.MkdirTemp("", "geostream-bench-")
		if mkErr != nil {
			return nil, mkErr
		}
		// Kept when the run fails: the services' logs are there.
		defer func() {
			if err == nil {
				os.RemoveAll(d)
			}
		}()
		dir = d
	}
	if cfg.ProfileDir != "" {
		if err := os.MkdirAll(cfg.ProfileDir, 0o755); err != nil {
			return nil, err
		}
	}
	base := start.Add(-30 * time.Minute).Truncate(time.Minute) // event times: recent, never in the future
	e := &env{
		cfg: cfg, dir: dir, log: log,
		single:  load.Bodies(256, 1, load.Devices, base),
		batch:   load.Bodies(16, cfg.BatchPoints, load.Devices, base),
		fillers: load.Bodies(16, cfg.BatchPoints, fillDevices, base),
		http:    &http.Client{Timeout: 5 * time.Second},
	}
	if e.redis, err = harness.StartRedis(dir); err != nil {
		return nil, err
	}
	defer e.redis.Stop()
	noopAddr, err := harness.FreeAddr()
	if err != nil {
		return nil, err
	}
	if e.noop, err = harness.StartHTTP(dir, "noop-server", noopAddr, "/healthz", e.bin("bench"), "noop-server", "--addr", noopAddr); err != nil {
		return nil, err
	}
	defer e.noop.Stop()

	gen := "go (wrk not installed)"
	if cfg.UseWrk {
		gen = "wrk"
	}
	rep = &Report{
		Started: start,
		Host:    Host{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Redis: e.redis.Version(ctx), Generator: gen},
		Settings: Settings{
			Quick: cfg.Quick, Reps: cfg.Reps, Duration: cfg.Duration.String(), Conns: cfg.Conns,
			BatchConns: cfg.BatchConns, BatchPoints: cfg.BatchPoints, Partitions: cfg.Partitions,
			SmallStore: cfg.SmallStore, BigStore: cfg.BigStore, RetrieveRate: cfg.RetrieveRate,
			BackgroundRate: cfg.BackgroundRate, Profiled: cfg.ProfileDir != "",
			SteadyRate: cfg.SteadyRate, SteadyDevices: cfg.SteadyDevices, SteadyBatch: cfg.SteadyBatch,
			SteadyDuration: cfg.SteadyDuration.String(), IdemTTL: cfg.IdemTTL.String(),
			ProcessorFlags: strings.Join(cfg.ProcessorFlags, " "),
		},
	}
	e.logf("benchmark: %d repetition(s) of %v loads, redis-server %s on %s, load generator %s, processor flags %q",
		cfg.Reps, cfg.Duration, rep.Host.Redis, e.redis.Addr, gen, rep.Settings.ProcessorFlags)
	for i := 1; i <= cfg.Reps; i++ {
		r, err := e.rep(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("repetition %d: %w (logs in %s)", i, err, dir)
		}
		rep.Reps = append(rep.Reps, r)
	}
	if err := e.retrieveStage(ctx, rep.Reps); err != nil {
		return nil, fmt.Errorf("retrieve stage: %w (logs in %s)", err, dir)
	}
	if err := e.replicaStage(ctx, rep.Reps); err != nil {
		return nil, fmt.Errorf("replicas stage: %w (logs in %s)", err, dir)
	}
	rep.Figures = figures(cfg, rep.Reps)
	if cfg.ProfileDir != "" {
		e.logf("writing perf reports to %s", cfg.ProfileDir)
		if err := perfReports(ctx, cfg.ProfileDir); err != nil {
			rep.Notes = append(rep.Notes, "perf reports: "+err.Error())
		}
	}
	rep.Elapsed = time.Since(start)
	rep.Seconds = rep.Elapsed.Round(time.Second).Seconds()
	return rep, nil
}
