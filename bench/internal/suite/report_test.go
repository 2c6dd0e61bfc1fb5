package suite

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/bench/internal/harness"
	"github.com/geostream/geostream/bench/internal/load"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// figureByKey returns the figure of key, failing the test without it.
func figureByKey(t *testing.T, figs []Figure, key string) Figure {
	t.Helper()
	for _, f := range figs {
		if f.Key == key {
			return f
		}
	}
	t.Fatalf("no figure %q", key)
	return Figure{}
}

// repOf is a repetition whose phases used the given Redis main-thread CPU
// seconds for the given points, whose processor used procCPU seconds in
// the steady phase, with a longest call in a geostream phase and a longer
// one in a ceiling phase.
func repOf(n int, e2eRedis, xaddRedis, procCPU float64, slowUs int64) *RepResult {
	return &RepResult{
		Rep: n,
		Phases: map[string]phaseStats{
			"xadd":   {Seconds: 1, Points: 1_000_000, RedisCPU: harness.RedisCPU{Main: xaddRedis}, Slowest: harness.SlowCall{Micros: 50_000, Command: "XADD"}},
			"e2e":    {Points: 100_000, RedisCPU: harness.RedisCPU{Main: e2eRedis}, Slowest: harness.SlowCall{Micros: slowUs, Command: "EVALSHA applysums.lua"}},
			"steady": {Points: 20_000, CPU: map[string]float64{"processor": procCPU, "ingest": 0.1}, Slowest: harness.SlowCall{Micros: 300, Command: "XREADGROUP"}},
			"single": {Points: 0, CPU: map[string]float64{"ingest": 1}}, // no points: no figure
		},
		Single:  load.Result{OK: 70, Duration: time.Second},
		Noop:    load.Result{OK: 100, Duration: time.Second},
		XAddOps: 100_000, // end to end 0 points/s: a miss
	}
}

// The ratio is the median of the per-repetition ratios, and the target is
// judged on it; budgets are judged on the value; per-point figures come
// from the phases' CPU and points.
func TestFigures(t *testing.T) {
	reps := []*RepResult{
		repOf(1, 0.5, 4, 0.2, 800),   // 5 µs ÷ 4 µs: 1.25; processor 10 µs
		repOf(2, 0.3, 4, 0.4, 2500),  // 3 ÷ 4: 0.75; 20 µs
		repOf(3, 0.36, 4, 0.28, 900), // 3.6 ÷ 4: 0.9; 14 µs
	}
	figs := figures(Full(), reps)

	f := figureByKey(t, figs, "redis_cpu_e2e_batch_us")
	if math.Abs(f.Value-3.6) > 1e-9 || math.Abs(f.CeilVal-4) > 1e-9 || math.Abs(f.Ratio-0.9) > 1e-9 || f.Met == nil || !*f.Met {
		t.Errorf("Redis CPU per point e2e = %+v, want 3.6 µs ÷ 4 µs = 0.90, met", f)
	}
	f = figureByKey(t, figs, "processor_cpu_steady_us")
	if math.Abs(f.Value-14) > 1e-9 || f.CeilVal != 15 || f.Met == nil || !*f.Met {
		t.Errorf("processor CPU per point steady = %+v, want 14 µs within the 15 µs budget", f)
	}
	f = figureByKey(t, figs, "slowest_redis_call_ms")
	if f.Value != 0.9 || f.Met == nil || !*f.Met || !strings.Contains(f.Detail, "2.50 ms: EVALSHA applysums.lua (e2e, rep 2)") {
		t.Errorf("longest call = %+v, want a median of 0.9 ms (ceiling phases left out), the longest named", f)
	}
	if f := figureByKey(t, figs, "cpu_single_us"); f.Value != 0 || f.Met != nil || f.Detail != "not measured" {
		t.Errorf("a phase without points is not measured, got %+v", f)
	}
	if f := figureByKey(t, figs, "idem_bytes_per_marker"); f.Met != nil || f.Detail != "not measured" {
		t.Errorf("without a steady phase: %+v, want not measured", f)
	}
	f = figureByKey(t, figs, "single_post_rps")
	if f.Value != 70 || f.CeilVal != 100 || f.Ratio != 0.7 || f.Met != nil {
		t.Errorf("single-point figure = %+v", f)
	}
	var buf bytes.Buffer
	(&Report{Figures: figs}).WriteTable(&buf)
	for _, want := range []string{"Redis CPU per point, end to end, 500-pt batches", "0.90", "≤ 1.00", "met", "MISSED", "EVALSHA applysums.lua"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, buf.String())
		}
	}
	buf.Reset()
	(&Report{Figures: figs}).WriteMarkdown(&buf)
	if !strings.Contains(buf.String(), "| Redis CPU per point, end to end, 500-pt batches | 3.60 µs | XADD -P 64, per op 4.00 | 0.90 | ≤ 1.00 | met |") {
		t.Errorf("markdown:\n%s", buf.String())
	}
	if _, err := json.Marshal(figs); err != nil {
		t.Errorf("figures do not encode: %v", err)
	}
}

