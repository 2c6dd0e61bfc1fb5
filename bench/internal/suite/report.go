package suite

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/geostream/geostream/bench/internal/harness"
)

// Report is a run's results, written as JSON for docs/performance.md.
type Report struct {
	Started  time.Time     `json:"started"`
	Seconds  float64       `json:"seconds"`
	Host     Host          `json:"host"`
	Settings Settings      `json:"settings"`
	Figures  []Figure      `json:"figures"`
	Reps     []*RepResult  `json:"reps"`
	Notes    []string      `json:"notes,omitempty"`
	Elapsed  time.Duration `json:"-"`
}

// Host describes the machine and tools of the run.
type Host struct {
	CPUs      int    `json:"cpus"`
	GoVersion string `json:"go"`
	Redis     string `json:"redis"`
	Generator string `json:"http_load_generator"`
}

// Settings are the run's settings as reported.
type Settings struct {
	Quick          bool    `json:"quick"`
	Reps           int     `json:"reps"`
	Duration       string  `json:"duration"`
	Conns          int     `json:"conns"`
	BatchConns     int     `json:"batch_conns"`
	BatchPoints    int     `json:"batch_points"`
	Partitions     int     `json:"partitions"`
	SmallStore     int64   `json:"small_store"`
	BigStore       int64   `json:"big_store"`
	RetrieveRate   float64 `json:"retrieve_rate"`
	BackgroundRate float64 `json:"background_batches_per_s"`
	Profiled       bool    `json:"profiled_first_rep"`
	SteadyRate     float64 `json:"steady_rate"`
	SteadyDevices  int     `json:"steady_devices"`
	SteadyBatch    int     `json:"steady_batch"`
	SteadyDuration string  `json:"steady_duration"`
	IdemTTL        string  `json:"steady_idempotency_ttl"`
	ProcessorFlags string  `json:"processor_flags,omitempty"`
}

// Figure is one line of the table: the median of a figure over the
// repetitions, its ceiling or budget, and the median of the per-repetition
// ratios (each repetition's figure and ceiling were measured minutes apart,
// so their ratio is steadier than the ratio of the medians).
type Figure struct {
	Key      string    `json:"key"`
	Name     string    `json:"name"`
	Unit     string    `json:"unit"`
	Value    float64   `json:"value"`
	PerRep   []float64 `json:"per_rep"`
	Ceiling  string    `json:"ceiling,omitempty"`
	CeilVal  float64   `json:"ceiling_value,omitempty"`
	Ratio    float64   `json:"ratio,omitempty"`
	RatioRep []float64 `json:"ratio_per_rep,omitempty"`
	Target   string    `json:"target,omitempty"`
	Met      *bool     `json:"met,omitempty"`
	// Status is a target's "met", "missed" or "blocked" (missed, and a
	// same-run lower bound of it, a row marked "bound" below it, misses
	// the target too); "bound" on such a row.
	Status  string `json:"status,omitempty"`
	BoundOf string `json:"bound_of,omitempty"`
	Detail  string `json:"detail,omitempty"`
}

type figureSpec struct {
	key, name, unit string
	value           func(*RepResult) float64
	ceiling         string
	ceil            func(*RepResult) float64
	target          string
	met             func(value, ratio float64) bool
	detail          func([]*RepResult) string
	// boundOf names the target row a bound row qualifies (judged by the
	// same met); blocks says it is a lower bound of that figure, so that
	// when it misses the target too, the target is "blocked".
	boundOf string
	blocks  bool
}

