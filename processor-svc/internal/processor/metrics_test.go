package processor

import (
	"math"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redistest"
)

func gauge(t *testing.T, reg *prometheus.Registry, name, partition string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "partition" && l.GetValue() == partition {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no %s{partition=%q}", name, partition)
	return 0
}

// TestMetrics runs on a real redis-server: miniredis does not keep the
// group's lag (entries-read) the way Redis 7 does.
func TestMetrics(t *testing.T) {
	c := redistest.Start(t).Client()
	s := newSchema(t, 2)
	pts := genPoints(9, 300, 5)
	createGroups(t, c, s)
	appendEach(t, c, s, pts)
	// A dead consumer holds some entries (7 per partition); the rest is lag
	// until a processor runs.
	held := readAs(t, c, s, "dead", 7)

	r := start(t, c, s, testConfig("a"))
	reg := prometheus.NewRegistry()
	if err := r.Register(reg); err != nil {
		t.Fatal(err)
	}
	waitCount(t, c, s, int64(len(pts)-held))
	var pending, lag float64
	for p := 0; p < 2; p++ {
		pending += gauge(t, reg, "geostream_processor_pending_entries", string(rune('0'+p)))
		lag += gauge(t, reg, "geostream_processor_lag_entries", string(rune('0'+p)))
	}
	if pending != float64(held) || lag != 0 {
		t.Errorf("pending %v, lag %v; want %d (the dead consumer's) and 0", pending, lag, held)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg, "geostream_processor_points_applied_total", "geostream_processor_batch_duration_seconds")
	if err != nil || n != 2 {
		t.Fatalf("gathered %d series, %v", n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "geostream_processor_points_applied_total" {
			if got := mf.GetMetric()[0].GetCounter().GetValue(); got != float64(len(pts)-held) {
				t.Errorf("points applied = %v, want %d", got, len(pts)-held)
			}
		}
	}
}

// TestLagUnknownOnMiniredis: miniredis reports the stream length as the lag
// once entries were delivered; the gauge says it cannot tell instead of
// showing a false backlog.
func TestLagUnknownOnMiniredis(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	s := newSchema(t, 1)
	createGroups(t, c, s)
	appendPoints(t, c, s, genPoints(1, 5, 1))
	reg := prometheus.NewRegistry()
	reg.MustRegister(&partitionCollector{p: &Processor{client: c, schema: s}})
	if got := gauge(t, reg, "geostream_processor_lag_known", "0"); got != 1 {
		t.Errorf("lag_known before any read = %v, want 1 (nothing delivered: the lag is the stream)", got)
	}
	readAs(t, c, s, "c", 5)
	if got := gauge(t, reg, "geostream_processor_lag_known", "0"); got != 0 {
		t.Errorf("lag_known after a read = %v, want 0", got)
	}
	if got := gauge(t, reg, "geostream_processor_lag_entries", "0"); !math.IsNaN(got) {
		t.Errorf("lag_entries = %v although unknown, want NaN", got)
	}
}
