package ingest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/scripts"
	"github.com/geostream/geostream/streamkit/window"
)

// benchDevices is the number of devices of the benchmark stores.
const benchDevices = 1000

// BenchmarkQueries measures GET /retrieve?window=24h&interval=1h and GET
// /devices on a store of 10k points and one of 1M points: the time per
// query must not grow with the points stored, because both read a fixed
// number of aggregate hashes (24 hours × 4 partitions; 4 index ranges +
// 100 devices).
//
// The stores are built on a real redis-server (the benchmark is skipped
// without one) by the real write path: points appended to the partition
// streams by append.lua, then counted by apply.lua with the keys of
// window.Set.AggKeys, in batches of 10,000 entries as a processor would
// read them. Points are spread uniformly over the 24 h before the clock,
// 1000 devices and the whole globe. The streams are deleted afterwards:
// queries never read them, and they hold most of the memory.
func BenchmarkQueries(b *testing.B) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		b.Skip("redis-server not installed")
	}
	srv := redistest.Start(b)
	c := srv.Client()
	wins := defaultWindows()
	now := time.Now() // real time: Redis expires buckets by its own clock
	sizes := []struct {
		name   string
		points int
	}{{"10k", 10_000}, {"1M", 1_000_000}}
	routers := make([]http.Handler, len(sizes))
	for i, sz := range sizes {
		schema, err := keys.New("bench"+sz.name, 4)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		populate(b, c, schema, wins, now, sz.points)
		b.Logf("%s points stored and counted in %v", sz.name, time.Since(start).Round(time.Millisecond))
		routers[i] = NewRouter(DefaultRouterConfig(), Deps{Redis: c, Schema: schema, Windows: wins, Now: func() time.Time { return now }})
	}
	for _, path := range []string{"/retrieve?window=24h&interval=1h", "/devices"} {
		for i, sz := range sizes {
			b.Run(fmt.Sprintf("%s/points=%s", path[1:], sz.name), func(b *testing.B) {
				for b.Loop() {
					rec := httptest.NewRecorder()
					routers[i].ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
					if rec.Code != http.StatusOK {
						b.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
					}
				}
			})
		}
	}
}

// populate stores n random points and counts them as a processor would.
func populate(b *testing.B, c redis.UniversalClient, sc *keys.Schema, wins window.Set, now time.Time, n int) {
	b.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(uint64(n), 7))
	day := (24 * time.Hour).Milliseconds()
	const chunk = 10_000
	batches := make([]*scripts.AppendBatch, sc.Partitions())
	flush := func() {
		pipe := c.Pipeline()
		var cmds []*redis.Cmd
		for p, bt := range batches {
			if bt != nil && bt.Len() > 0 {
				keys, args := bt.Args()
				cmds = append(cmds, scripts.Append.Eval(ctx, pipe, keys, args...))
			}
			batches[p] = nil
		}
		pipe.Exec(ctx)
		for _, cmd := range cmds {
			if err := cmd.Err(); err != nil {
				b.Fatalf("append: %v", err)
			}
		}
	}
	for i := range n {
		p := point.Point{
			DeviceID: fmt.Sprintf("dev-%04d", r.IntN(benchDevices)),
			TimeMs:   now.UnixMilli() - day + int64(i)*day/int64(n), // in time order, as devices report
			LatE7:    r.Int64N(1_800_000_001) - 900_000_000,
			LonE7:    r.Int64N(3_600_000_001) - 1_800_000_000,
		}
		part := sc.PartitionOf(p.DeviceID)
		if batches[part] == nil {
			batches[part] = &scripts.AppendBatch{Stream: sc.Stream(part), Backlog: sc.Backlog(part)}
		}
		batches[part].Add(&p)
		if i%chunk == chunk-1 {
			flush()
		}
	}
	flush()
	process(b, c, sc, wins, now.UnixMilli(), scripts.MaxApplyEntries)
	for p := range sc.Partitions() {
		if err := c.Del(ctx, sc.Stream(p)).Err(); err != nil {
			b.Fatal(err)
		}
	}
}
