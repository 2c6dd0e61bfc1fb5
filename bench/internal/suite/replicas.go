package suite

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	"github.com/geostream/geostream/bench/internal/harness"
	"github.com/geostream/geostream/bench/internal/load"
)

// The replicas stage measures what ingest-svc's --min-replicas-acked costs
// (issue 17): the single-point and 500-point loads of a repetition, ingest
// only, against a primary with one replica of its own (both configured as
// the main Redis: AOF everysec), once with --min-replicas-acked 0 and once
// with 1 (a WAIT on the connection after each pipeline of appends). Each
// load is a phase of the repetition, "replicas-N-single" and
// "replicas-N-batch", metering ingest-svc, the primary ("primary", and its
// main thread in RedisCPU) and the replica ("replica").

// replicaPrefix is the key prefix of the replicas stage.
const replicaPrefix = "gsrepl"

// replicaAcks are the --min-replicas-acked values measured.
var replicaAcks = []int{0, 1}

// replicaPhase names the phase of acks and kind ("single" or "batch").
func replicaPhase(acks int, kind string) string {
	return "replicas-" + strconv.Itoa(acks) + "-" + kind
}

// replicaStage runs the stage once per repetition, into reps[i].
func (e *env) replicaStage(ctx context.Context, reps []*RepResult) error {
	dir := filepath.Join(e.dir, "replicas")
	for _, d := range []string{"primary", "replica"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	primary, err := harness.StartRedis(filepath.Join(dir, "primary"))
	if err != nil {
		return err
	}
	defer primary.Stop()
	replica, err := harness.StartReplica(filepath.Join(dir, "replica"), primary)
	if err != nil {
		return err
	}
	defer replica.Stop()
	for _, r := range reps {
		for _, acks := range replicaAcks {
			if err := e.replicaRun(ctx, r, primary, replica, acks); err != nil {
				return fmt.Errorf("min-replicas-acked %d: %w", acks, err)
			}
		}
	}
	return nil
}

// replicaRun measures both loads with one --min-replicas-acked value on an
// emptied primary (and so replica).
func (e *env) replicaRun(ctx context.Context, r *RepResult, primary, replica *harness.Redis, acks int) error {
	if err := primary.Client.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("flushall: %w", err)
	}
	ingest, err := e.startIngestAt(primary.URL(), replicaPrefix, "--min-replicas-acked", strconv.Itoa(acks))
	if err != nil {
		return err
	}
	defer ingest.Stop()
	if r.Replicas == nil {
		r.Replicas = map[string]load.Result{}
	}
	specs := []struct {
		kind string
		spec load.Spec
	}{
		{"single", load.Spec{URL: ingest.URL() + "/upload", Method: "POST", ContentType: jsonType, Bodies: e.single, Conns: e.cfg.Conns, Duration: e.cfg.Duration}},
		{"batch", load.Spec{URL: ingest.URL() + "/upload", Method: "POST", ContentType: jsonType, Bodies: e.batch, Conns: e.cfg.BatchConns, Duration: e.cfg.Duration}},
	}
	for _, s := range specs {
		if err := e.warm(ctx, s.spec); err != nil {
			return err
		}
		name := replicaPhase(acks, s.kind)
		a0, _, err := e.settled(ctx, ingest)
		if err != nil {
			return err
		}
		cpu0, err := primary.CPU(ctx)
		if err != nil {
			return err
		}
		meter := harness.NewCPUMeter(map[string]int{"ingest": ingest.Pid(), "primary": primary.Pid(), "replica": replica.Pid()})
		res, err := e.load(ctx, s.spec)
		if err != nil {
			return err
		}
		a1, _, err := e.settled(ctx, ingest)
		if err != nil {
			return err
		}
		cpu, wall := meter.Used()
		cpu1, err := primary.CPU(ctx)
		if err != nil {
			return err
		}
		r.Phases[name] = phaseStats{Seconds: wall, CPU: cpu, Cores: harness.Cores(cpu, wall), Points: a1 - a0,
			RedisCPU: harness.RedisCPU{Main: cpu1.Main - cpu0.Main, Process: cpu1.Process - cpu0.Process}}
		r.Replicas[name] = res
		e.logf("rep %d: min-replicas-acked %d, %s: %.0f req/s (p50 %v, p99 %v, %d errors), per point: ingest %.1f µs, primary %.1f µs (main thread %.1f), replica %.1f µs",
			r.Rep, acks, s.kind, res.Rate(), res.P50, res.P99, res.Errors,
			r.cpuUs(name, "ingest"), r.cpuUs(name, "primary"), r.redisUs(name), r.cpuUs(name, "replica"))
	}
	return nil
}

// replicaFigureSpecs are the stage's figures: each with
// --min-replicas-acked 1, its "ceiling" the same figure with 0, so the
// ratio is what the setting costs (CPU) or keeps (throughput).
func replicaFigureSpecs(cfg Config) []figureSpec {
	cpu := func(kind string, acks int) func(*RepResult) float64 {
		return func(r *RepResult) float64 { return r.cpuUs(replicaPhase(acks, kind), "ingest", "primary") }
	}
	rate := func(kind string, acks int, per float64) func(*RepResult) float64 {
		return func(r *RepResult) float64 {
			res, ok := r.Replicas[replicaPhase(acks, kind)]
			if !ok {
				return math.NaN()
			}
			return res.Rate() * per
		}
	}
	p50 := func(acks int) func(*RepResult) float64 {
		return func(r *RepResult) float64 {
			res, ok := r.Replicas[replicaPhase(acks, "single")]
			if !ok {
				return math.NaN()
			}
			return ms(res.P50)
		}
	}
	return []figureSpec{
		{key: "replicas_cpu_single_us", name: "CPU per single-point POST (ingest+primary), min-replicas-acked 1", unit: "µs",
			value: cpu("single", 1), ceiling: "the same, 0", ceil: cpu("single", 0), detail: replicaDetail("single")},
		{key: "replicas_cpu_batch_us", name: "CPU per point, 500-pt batches (ingest+primary), min-replicas-acked 1", unit: "µs",
			value: cpu("batch", 1), ceiling: "the same, 0", ceil: cpu("batch", 0), detail: replicaDetail("batch")},
		{key: "replicas_single_rps", name: "single-point POST, min-replicas-acked 1", unit: "req/s",
			value: rate("single", 1, 1), ceiling: "the same, 0", ceil: rate("single", 0, 1)},
		{key: "replicas_single_p50_ms", name: "single-point POST p50, min-replicas-acked 1", unit: "ms",
			value: p50(1), ceiling: "the same, 0", ceil: p50(0)},
		{key: "replicas_batch_pps", name: "500-pt batches, min-replicas-acked 1", unit: "points/s",
			value: rate("batch", 1, float64(cfg.BatchPoints)), ceiling: "the same, 0", ceil: rate("batch", 0, float64(cfg.BatchPoints))},
	}
}

// replicaDetail splits the first repetition's CPU per point by process,
// for 0 and 1: "ingest/primary/replica µs".
func replicaDetail(kind string) func([]*RepResult) string {
	return func(reps []*RepResult) string {
		if len(reps) == 0 {
			return ""
		}
		r := reps[0]
		part := func(acks int) string {
			n := replicaPhase(acks, kind)
			return fmt.Sprintf("%.1f/%.1f/%.1f", r.cpuUs(n, "ingest"), r.cpuUs(n, "primary"), r.cpuUs(n, "replica"))
		}
		return "ingest/primary/replica µs: " + part(1) + " at 1, " + part(0) + " at 0"
	}
}