// bound returns a bound row of the target row of key with met: shown
// beside it, judged like it, and blocking it when blocks.
func bound(key string, blocks bool, met func(v, r float64) bool, s figureSpec) figureSpec {
	s.name = "  bound: " + s.name
	s.boundOf, s.blocks, s.met, s.target = key, blocks, met, "lower bound"
	if !blocks {
		s.target = "beside it"
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func constant(v float64) func(*RepResult) float64 { return func(*RepResult) float64 { return v } }

func atMost(limit float64) func(_, ratio float64) bool {
	return func(_, q float64) bool { return q <= limit }
}

// budget is a figure judged against an absolute limit: its "ceiling" is
// the limit, so the ratio is the share of it used.
func budget(limit float64) (string, func(*RepResult) float64, func(v, _ float64) bool) {
	return "budget", constant(limit), func(v, _ float64) bool { return v <= limit }
}

// figureSpecs lists the table: issue 14's targets first, then the figures
// kept for comparison with earlier runs.
func figureSpecs(cfg Config) []figureSpec {
	big := shortCount(cfg.BigStore)
	small := shortCount(cfg.SmallStore)
	xadd := func(r *RepResult) float64 { return r.redisUs("xadd") }
	steady := fmt.Sprintf("steady %s points/s", formatValue(cfg.SteadyRate))
	specs := []figureSpec{
		{key: "redis_cpu_e2e_batch_us", name: "Redis CPU per point, end to end, 500-pt batches", unit: "µs",
			value: func(r *RepResult) float64 { return r.redisUs("e2e") }, ceiling: "XADD -P 64, per op",
			ceil: xadd, target: "≤ 1.00", met: atMost(1)},
		bound("redis_cpu_e2e_batch_us", true, atMost(1), figureSpec{key: "cpu_batch_redis_us",
			name: "Redis CPU per point, 500-pt batches, ingest only", unit: "µs",
			value: func(r *RepResult) float64 { return r.redisUs("batch") }, ceiling: "XADD -P 64, per op", ceil: xadd}),
		{key: "redis_cpu_e2e_single_us", name: "Redis CPU per point, end to end, single points", unit: "µs",
			value: func(r *RepResult) float64 { return r.redisUs("single-e2e") }, ceiling: "XADD -P 64, per op",
			ceil: xadd, target: "≤ 2.00", met: atMost(2)},
		bound("redis_cpu_e2e_single_us", true, atMost(2), figureSpec{key: "redis_cpu_single_ingest_us",
			name: "Redis CPU per point, single points, ingest alone", unit: "µs",
			value: func(r *RepResult) float64 { return r.redisUs("single") }, ceiling: "XADD -P 64, per op", ceil: xadd}),
		bound("redis_cpu_e2e_single_us", false, atMost(2), figureSpec{key: "redis_cpu_xadd1_us",
			name: "Redis CPU per op, redis-benchmark XADD unpipelined", unit: "µs",
			value: func(r *RepResult) float64 { return r.redisUs("xadd1") }, ceiling: "XADD -P 64, per op", ceil: xadd}),
		{key: "redis_cpu_steady_us", name: "Redis CPU per point, " + steady, unit: "µs",
			value: func(r *RepResult) float64 { return r.redisUs("steady") }, ceiling: "XADD -P 64, per op",
			ceil: xadd, target: "≤ 3.00", met: atMost(3)},
		// What the phase's hash writes cost Redis as plain pipelined HSETs:
		// at ~1 point a device a call, each point writes its device's four
		// hashes (all-time, 1m, 1h, 1d) however the scripts do it.
		bound("redis_cpu_steady_us", true, atMost(3), figureSpec{key: "redis_cpu_steady_hset_floor_us",
			name: "the steady phase's aggregate HSETs at redis-benchmark HSET -P 64 cost", unit: "µs",
			value: func(r *RepResult) float64 { return r.steadyHSetFloor() }, ceiling: "XADD -P 64, per op", ceil: xadd,
			detail: steadyHSetDetail}),
		withBudget(figureSpec{key: "processor_cpu_steady_us", name: "processor-svc CPU per point, " + steady, unit: "µs",
			value: func(r *RepResult) float64 { return r.cpuUs("steady", "processor") }, target: "≤ 15 µs"}, 15),
		withBudget(figureSpec{key: "ingest_cpu_steady_us", name: "ingest-svc CPU per point, " + steady, unit: "µs",
			value: func(r *RepResult) float64 { return r.cpuUs("steady", "ingest") }, target: "≤ 15 µs"}, 15),
		{key: "e2e_pps", name: "end to end, 500-pt batches", unit: "points/s",
			value: func(r *RepResult) float64 { return r.E2E.PointsPS }, ceiling: "redis-benchmark XADD -P 64",
			ceil: func(r *RepResult) float64 { return r.XAddOps }, target: "≥ 0.60",
			met: func(_, q float64) bool { return q >= 0.60 }},
		{key: "cpu_single_us", name: "CPU per single-point POST (ingest+Redis)", unit: "µs",
			value:   func(r *RepResult) float64 { return r.cpuUs("single", "ingest", "redis") },
			ceiling: "no-op server", ceil: func(r *RepResult) float64 { return r.cpuUs("noop", "noop") },
			target: "≤ 1.60", met: atMost(1.6)},
		bound("cpu_single_us", true, atMost(1.6), figureSpec{key: "cpu_single_ingest_us",
			name: "ingest-svc CPU per single-point POST (no Redis)", unit: "µs",
			value:   func(r *RepResult) float64 { return r.cpuUs("single", "ingest") },
			ceiling: "no-op server", ceil: func(r *RepResult) float64 { return r.cpuUs("noop", "noop") }}),
		// The floor: the no-op server's canned GET /retrieve, timed at the
		// same moment by a second generator at the same rate.
		{key: "retrieve_p99_big_floor_ms", name: "/retrieve p99 at " + big + " ÷ no-op floor", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveBig.Load.P99) }, ceiling: "no-op GET p99, same time",
			ceil: func(r *RepResult) float64 { return ms(r.RetrieveBig.Floor.P99) }, target: "≤ 1.50", met: atMost(1.5)},
		{key: "retrieve_p50_big_floor_ms", name: "/retrieve p50 at " + big + " ÷ no-op floor", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveBig.Load.P50) }, ceiling: "no-op GET p50, same time",
			ceil: func(r *RepResult) float64 { return ms(r.RetrieveBig.Floor.P50) }, target: "≤ 1.20", met: atMost(1.2)},
		withBudget(figureSpec{key: "slowest_redis_call_ms", name: "longest Redis call (SLOWLOG)", unit: "ms",
			value: func(r *RepResult) float64 {
				c, phase := r.slowest()
				if phase == "" && !r.hasPhaseTimes() {
					return math.NaN()
				}
				return float64(c.Micros) / 1000
			}, target: "≤ 1 ms", detail: slowestDetail}, 1),
		bound("slowest_redis_call_ms", true, atMostValue(1), figureSpec{key: "slowest_xadd_ms",
			name: "longest XADD of the XADD ceilings (SLOWLOG)", unit: "ms",
			value: func(r *RepResult) float64 { return r.slowestOf("xadd", "xadd1") }, ceiling: "budget", ceil: constant(1)}),
		bound("slowest_redis_call_ms", false, atMostValue(1), figureSpec{key: "xadd_max_latency_ms",
			name: "redis-benchmark XADD -P 64 max latency (client)", unit: "ms",
			value: func(r *RepResult) float64 { return nanIfZero(r.XAddMaxMs) }, ceiling: "budget", ceil: constant(1)}),
		withBudget(figureSpec{key: "redis_bytes_per_point", name: "Redis stream bytes per point", unit: "bytes",
			value: func(r *RepResult) float64 { return r.BytesPerPoint }, target: "≤ 16 B"}, 16),
		bound("redis_bytes_per_point", true, atMostValue(16), figureSpec{key: "packed_bytes_per_point",
			name: "packed segment bytes per point (no Redis)", unit: "bytes",
			value: func(r *RepResult) float64 { return nanIfZero(r.PackedBytesPerPoint) }, ceiling: "budget", ceil: constant(16)}),
		withBudget(figureSpec{key: "processor_rss_mb", name: "processor-svc peak RSS", unit: "MB",
			value: func(r *RepResult) float64 { return mb(r.ProcessorRSS) }, target: "≤ 64 MB"}, 64),
		withBudget(figureSpec{key: "ingest_rss_mb", name: "ingest-svc peak RSS", unit: "MB",
			value: func(r *RepResult) float64 { return mb(r.IngestRSS) }, target: "≤ 100 MB"}, 100),
		// A keyed upload leaves a marker in each partition it touches (the
		// steady phase's: ~12 of 16); the target is a marker's.
		withBudget(figureSpec{key: "idem_bytes_per_marker", name: "Redis memory per remembered Idempotency-Key, a partition's marker", unit: "bytes",
			value: func(r *RepResult) float64 { return r.steadyOr(positive(r.Steady.Idem.BytesPerMarker)) }, target: "≤ 40 B"}, 40),
		{key: "idem_bytes_per_key", name: "  Redis memory per keyed upload, all its markers", unit: "bytes",
			value: func(r *RepResult) float64 { return r.steadyOr(positive(r.Steady.Idem.BytesPerKey)) }, ceiling: "markers an upload",
			ceil: func(r *RepResult) float64 {
				return nanIfZero(float64(r.Steady.Idem.Markers) / float64(max(r.Steady.Idem.KeysRemembered, 1)))
			}},
		// Flat: growth per upload once the TTL has passed, against the
		// growth before it (markers that never expired would keep it at 1).
		{key: "idem_growth_after_ttl", name: "  memory growth per keyed upload after the TTL", unit: "bytes",
			value: func(r *RepResult) float64 { return r.steadyOr(r.Steady.Idem.GrowthAfter) }, ceiling: "before the TTL",
			ceil: func(r *RepResult) float64 { return r.Steady.Idem.GrowthBefore }, target: "flat: ≤ 0.25 or ≤ 4 B",
			met: func(v, q float64) bool { return v <= 4 || q <= 0.25 }},

		// For comparison with earlier runs (issue 6's figures), no targets.
		{key: "single_post_rps", name: "single-point POST /upload", unit: "req/s",
			value: func(r *RepResult) float64 { return r.Single.Rate() }, ceiling: "no-op gin handler",
			ceil: func(r *RepResult) float64 { return r.Noop.Rate() }},
		{key: "single_post_p50_ms", name: "single-point POST p50", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.Single.P50) }, ceiling: "no-op p50",
			ceil: func(r *RepResult) float64 { return ms(r.Noop.P50) }},
		{key: "single_post_p99_ms", name: "single-point POST p99", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.Single.P99) }, ceiling: "no-op p99",
			ceil: func(r *RepResult) float64 { return ms(r.Noop.P99) }},
		{key: "batch_ingest_pps", name: "500-pt batches, ingest only", unit: "points/s",
			value: func(r *RepResult) float64 { return r.BatchPoints }, ceiling: "redis-benchmark XADD -P 64",
			ceil: func(r *RepResult) float64 { return r.XAddOps }},
		{key: "e2e_lag_after_s", name: "  lag: all counted after load end", unit: "s",
			value: func(r *RepResult) float64 { return r.E2E.DrainAfter.Seconds() }},
		{key: "e2e_max_backlog", name: "  lag: max backlog during load", unit: "points",
			value: func(r *RepResult) float64 { return float64(r.E2E.MaxBacklog) }},
		{key: "e2e_single_pps", name: "end to end, single points", unit: "points/s",
			value: func(r *RepResult) float64 { return r.SingleE2E.PointsPS }, ceiling: "no-op gin handler",
			ceil: func(r *RepResult) float64 { return r.Noop.Rate() }},
		{key: "steady_pps", name: steady + ": acknowledged", unit: "points/s",
			value: func(r *RepResult) float64 { return r.steadyOr(r.Steady.Sim.AckedPerSecond) }, ceiling: "asked",
			ceil: constant(cfg.SteadyRate)},
		{key: "drain_pps", name: "processor drain of a backlog", unit: "points/s",
			value: func(r *RepResult) float64 { return r.Drain }, ceiling: "XREADGROUP+XACK drain, entries",
			ceil: func(r *RepResult) float64 { return r.RawDrain }},
		{key: "retrieve_p50_small_ms", name: "/retrieve p50 at " + small + " (load)", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Load.P50) }},
		{key: "retrieve_p99_small_ms", name: "/retrieve p99 at " + small + " (load)", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Load.P99) }},
		{key: "retrieve_p50_big_ms", name: "/retrieve p50 at " + big + " (load)", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveBig.Load.P50) }},
		{key: "retrieve_p99_big_ms", name: "/retrieve p99 at " + big + " (load)", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveBig.Load.P99) }, ceiling: "p99 at " + small,
			ceil: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Load.P99) }},
		{key: "retrieve_p99_small_floor_ms", name: "/retrieve p99 at " + small + " ÷ no-op floor", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Load.P99) }, ceiling: "no-op GET p99, same time",
			ceil: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Floor.P99) }},
		// CPU time per point: much less sensitive to the neighbours than
		// throughput (a process that is not scheduled uses no CPU).
		{key: "cpu_batch_ingest_us", name: "ingest-svc CPU per point, batches", unit: "µs",
			value: func(r *RepResult) float64 { return r.cpuUs("batch", "ingest") }},
		{key: "cpu_e2e_processor_us", name: "processor-svc CPU per point, end to end, batches", unit: "µs",
			value: func(r *RepResult) float64 { return r.cpuUs("e2e", "processor") }},
		{key: "cpu_drain_redis_us", name: "Redis CPU per point, drain", unit: "µs",
			value:   func(r *RepResult) float64 { return r.redisUs("drain") },
			ceiling: "raw drain, per entry", ceil: func(r *RepResult) float64 { return r.redisUs("rawdrain") }},
		{key: "cpu_drain_client_us", name: "processor-svc CPU per point, drain", unit: "µs",
			value:   func(r *RepResult) float64 { return r.cpuUs("drain", "processor") },
			ceiling: "raw drain client, per entry", ceil: func(r *RepResult) float64 { return r.cpuUs("rawdrain", "bench") }},
	}
	return append(specs, replicaFigureSpecs(cfg)...)
}