// A missed target is blocked when a blocking bound row of it misses too,
// and only missed when its bound meets the target.
func TestStatusBlocked(t *testing.T) {
	for _, c := range []struct {
		batchRedis float64 // Redis CPU s for 100k points: bound = 10 µs × this ÷ 4 µs
		want       string
	}{{0.48, "blocked"}, {0.2, "missed"}} {
		r := repOf(1, 0.5, 4, 0.2, 800) // e2e 5 µs ÷ 4 µs: 1.25, missed
		r.Phases["batch"] = phaseStats{Points: 100_000, RedisCPU: harness.RedisCPU{Main: c.batchRedis}}
		figs := figures(Full(), []*RepResult{r})
		f := figureByKey(t, figs, "redis_cpu_e2e_batch_us")
		b := figureByKey(t, figs, "cpu_batch_redis_us")
		if f.Status != c.want || b.Status != "bound" || b.BoundOf != f.Key {
			t.Errorf("bound %v: status %q (%s), bound %q of %q, want %q", c.batchRedis, f.Status, f.Detail, b.Status, b.BoundOf, c.want)
		}
	}
}

func TestTopCommands(t *testing.T) {
	stats := map[string]harness.CmdStat{
		"xadd":    {Calls: 1000, Usec: 3000},
		"evalsha": {Calls: 10, Usec: 9000},
		"hget":    {Calls: 5, Usec: 10},
		"info":    {Calls: 0, Usec: 0},
	}
	got := topCommands(stats, 2000, 2)
	want := []cmdTop{
		{Command: "evalsha", Calls: 10, Usec: 9000, UsecPerCall: 900, CallsPerPoint: 0.005, UsecPerPoint: 4.5},
		{Command: "xadd", Calls: 1000, Usec: 3000, UsecPerCall: 3, CallsPerPoint: 0.5, UsecPerPoint: 1.5},
	}
	if !slices.Equal(got, want) {
		t.Errorf("topCommands = %+v, want %+v", got, want)
	}
	if got := topCommands(stats, 0, 10); len(got) != 3 || got[0].CallsPerPoint != 0 {
		t.Errorf("without points: %+v", got)
	}
}

func TestFormatValue(t *testing.T) {
	for in, want := range map[float64]string{1.234: "1.23", 99.999: "100.00", 1234567: "1,234,567", -4321: "-4,321", 100: "100"} {
		if got := formatValue(in); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", in, got, want)
		}
	}
}

// The steady phase's floor is its HSET calls a point times the HSET
// ceiling's Redis CPU an op, judged against XADD, and blocks the steady
// target when it misses too.
func TestSteadyHSetFloor(t *testing.T) {
	r := repOf(1, 0.5, 4, 0.2, 800) // XADD 4 µs an op
	st := r.Phases["steady"]        // 20,000 points
	st.RedisCPU = harness.RedisCPU{Main: 4}
	st.Redis = map[string]harness.CmdStat{"hset": {Calls: 100_000}}
	r.Phases["steady"] = st
	r.Steady.Sim.ElapsedSeconds = 10
	r.Steady.MarkerHSets = 10_000                                                          // 90,000 left: 4.5 a point
	r.Phases["hset"] = phaseStats{Points: 250_000, RedisCPU: harness.RedisCPU{Main: 1.25}} // 5 µs an op
	figs := figures(Full(), []*RepResult{r})
	b := figureByKey(t, figs, "redis_cpu_steady_hset_floor_us")
	if math.Abs(b.Value-22.5) > 1e-9 || math.Abs(b.Ratio-5.625) > 1e-9 || b.Status != "bound" || !strings.Contains(b.Detail, "4.50 aggregate HSETs a point × 5.00 µs") {
		t.Errorf("floor = %+v, want 4.5 × 5 µs = 22.5 µs, 5.625 × XADD", b)
	}
	if f := figureByKey(t, figs, "redis_cpu_steady_us"); f.Status != "blocked" {
		t.Errorf("steady Redis CPU (200 µs ÷ 4 µs, floor 5.6 ×): status %q, want blocked", f.Status)
	}
	delete(r.Phases, "hset") // an older run: no floor, the target only missed
	figs = figures(Full(), []*RepResult{r})
	if f := figureByKey(t, figs, "redis_cpu_steady_us"); f.Status != "missed" {
		t.Errorf("without the HSET ceiling: status %q, want missed", f.Status)
	}
}

// The markers' figure is per marker; a negative difference (the rest of
// Redis's memory moved more than the markers) is not measured, not met.
func TestMarkerFigure(t *testing.T) {
	r := repOf(1, 0.5, 4, 0.2, 800)
	r.Steady.Sim.ElapsedSeconds = 10
	r.Steady.Idem = IdemMemory{KeysRemembered: 1000, Markers: 4000, BytesPerKey: 100, BytesPerMarker: 25}
	f := figureByKey(t, figures(Full(), []*RepResult{r}), "idem_bytes_per_marker")
	if f.Value != 25 || f.Status != "met" {
		t.Errorf("25 B a marker: %+v, want met", f)
	}
	k := figureByKey(t, figures(Full(), []*RepResult{r}), "idem_bytes_per_key")
	if k.Value != 100 || k.CeilVal != 4 || k.Ratio != 25 {
		t.Errorf("per upload: %+v, want 100 B, 4 markers an upload, 25 B each", k)
	}
	r.Steady.Idem.BytesPerKey, r.Steady.Idem.BytesPerMarker = -57, -14
	if f := figureByKey(t, figures(Full(), []*RepResult{r}), "idem_bytes_per_marker"); f.Met != nil || f.Detail != "not measured" {
		t.Errorf("a negative figure: %+v, want not measured", f)
	}
}
