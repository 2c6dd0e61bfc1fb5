package scripts_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/scripts"
)

// markerBench is a real redis-server and one partition's markers.
type markerBench struct {
	c       *redis.Client
	schema  *keys.Schema
	markers *scripts.Markers
	pts     []point.Point
}

func newMarkerBench(b *testing.B, ttl time.Duration) *markerBench {
	if !hasRedisServer() {
		b.Skip("redis-server not installed")
	}
	schema, err := keys.New("mb", 1)
	if err != nil {
		b.Fatal(err)
	}
	return &markerBench{c: redistest.Start(b).Client(), schema: schema, markers: scripts.NewMarkers(schema, 0, ttl), pts: benchPoints(1, 1, time.Now().UnixMilli())}
}

// store appends n one-point requests, keyed key-<from>… (none when keyed
// is false), per calls of 50 as group commit makes them.
func (m *markerBench) store(b *testing.B, from, n int, keyed bool) {
	ctx := context.Background()
	for i := 0; i < n; {
		var call scripts.AppendCall
		for ; i < n && call.Requests() < 50; i++ {
			ab := &scripts.AppendBatch{Stream: m.schema.Stream(0), Backlog: m.schema.Backlog(0), Fingerprint: strconv.Itoa(from + i)}
			if keyed {
				ab.Key = m.markers.Key(fmt.Sprintf("%016x-key-%d", from, from+i))
			}
			ab.Add(&m.pts[0])
			call.Add(ab)
		}
		if _, err := call.Run(ctx, m.c); err != nil {
			b.Fatal(err)
		}
	}
}

func (m *markerBench) usedMemory(b *testing.B) float64 {
	info, err := m.c.Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	return infoField(b, info, "used_memory")
}

func infoField(b *testing.B, info, field string) float64 {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatalf("no %s in INFO", field)
	return 0
}

// freed deletes the keys matching pattern and returns the used_memory it
// freed: the memory the markers took, net of the stream and everything
// else.
func (m *markerBench) freed(b *testing.B, pattern string) (bytes float64, keys int) {
	ctx := context.Background()
	names, err := m.c.Keys(ctx, pattern).Result()
	if err != nil {
		b.Fatal(err)
	}
	before := m.usedMemory(b)
	for i := 0; i < len(names); i += 500 {
		if err := m.c.Del(ctx, names[i:min(i+500, len(names))]...).Err(); err != nil {
			b.Fatal(err)
		}
	}
	return before - m.usedMemory(b), len(names)
}