func atMostValue(limit float64) func(v, _ float64) bool {
	return func(v, _ float64) bool { return v <= limit }
}

func nanIfZero(v float64) float64 {
	if v == 0 {
		return math.NaN()
	}
	return v
}

// slowestOf returns the longest Redis call (ms) of the named phases; NaN
// when none was recorded.
func (r *RepResult) slowestOf(phases ...string) float64 {
	best, ok := 0.0, false
	for _, name := range phases {
		if st, found := r.Phases[name]; found && st.Seconds > 0 {
			best, ok = max(best, float64(st.Slowest.Micros)/1000), true
		}
	}
	if !ok {
		return math.NaN()
	}
	return best
}

// positive returns v, or NaN when v is not above 0: a memory difference
// that the rest of Redis's memory moved more than the markers (a short
// run's) is no figure.
func positive(v float64) float64 {
	if v <= 0 {
		return math.NaN()
	}
	return v
}

func withBudget(s figureSpec, limit float64) figureSpec {
	s.ceiling, s.ceil, s.met = budget(limit)
	return s
}

// redisUs returns the CPU microseconds Redis's main thread (INFO cpu) used
// per point of a phase; NaN when the phase has no points.
func (r *RepResult) redisUs(phase string) float64 {
	st, ok := r.Phases[phase]
	if !ok || st.Points <= 0 {
		return math.NaN()
	}
	return st.RedisCPU.Main / float64(st.Points) * 1e6
}

