package scripts_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/scripts"
	"github.com/geostream/geostream/streamkit/window"
)

// benchPoints returns n points of the given number of devices, one second
// apart, spread over the globe.
func benchPoints(n, devices int, start int64) []point.Point {
	pts := make([]point.Point, n)
	for i := range pts {
		pts[i] = point.Point{
			DeviceID: fmt.Sprintf("dev-%04d", i%devices),
			TimeMs:   start + int64(i)*1000,
			LatE7:    int64(i*7919%1_800_000_000) - 900_000_000,
			LonE7:    int64(i*104729%3_600_000_000) - 1_800_000_000,
		}
	}
	return pts
}

// BenchmarkAppendBatch builds the arguments of one append.lua call (ingest's
// per-request encode): one point, and a 500-point batch.
func BenchmarkAppendBatch(b *testing.B) {
	for _, n := range []int{1, 500} {
		pts := benchPoints(n, 100, 1_737_633_600_000)
		b.Run(fmt.Sprintf("points=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ab := scripts.AppendBatch{Stream: "gs:{p0}:points", BacklogLimit: 1_000_000}
				for i := range pts {
					ab.Add(&pts[i])
				}
				_, _ = ab.Args()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/point")
		})
	}
}

// BenchmarkApplyBatch builds the arguments of one apply.lua call of 500
// entries as processor-svc does: decode each entry, name its aggregates
// (window.Set.AggKeys with the default resolutions), add it.
func BenchmarkApplyBatch(b *testing.B) {
	wins, err := window.Parse(window.DefaultSpec)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := keys.New("", 4)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UnixMilli()
	pts := benchPoints(500, 250, now-600_000)
	msgs := make([]redis.XMessage, len(pts))
	for i, p := range pts {
		fields := p.AppendLegacyFields(nil)
		v := map[string]any{}
		for j := 0; j < len(fields); j += 2 {
			v[fields[j]] = fields[j+1]
		}
		msgs[i] = redis.XMessage{ID: fmt.Sprintf("%d-%d", now, i), Values: v}
	}
	b.ReportAllocs()
	var aggs []scripts.AggKey
	for b.Loop() {
		ab := scripts.NewApplyBatch(sc.Stream(0), sc.DeviceIndex(0), sc.Geo(0))
		for _, m := range msgs {
			p, err := point.FromValues(m.Values)
			if err != nil {
				b.Fatal(err)
			}
			aggs = wins.AggKeys(sc, 0, p, now, aggs)
			if err := ab.Add(m.ID, p, sc.Device(0, p.DeviceID), aggs); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/entry")
}

// backends returns the Redis backends the script benchmarks run on:
// miniredis always, a real redis-server when one is installed.
func backends(b *testing.B) map[string]*redis.Client {
	m := miniredis.RunT(b)
	mc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	b.Cleanup(func() { mc.Close() })
	out := map[string]*redis.Client{"miniredis": mc}
	if redistest.Required() || hasRedisServer() {
		out["redis-server"] = redistest.Start(b).Client()
	}
	return out
}

// BenchmarkAppendRun runs one append.lua call: a single point (one
// single-point upload) and 500 points of one partition.
func BenchmarkAppendRun(b *testing.B) {
	ctx := context.Background()
	for name, c := range backends(b) {
		for _, n := range []int{1, 500} {
			b.Run(fmt.Sprintf("%s/points=%d", name, n), func(b *testing.B) {
				sc, err := keys.New(fmt.Sprintf("ba%d", n), 1)
				if err != nil {
					b.Fatal(err)
				}
				ab := scripts.AppendBatch{Stream: sc.Stream(0), BacklogLimit: 1 << 40}
				pts := benchPoints(n, 100, 1_737_633_600_000)
				for i := range pts {
					ab.Add(&pts[i])
				}
				for b.Loop() {
					if _, err := ab.Run(ctx, c); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/point")
				c.Del(ctx, sc.Stream(0))
			})
		}
	}
}

// BenchmarkApplyRun runs one apply.lua call of 500 fresh entries (appended
// and delivered to the group outside the timing) with the default
// resolutions, for batches holding 1, 50 or 250 devices: the script's cost
// grows with the aggregate hashes it touches (4 per device, 4 per
// partition), not with the entries.
func BenchmarkApplyRun(b *testing.B) {
	ctx := context.Background()
	wins, err := window.Parse(window.DefaultSpec)
	if err != nil {
		b.Fatal(err)
	}
	for name, c := range backends(b) {
		for _, devices := range []int{1, 50, 250} {
			b.Run(fmt.Sprintf("%s/devices=%d", name, devices), func(b *testing.B) {
				sc, err := keys.New(fmt.Sprintf("bp%d", devices), 1)
				if err != nil {
					b.Fatal(err)
				}
				stream := sc.Stream(0)
				if err := c.XGroupCreateMkStream(ctx, stream, keys.Group, "$").Err(); err != nil {
					b.Fatal(err)
				}
				now := time.Now().UnixMilli()
				pts := benchPoints(500, devices, now-600_000)
				for b.Loop() {
					b.StopTimer()
					batch := scripts.NewApplyBatch(stream, sc.DeviceIndex(0), sc.Geo(0))
					addEntries(b, deliver(b, c, stream, pts), sc, wins, now, batch.Add)
					b.StartTimer()
					if r, err := batch.Run(ctx, c, keys.Group); err != nil || r.Applied != 500 {
						b.Fatalf("apply: %+v, %v", r, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/entry")
				c.Del(ctx, stream)
			})
		}
	}
}

// BenchmarkApplySumsRun runs one applysums.lua call (the processor's fast
// path) of fresh entries on redis-server, in delta mode and in absolute
// mode (SumBatch.Prepare, timed with the call), with AOF off and with AOF
// everysec as compose runs it: Redis writes every command a script makes
// to the AOF, so the number of writes per entry matters as much as the
// commands' own cost. The batch is the processor's default read (5,000
// entries) from 250 devices, a partition's share of the benchmark's
// 1,000-device fleet.
func BenchmarkApplySumsRun(b *testing.B) {
	if !redistest.Required() && !hasRedisServer() {
		b.Skip("redis-server not installed")
	}
	ctx := context.Background()
	wins, err := window.Parse(window.DefaultSpec)
	if err != nil {
		b.Fatal(err)
	}
	for _, aof := range []string{"no", "yes"} {
		c := redistest.Start(b, "--appendonly", aof, "--appendfsync", "everysec").Client()
		for _, tc := range []struct {
			entries, devices int
			mode             string
		}{{5000, 250, "delta"}, {5000, 250, "absolute"}, {5000, 5000, "delta"}, {5000, 5000, "absolute"}, {500, 250, "delta"}, {500, 250, "absolute"}} {
			b.Run(fmt.Sprintf("aof=%s/entries=%d/devices=%d/mode=%s", aof, tc.entries, tc.devices, tc.mode), func(b *testing.B) {
				sc, err := keys.New(fmt.Sprintf("bs%d%s", tc.devices, tc.mode), 1)
				if err != nil {
					b.Fatal(err)
				}
				stream := sc.Stream(0)
				if err := c.XGroupCreateMkStream(ctx, stream, keys.Group, "$").Err(); err != nil {
					b.Fatal(err)
				}
				now := time.Now().UnixMilli()
				pts := benchPoints(tc.entries, tc.devices, now-600_000)
				for i := range pts {
					pts[i].TimeMs = now - 600_000 + int64(i)*10 // 10 ms apart, as in bench/run
				}
				for b.Loop() {
					b.StopTimer()
					batch := scripts.NewSumBatch(stream, sc.DeviceIndex(0), sc.Geo(0))
					addEntries(b, deliver(b, c, stream, pts), sc, wins, now, batch.Add)
					b.StartTimer()
					if tc.mode == "absolute" { // the caller's read is part of the cost
						if err := batch.Prepare(ctx, c); err != nil {
							b.Fatal(err)
						}
					}
					if n, all, err := batch.Run(ctx, c, keys.Group, "bench"); err != nil || !all || n != int64(tc.entries) {
						b.Fatalf("apply sums: %d %v %v", n, all, err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tc.entries), "ns/entry")
				c.Del(ctx, stream)
			})
		}
	}
}

// deliver appends pts to stream (500 a call) and reads them back as
// consumer "bench" of the group, as the processor receives them.
func deliver(b *testing.B, c *redis.Client, stream string, pts []point.Point) []redis.XMessage {
	ctx := context.Background()
	for lo := 0; lo < len(pts); lo += 500 {
		ab := scripts.AppendBatch{Stream: stream}
		for i := lo; i < min(lo+500, len(pts)); i++ {
			ab.Add(&pts[i])
		}
		if _, err := ab.Run(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
	res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: keys.Group, Consumer: "bench", Streams: []string{stream, ">"}, Count: int64(len(pts)), Block: -1,
	}).Result()
	if err != nil {
		b.Fatal(err)
	}
	return res[0].Messages
}

// addEntries decodes msgs and adds each, with its aggregates, to a batch
// through add (ApplyBatch.Add or SumBatch.Add).
func addEntries(b *testing.B, msgs []redis.XMessage, sc *keys.Schema, wins window.Set, now int64,
	add func(id string, p point.Point, deviceKey string, aggs []scripts.AggKey) error) {
	var aggs []scripts.AggKey
	for _, m := range msgs {
		p, err := point.FromValues(m.Values)
		if err != nil {
			b.Fatal(err)
		}
		aggs = wins.AggKeys(sc, 0, p, now, aggs)
		if err := add(m.ID, p, sc.Device(0, p.DeviceID), aggs); err != nil {
			b.Fatal(err)
		}
	}
}