// BenchmarkMarkerMemory measures Redis memory per remembered
// Idempotency-Key (used_memory freed by deleting the markers ÷ keys) on a
// real redis-server:
//   - shared: markers.lua's slice hashes, in a slice whose bucket count
//     was sized by the slice before at the same rate (keys a slice: 16384,
//     64 a hash; 10000, ~39 a hash);
//   - per-key: one hash per key with a TTL (n, fp of 32 hex digits), as
//     versions before issue 14 wrote them;
//   - steady: a steady keyed load (1000 requests/s, TTL 1 s) for 5 TTLs:
//     the net memory at one TTL and at the same phase of a slice one and
//     two TTLs later; flat-ratio = their difference ÷ the memory at the
//     first (0 = flat, 1 = grows by as much every TTL). The net memory
//     includes Lua's heap (used_memory counts it), not only markers.
func BenchmarkMarkerMemory(b *testing.B) {
	for _, keys := range []int{16384, 10000} {
		b.Run(fmt.Sprintf("shared/keys=%d", keys), func(b *testing.B) {
			m := newMarkerBench(b, time.Hour)
			now := time.Now()
			m.markers.SetClock(func() time.Time { return now })
			for range b.N {
				m.store(b, 0, keys, true) // sizes the next slice
				now = now.Add(time.Hour)
				m.store(b, keys, keys, true)
				s := now.UnixMilli() / time.Hour.Milliseconds()
				bytes, hashes := m.freed(b, m.schema.Markers(0)+fmt.Sprintf(":%d:%d:*", time.Hour.Milliseconds(), s))
				b.ReportMetric(bytes/float64(keys), "B/marker")
				b.ReportMetric(float64(keys)/float64(hashes), "markers/hash")
				now = now.Add(2 * time.Hour)
			}
		})
	}
	b.Run("per-key", func(b *testing.B) {
		m := newMarkerBench(b, time.Hour)
		ctx := context.Background()
		const keys = 16384
		for range b.N {
			pipe := m.c.Pipeline()
			for i := range keys {
				k := m.schema.Idempotency(0, fmt.Sprintf("%016x-key-%d", 0, i))
				pipe.HSet(ctx, k, "n", 1, "fp", fmt.Sprintf("%032x", i))
				pipe.PExpire(ctx, k, 24*time.Hour)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				b.Fatal(err)
			}
			bytes, _ := m.freed(b, m.schema.Idempotency(0, "*"))
			b.ReportMetric(bytes/keys, "B/marker")
		}
	})
	b.Run("steady", func(b *testing.B) {
		const ttl, rate = time.Second, 1000 // requests/s, in calls of 50
		m := newMarkerBench(b, ttl)
		for range b.N {
			// A TTL of load without keys (what is not markers reaches its
			// size), then keyed load from a quarter into a slice, sampled
			// at the same phase of later slices.
			for range rate / 50 {
				m.store(b, 0, 50, false)
				m.c.XTrimMaxLen(context.Background(), m.schema.Stream(0), 0)
				time.Sleep(time.Second / (rate / 50))
			}
			l := ttl.Milliseconds()
			time.Sleep(time.Duration(l-time.Now().UnixMilli()%l+l/4) * time.Millisecond)
			base := m.usedMemory(b)
			start := time.Now()
			var samples []float64
			next := 0
			for i := 0; ; i++ {
				t := time.Since(start)
				if t >= time.Duration(next+1)*ttl {
					samples = append(samples, m.usedMemory(b)-base)
					next++
				}
				if next == 5 {
					break
				}
				m.store(b, i*50, 50, true)
				// The points are not what is measured: drop them.
				m.c.XTrimMaxLen(context.Background(), m.schema.Stream(0), 0)
				if d := time.Duration(i+1) * time.Second / (rate / 50); d > t {
					time.Sleep(d - t)
				}
			}
			// samples[k]: net memory (k+1) TTLs in; markers live 1-2 TTLs,
			// so from the 2nd on it is steady.
			b.ReportMetric(samples[1], "B@2TTL")
			b.ReportMetric(samples[3], "B@4TTL")
			b.ReportMetric((samples[3]-samples[1])/samples[1], "flat-ratio")
			b.ReportMetric((samples[4]-samples[2])/samples[2], "flat-ratio2")
		}
	})
}

// BenchmarkMarkerCPU measures Redis's time per script call (INFO
// commandstats, usec_per_call of EVALSHA) for calls of 50 one-point
// requests, without and with keys, and per checkkey.lua call.
func BenchmarkMarkerCPU(b *testing.B) {
	usecPerCall := func(b *testing.B, m *markerBench) float64 {
		info, err := m.c.Info(context.Background(), "commandstats").Result()
		if err != nil {
			b.Fatal(err)
		}
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_evalsha:"); ok {
				for _, kv := range strings.Split(v, ",") {
					if s, ok := strings.CutPrefix(kv, "usec_per_call="); ok {
						f, _ := strconv.ParseFloat(s, 64)
						return f
					}
				}
			}
		}
		b.Fatal("no cmdstat_evalsha")
		return 0
	}
	for _, keyed := range []bool{false, true} {
		b.Run(fmt.Sprintf("append/keyed=%v", keyed), func(b *testing.B) {
			m := newMarkerBench(b, time.Minute)
			m.store(b, 0, 5000, keyed) // loads the script, sizes the buckets
			for range b.N {
				m.c.ConfigResetStat(context.Background())
				m.store(b, 5000, 20000, keyed)
				b.ReportMetric(usecPerCall(b, m), "µs/call")
				b.ReportMetric(usecPerCall(b, m)/50, "µs/request")
			}
		})
	}
	b.Run("checkkey", func(b *testing.B) {
		m := newMarkerBench(b, time.Minute)
		m.store(b, 0, 5000, true)
		ctx := context.Background()
		for range b.N {
			m.c.ConfigResetStat(ctx)
			for i := range 5000 {
				ks := []*scripts.MarkerKey{m.markers.Key(fmt.Sprintf("%016x-key-%d", 0, i*7%10000))}
				if _, err := scripts.CheckKeys(ctx, m.c, ks, "x"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(usecPerCall(b, m), "µs/call")
		}
	})
}