// cpuUs returns the CPU microseconds the named processes used
// (/proc/PID/stat) per point of a phase; NaN when the phase has no points.
func (r *RepResult) cpuUs(phase string, procs ...string) float64 {
	st, ok := r.Phases[phase]
	if !ok || st.Points <= 0 {
		return math.NaN()
	}
	var s float64
	for _, p := range procs {
		s += st.CPU[p]
	}
	return s / float64(st.Points) * 1e6
}

// steadyHSetFloor returns the steady phase's HSET calls a point (Redis's
// commandstats count those of scripts), less at most one a keyed upload
// and partition for the Idempotency-Key markers, times the CPU a plain
// pipelined HSET of a device hash costs Redis (phase hset): the aggregate
// writes alone. NaN when either phase is missing.
func (r *RepResult) steadyHSetFloor() float64 {
	return r.steadyAggHSets() * r.redisUs("hset")
}

// steadyAggHSets returns the steady phase's HSETs a point less the
// markers' (see steadyHSetFloor); NaN without a steady phase.
func (r *RepResult) steadyAggHSets() float64 {
	st, ok := r.Phases["steady"]
	if !ok || st.Points <= 0 {
		return math.NaN()
	}
	return float64(max(st.Redis["hset"].Calls-r.Steady.MarkerHSets, 0)) / float64(st.Points)
}

