package suite

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
}

type figureSpec struct {
	key, name, unit string
	value           func(*RepResult) float64
	ceiling         string
	ceil            func(*RepResult) float64
	target          string
	met             func(value, ratio float64) bool
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func constant(v float64) func(*RepResult) float64 { return func(*RepResult) float64 { return v } }

func figureSpecs(cfg Config) []figureSpec {
	big := shortCount(cfg.BigStore)
	small := shortCount(cfg.SmallStore)
	return []figureSpec{
		{key: "single_post_rps", name: "single-point POST /upload", unit: "req/s",
			value: func(r *RepResult) float64 { return r.Single.Rate() }, ceiling: "no-op gin handler",
			ceil: func(r *RepResult) float64 { return r.Noop.Rate() }, target: "≥ 0.70",
			met: func(_, q float64) bool { return q >= 0.70 }},
		{key: "single_post_p50_ms", name: "single-point POST p50", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.Single.P50) }, ceiling: "no-op p50",
			ceil: func(r *RepResult) float64 { return ms(r.Noop.P50) }},
		{key: "single_post_p99_ms", name: "single-point POST p99", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.Single.P99) }, ceiling: "no-op p99",
			ceil: func(r *RepResult) float64 { return ms(r.Noop.P99) }},
		{key: "batch_ingest_pps", name: "500-pt batches, ingest only", unit: "points/s",
			value: func(r *RepResult) float64 { return r.BatchPoints }, ceiling: "redis-benchmark XADD -P 64",
			ceil: func(r *RepResult) float64 { return r.XAddOps }},
		{key: "e2e_pps", name: "end to end, 500-pt batches", unit: "points/s",
			value: func(r *RepResult) float64 { return r.E2E.PointsPS }, ceiling: "redis-benchmark XADD -P 64",
			ceil: func(r *RepResult) float64 { return r.XAddOps }, target: "≥ 0.40",
			met: func(_, q float64) bool { return q >= 0.40 }},
		{key: "e2e_lag_after_s", name: "  lag: all counted after load end", unit: "s",
			value: func(r *RepResult) float64 { return r.E2E.DrainAfter.Seconds() }},
		{key: "e2e_max_backlog", name: "  lag: max backlog during load", unit: "points",
			value: func(r *RepResult) float64 { return float64(r.E2E.MaxBacklog) }},
		{key: "drain_pps", name: "processor drain of a backlog", unit: "points/s",
			value: func(r *RepResult) float64 { return r.Drain }, ceiling: "XREADGROUP+XACK drain",
			ceil: func(r *RepResult) float64 { return r.RawDrain }, target: "≥ 0.60",
			met: func(_, q float64) bool { return q >= 0.60 }},
		{key: "retrieve_p50_small_ms", name: "/retrieve p50 at " + small + " (load)", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Load.P50) }},
		{key: "retrieve_p99_small_ms", name: "/retrieve p99 at " + small + " (load)", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Load.P99) }},
		{key: "retrieve_p50_big_ms", name: "/retrieve p50 at " + big + " (load)", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveBig.Load.P50) }},
		{key: "retrieve_p99_big_ms", name: "/retrieve p99 at " + big + " (load)", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveBig.Load.P99) }, ceiling: "p99 at " + small,
			ceil: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Load.P99) }, target: "≤ 2 ms, ≤ 1.20",
			met: func(v, q float64) bool { return v <= 2 && q <= 1.2 }},
		// The floor: the no-op server's canned GET /retrieve, timed at the
		// same moment by a second generator at the same rate.
		{key: "retrieve_p99_small_floor_ms", name: "/retrieve p99 at " + small + " ÷ no-op floor", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Load.P99) }, ceiling: "no-op GET p99, same time",
			ceil: func(r *RepResult) float64 { return ms(r.RetrieveSmall.Floor.P99) }},
		{key: "retrieve_p99_big_floor_ms", name: "/retrieve p99 at " + big + " ÷ no-op floor", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveBig.Load.P99) }, ceiling: "no-op GET p99, same time",
			ceil: func(r *RepResult) float64 { return ms(r.RetrieveBig.Floor.P99) }},
		{key: "retrieve_p50_big_floor_ms", name: "/retrieve p50 at " + big + " ÷ no-op floor", unit: "ms",
			value: func(r *RepResult) float64 { return ms(r.RetrieveBig.Load.P50) }, ceiling: "no-op GET p50, same time",
			ceil: func(r *RepResult) float64 { return ms(r.RetrieveBig.Floor.P50) }},
		{key: "redis_bytes_per_point", name: "Redis stream bytes per point", unit: "bytes",
			value: func(r *RepResult) float64 { return r.BytesPerPoint }, ceiling: "budget",
			ceil: constant(60), target: "≤ 1.00 (60 B)",
			met: func(v, _ float64) bool { return v <= 60 }},
		{key: "ingest_rss_mb", name: "ingest-svc peak RSS", unit: "MB",
			value: func(r *RepResult) float64 { return mb(r.IngestRSS) }, ceiling: "budget",
			ceil: constant(100), target: "≤ 1.00 (100 MB)",
			met: func(v, _ float64) bool { return v <= 100 }},
		{key: "processor_rss_mb", name: "processor-svc peak RSS", unit: "MB",
			value: func(r *RepResult) float64 { return mb(r.ProcessorRSS) }},
		// CPU time per operation: much less sensitive to the neighbours than
		// throughput (a process that is not scheduled uses no CPU).
		{key: "cpu_single_us", name: "CPU per single-point POST (ingest+Redis)", unit: "µs",
			value:   func(r *RepResult) float64 { return r.cpuPer("single", r.Single.Rate(), "ingest", "redis") },
			ceiling: "no-op server", ceil: func(r *RepResult) float64 { return r.cpuPer("noop", r.Noop.Rate(), "noop") }},
		{key: "cpu_batch_redis_us", name: "Redis CPU per point, batches", unit: "µs",
			value:   func(r *RepResult) float64 { return r.cpuPer("batch", r.BatchPoints, "redis") },
			ceiling: "XADD -P 64", ceil: func(r *RepResult) float64 { return r.cpuPer("xadd", r.XAddOps, "redis") }},
		{key: "cpu_batch_ingest_us", name: "ingest-svc CPU per point, batches", unit: "µs",
			value: func(r *RepResult) float64 { return r.cpuPer("batch", r.BatchPoints, "ingest") }},
		{key: "cpu_drain_redis_us", name: "Redis CPU per point, drain", unit: "µs",
			value:   func(r *RepResult) float64 { return r.cpuPer("drain", r.Drain, "redis") },
			ceiling: "raw drain", ceil: func(r *RepResult) float64 { return r.cpuPer("rawdrain", r.RawDrain, "redis") }},
		{key: "cpu_drain_client_us", name: "processor-svc CPU per point, drain", unit: "µs",
			value:   func(r *RepResult) float64 { return r.cpuPer("drain", r.Drain, "processor") },
			ceiling: "raw drain client", ceil: func(r *RepResult) float64 { return r.cpuPer("rawdrain", r.RawDrain, "bench") }},
	}
}

