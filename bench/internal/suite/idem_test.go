package suite

import (
	"math"
	"testing"
	"time"
)

// samplesOf simulates a keyed load of rate uploads/s with markers of
// perKey bytes and a TTL, over load seconds, sampled every 0.2 s until
// wait seconds after the load: the aggregates (base) appear in the first
// second, the streams' and the buffers' memory (subtracted) jitter, and
// expired markers
// are freed only when expire is set.
func samplesOf(rate, perKey, ttl, load, wait float64, expire bool) []memSample {
	var out []memSample
	for i := 0; ; i++ {
		t := float64(i) * 0.2
		if t > load+wait {
			return out
		}
		base := 1e6 + 5e5*math.Min(t, 1)
		alive := math.Min(t, load) // seconds of uploads whose markers exist
		if expire {
			alive -= math.Max(0, t-ttl)
			alive = math.Max(alive, 0)
		}
		streams, buffers := int64(2e4*float64(i%5)), int64(3e4*float64(i%3))
		out = append(out, memSample{T: t, Used: int64(base+alive*rate*perKey) + streams + buffers, Buffers: buffers, Streams: streams})
	}
}

func TestIdemMemoryAnalyze(t *testing.T) {
	for _, c := range []struct {
		name                 string
		expire               bool
		wantGrowthAfterRatio float64
	}{
		{"markers expire: flat after the TTL", true, 0},
		{"markers never expire: growth goes on", false, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			const rate, perKey, ttl, load = 100.0, 40.0, 10.0, 30.0
			// Four markers an upload (four partitions touched).
			m := IdemMemory{TTL: 10 * time.Second, KeysRemembered: int64(rate * ttl), Markers: int64(4 * rate * ttl)}
			m.analyze(samplesOf(rate, perKey, ttl, load, 15, c.expire), load, rate)
			near := func(got, want float64) bool { return math.Abs(got-want) <= 0.1*perKey }
			if !near(m.GrowthBefore, perKey) {
				t.Errorf("growth before the TTL = %.2f bytes/upload, want %v", m.GrowthBefore, perKey)
			}
			if !near(m.GrowthAfter, c.wantGrowthAfterRatio*perKey) {
				t.Errorf("growth after the TTL = %.2f bytes/upload, want %v", m.GrowthAfter, c.wantGrowthAfterRatio*perKey)
			}
			wantPerKey := 0.0
			if c.expire {
				wantPerKey = perKey
			}
			if !near(m.BytesPerKey, wantPerKey) {
				t.Errorf("bytes per key = %.2f, want %v (end %.0f, after %.0f)", m.BytesPerKey, wantPerKey, m.EndBytes, m.AfterBytes)
			}
			if !near(4*m.BytesPerMarker, wantPerKey) {
				t.Errorf("bytes per marker = %.2f, want a quarter of %v", m.BytesPerMarker, wantPerKey)
			}
		})
	}
	var empty IdemMemory
	empty.analyze(nil, 30, 100) // no samples: zeros, no panic
	if empty.BytesPerKey != 0 || empty.GrowthBefore != 0 {
		t.Errorf("no samples: %+v", empty)
	}
}

func TestNetAround(t *testing.T) {
	s := []memSample{{T: 0, Used: 100}, {T: 1, Used: 300, Streams: 100}, {T: 1.2, Used: 250}, {T: 1.4, Used: 1100, Streams: 700, Buffers: 100}, {T: 5, Used: 50}}
	if got := netAround(s, 1.2); got != 250 { // median of 200, 250, 300 (used − streams − buffers)
		t.Errorf("netAround(1.2) = %v, want 250", got)
	}
	if got := netAround(s, 3.8); got != 50 { // nothing within 0.5 s: the nearest
		t.Errorf("netAround(3.8) = %v, want 50", got)
	}
}