// steadyHSetDetail says what the floor multiplies, per repetition.
func steadyHSetDetail(reps []*RepResult) string {
	var parts []string
	for _, r := range reps {
		if n := r.steadyAggHSets(); !math.IsNaN(n) {
			parts = append(parts, fmt.Sprintf("%.2f aggregate HSETs a point × %.2f µs", n, r.redisUs("hset")))
		}
	}
	return strings.Join(parts, "; ")
}

// steadyOr returns v, or NaN when the repetition has no steady phase.
func (r *RepResult) steadyOr(v float64) float64 {
	if r.Steady.Sim.ElapsedSeconds == 0 {
		return math.NaN()
	}
	return v
}

// hasPhaseTimes reports whether the phases were recorded by this version
// of the benchmark (with their duration, and their slow logs read).
func (r *RepResult) hasPhaseTimes() bool {
	for _, st := range r.Phases {
		if st.Seconds > 0 {
			return true
		}
	}
	return false
}

// ceilingPhases are the phases that measure the machine, not geostream:
// their slow calls are not geostream's.
var ceilingPhases = map[string]bool{"noop": true, "xadd": true, "xadd1": true, "rawdrain": true}

// slowest returns the longest Redis call of geostream's phases, and its
// phase.
func (r *RepResult) slowest() (harness.SlowCall, string) {
	var best harness.SlowCall
	var at string
	for _, name := range slices.Sorted(maps.Keys(r.Phases)) {
		if c := r.Phases[name].Slowest; !ceilingPhases[name] && c.Micros > best.Micros {
			best, at = c, name
		}
	}
	return best, at
}