// cpuPer returns the CPU microseconds the named processes used per
// operation in a phase that ran at rate operations per second.
func (r *RepResult) cpuPer(phase string, rate float64, procs ...string) float64 {
	st, ok := r.Phases[phase]
	if !ok || rate <= 0 {
		return 0
	}
	var cores float64
	for _, p := range procs {
		cores += st.Cores[p]
	}
	return cores / rate * 1e6
}

// Recompute derives the figures again from the repetitions and settings of
// a report read back from its JSON (bench report).
func (r *Report) Recompute() {
	cfg := Full()
	cfg.SmallStore, cfg.BigStore = r.Settings.SmallStore, r.Settings.BigStore
	r.Figures = figures(cfg, r.Reps)
}

// figures computes the table from the repetitions.
func figures(cfg Config, reps []*RepResult) []Figure {
	var out []Figure
	for _, s := range figureSpecs(cfg) {
		f := Figure{Key: s.key, Name: s.name, Unit: s.unit, Ceiling: s.ceiling, Target: s.target}
		var ceils []float64
		for _, r := range reps {
			v := s.value(r)
			f.PerRep = append(f.PerRep, v)
			if s.ceil != nil {
				c := s.ceil(r)
				ceils = append(ceils, c)
				if c > 0 {
					f.RatioRep = append(f.RatioRep, v/c)
				}
			}
		}
		f.Value = median(f.PerRep)
		if s.ceil != nil {
			f.CeilVal, f.Ratio = median(ceils), median(f.RatioRep)
		}
		if s.met != nil {
			met := s.met(f.Value, f.Ratio)
			f.Met = &met
		}
		out = append(out, f)
	}
	return out
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
	rows := [][]string{{"figure", "geostream", "unit", "ceiling (same run)", "", "ratio", "target", ""}}
	for _, f := range r.Figures {
		ceil, ratio := "", ""
		if f.Ceiling != "" {
			ceil, ratio = formatValue(f.CeilVal), strconv.FormatFloat(f.Ratio, 'f', 2, 64)
		}
		status := ""
		if f.Met != nil {
			status = map[bool]string{true: "ok", false: "MISS"}[*f.Met]
		}
		rows = append(rows, []string{f.Name, formatValue(f.Value), f.Unit, f.Ceiling, ceil, ratio, f.Target, status})
	}
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	right := []bool{false, true, false, false, true, true, false, false}
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
		status := ""
		if f.Met != nil {
			status = map[bool]string{true: "ok", false: "**miss**"}[*f.Met]
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