// slowestDetail names the longest call of all repetitions.
func slowestDetail(reps []*RepResult) string {
	var best harness.SlowCall
	var at string
	for _, r := range reps {
		if c, phase := r.slowest(); c.Micros > best.Micros {
			best, at = c, fmt.Sprintf("%s, rep %d", phase, r.Rep)
		}
	}
	if best.Command == "" {
		return fmt.Sprintf("no call of %v or more", harness.SlowlogThreshold)
	}
	return fmt.Sprintf("longest %.2f ms: %s (%s)", float64(best.Micros)/1000, best.Command, at)
}

// Recompute derives the figures again from the repetitions and settings of
// a report read back from its JSON (bench report).
func (r *Report) Recompute() {
	cfg := Full()
	cfg.SmallStore, cfg.BigStore = r.Settings.SmallStore, r.Settings.BigStore
	if r.Settings.SteadyRate > 0 {
		cfg.SteadyRate = r.Settings.SteadyRate
	}
	r.Figures = figures(cfg, r.Reps)
}

// figures computes the table from the repetitions.
func figures(cfg Config, reps []*RepResult) []Figure {
	var out []Figure
	specs := figureSpecs(cfg)
	for _, s := range specs {
		f := Figure{Key: s.key, Name: s.name, Unit: s.unit, Ceiling: s.ceiling, Target: s.target, BoundOf: s.boundOf}
		var ceils, vals []float64
		for _, r := range reps {
			// NaN: not measured in this repetition (a results file of an
			// older benchmark, or a phase without points).
			v := s.value(r)
			if math.IsNaN(v) {
				f.PerRep = append(f.PerRep, 0)
				continue
			}
			f.PerRep = append(f.PerRep, v)
			vals = append(vals, v)
			if s.ceil != nil {
				c := s.ceil(r)
				if math.IsNaN(c) {
					continue
				}
				ceils = append(ceils, c)
				if c > 0 {
					f.RatioRep = append(f.RatioRep, v/c)
				}
			}
		}
		if len(vals) == 0 {
			f.Detail = "not measured"
			out = append(out, f)
			continue
		}
		f.Value = median(vals)
		if s.detail != nil {
			f.Detail = s.detail(reps)
		}
		if s.ceil != nil {
			f.CeilVal, f.Ratio = median(ceils), median(f.RatioRep)
		}
		if s.met != nil && (s.ceil == nil || len(f.RatioRep) > 0) {
			met := s.met(f.Value, f.Ratio)
			f.Met = &met
		}
		out = append(out, f)
	}
	setStatus(specs, out)
	return out
}

// setStatus sets each target's status: met or missed, blocked when a
// blocking bound row of it misses its target too.
func setStatus(specs []figureSpec, figs []Figure) {
	byKey := map[string]*Figure{}
	for i := range figs {
		f := &figs[i]
		switch {
		case f.Met == nil:
		case f.BoundOf != "":
			f.Status = "bound"
		case *f.Met:
			f.Status = "met"
		default:
			f.Status = "missed"
		}
		byKey[f.Key] = f
	}
	for i, s := range specs {
		b := &figs[i]
		parent := byKey[s.boundOf]
		if !s.blocks || parent == nil || parent.Status == "met" || parent.Status == "" || b.Met == nil || *b.Met {
			continue
		}
		parent.Status = "blocked"
		parent.Detail = strings.TrimSpace(parent.Detail + "; bound " + strings.TrimSpace(strings.TrimPrefix(b.Name, "  bound: ")) + " misses it too")
		parent.Detail = strings.TrimPrefix(parent.Detail, "; ")
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// WriteTable prints the figures as an aligned table.
func (r *Report) WriteTable(w io.Writer) {
	rows := [][]string{{"figure", "geostream", "unit", "ceiling (same run)", "", "ratio", "target", "", ""}}
	for _, f := range r.Figures {
		ceil, ratio := "", ""
		if f.Ceiling != "" {
			ceil, ratio = formatValue(f.CeilVal), strconv.FormatFloat(f.Ratio, 'f', 2, 64)
		}
		status := map[string]string{"met": "met", "missed": "MISSED", "blocked": "BLOCKED", "bound": "bound"}[f.Status]
		if f.Status == "bound" {
			status = map[bool]string{true: "bound (meets)", false: "bound (misses)"}[*f.Met]
		}
		rows = append(rows, []string{f.Name, formatValue(f.Value), f.Unit, f.Ceiling, ceil, ratio, f.Target, status, f.Detail})
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	right := []bool{false, true, false, false, true, true, false, false, false}
	for _, row := range rows {
		var b strings.Builder
		for i, c := range row {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if right[i] {
				b.WriteString(pad + c)
			} else {
				b.WriteString(c + pad)
			}
			b.WriteString("  ")
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// WriteMarkdown prints the figures as a Markdown table, for the docs.
func (r *Report) WriteMarkdown(w io.Writer) {
	fmt.Fprintln(w, "| figure | geostream | ceiling (same run) | ratio | target | |")
	fmt.Fprintln(w, "|---|--:|---|--:|---|---|")
	for _, f := range r.Figures {
		ceil, ratio := "", ""
		if f.Ceiling != "" {
			ceil, ratio = f.Ceiling+" "+formatValue(f.CeilVal), strconv.FormatFloat(f.Ratio, 'f', 2, 64)
		}
		status := map[string]string{"met": "met", "missed": "**missed**", "blocked": "**blocked**"}[f.Status]
		if f.Status == "bound" {
			status = map[bool]string{true: "bound, meets", false: "bound, misses"}[*f.Met]
		}
		if f.Detail != "" {
			status = strings.TrimSpace(status + " " + f.Detail)
		}
		fmt.Fprintf(w, "| %s | %s %s | %s | %s | %s | %s |\n",
			strings.TrimSpace(f.Name), formatValue(f.Value), f.Unit, ceil, ratio, f.Target, status)
	}
}

// formatValue prints large numbers with thousands separators and small
// ones with two decimals.
func formatValue(v float64) string {
	if math.Abs(v) < 100 {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func shortCount(n int64) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return strconv.FormatInt(n/1_000_000, 10) + "M"
	case n >= 1000 && n%1000 == 0:
		return strconv.FormatInt(n/1000, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}
