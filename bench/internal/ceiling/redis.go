package ceiling

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/bench/internal/harness"
)

// Result is one redis-benchmark run: its ops/s and the largest latency it
// saw (ms, at the client: pipelining and scheduling included).
type Result struct {
	OpsPS        float64 `json:"ops_per_s"`
	MaxLatencyMs float64 `json:"max_latency_ms"`
}

// XAdd runs redis-benchmark's XADD with pipeline commands a pipeline (64:
// the ceiling; 1: unpipelined, each of its 50 clients waits for every
// answer) against the server on port. The entry has the fields and value
// sizes of a geostream point, so the figure is the rate Redis can append
// such entries at when nothing else is in the way. The key is deleted
// afterwards.
func XAdd(ctx context.Context, rdb *redis.Client, port string, n, pipeline int) (Result, error) {
	const key = "bench:xadd"
	res, err := benchmark(ctx, port, n, pipeline, 0,
		"XADD", key, "*", "d", "dev-0042", "t", "1737633600123", "lat", "525200000", "lon", "134050000")
	if err != nil {
		return res, err
	}
	if err := rdb.Del(ctx, key).Err(); err != nil {
		return Result{}, fmt.Errorf("del %s: %w", key, err)
	}
	return res, nil
}

// HSetPrefix starts the names of the hashes HSet writes.
const HSetPrefix = "bench:hset:"

// HSet runs redis-benchmark's HSET -P 64 of a device bucket's hash as the
// processor writes it in one call (applysums.lua, absolute mode: the token,
// n, five sums and six bounds) to keys random hashes, most of them written
// before (n well above keys), as a steady load finds them: what Redis pays,
// without any script, to write one of a point's per-device aggregates. The
// caller deletes the hashes (DeleteMatching HSetPrefix+"*"), outside what it
// measures.
func HSet(ctx context.Context, port string, n, keys int) (Result, error) {
	return benchmark(ctx, port, n, 64, keys,
		"HSET", HSetPrefix+"__rand_int__", "v", "1k2mq9x3", "n", "17",
		"slat", "8928400000", "slon", "2278850000", "sx", "6551122334", "sy", "1075566778", "sz", "13452233445",
		"latmin", "525200000", "latmax", "525300000", "lonmin", "134050000", "lonmax", "134060000",
		"tmin", "1737633600123", "tmax", "1737633660123")
}

// DeleteMatching unlinks the keys matching match, a thousand a round trip.
func DeleteMatching(ctx context.Context, rdb *redis.Client, match string) error {
	iter := rdb.Scan(ctx, 0, match, 1000).Iterator()
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := rdb.Unlink(ctx, batch...).Err()
		batch = batch[:0]
		return err
	}
	for iter.Next(ctx) {
		if batch = append(batch, iter.Val()); len(batch) == 1000 {
			if err := flush(); err != nil {
				return fmt.Errorf("unlink %s: %w", match, err)
			}
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("scan %s: %w", match, err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("unlink %s: %w", match, err)
	}
	return nil
}

// benchmark runs redis-benchmark with command against the server on port
// (random keys out of keys when above 0).
func benchmark(ctx context.Context, port string, n, pipeline, keys int, command ...string) (Result, error) {
	args := []string{"-h", "127.0.0.1", "-p", port, "-n", strconv.Itoa(n), "-P", strconv.Itoa(pipeline), "--csv"}
	if keys > 0 {
		args = append(args, "-r", strconv.Itoa(keys))
	}
	out, err := harness.Run(ctx, 5*time.Minute, "redis-benchmark", append(args, command...)...)
	if err != nil {
		return Result{}, err
	}
	return parseBenchmarkCSV(out)
}

// parseBenchmarkCSV reads the rps and max_latency_ms columns of
// redis-benchmark --csv (the latter 0 when absent).
func parseBenchmarkCSV(out string) (Result, error) {
	// Progress lines end in '\r'; keep what follows the last one.
	if i := strings.LastIndexByte(out, '\r'); i >= 0 {
		out = out[i+1:]
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		return Result{}, fmt.Errorf("redis-benchmark csv: %w\n%s", err, out)
	}
	maxCol := -1
	for _, r := range rows {
		if len(r) >= 2 && r[0] == "test" {
			maxCol = slices.Index(r, "max_latency_ms")
			continue
		}
		if len(r) >= 2 {
			var res Result
			if res.OpsPS, err = strconv.ParseFloat(r[1], 64); err != nil {
				return res, fmt.Errorf("redis-benchmark rps %q: %w", r[1], err)
			}
			if maxCol > 0 && maxCol < len(r) {
				res.MaxLatencyMs, _ = strconv.ParseFloat(r[maxCol], 64)
			}
			return res, nil
		}
	}
	return Result{}, fmt.Errorf("redis-benchmark printed no result:\n%s", out)
}

// RawDrain reads every entry of streams through a fresh consumer group
// with XREADGROUP COUNT count and acknowledges each batch with XACK, one
// goroutine a stream as processor-svc does, and returns the entries per
// second. It is the drain ceiling: the consumer-group work the processor
// cannot avoid, without its decoding and Lua. The group is destroyed
// afterwards, so the streams are left as they were.
func RawDrain(ctx context.Context, rdb *redis.Client, streams []string, count int64) (entries int64, rate float64, err error) {
	const group = "bench-rawdrain"
	for _, s := range streams {
		if err := rdb.XGroupCreate(ctx, s, group, "0").Err(); err != nil {
			return 0, 0, fmt.Errorf("xgroup create %s: %w", s, err)
		}
	}
	defer func() {
		for _, s := range streams {
			rdb.XGroupDestroy(context.WithoutCancel(ctx), s, group)
		}
	}()
	var total atomic.Int64
	errs := make([]error, len(streams))
	start := time.Now()
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Go(func() {
			for ctx.Err() == nil {
				res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
					Group: group, Consumer: "raw", Streams: []string{s, ">"}, Count: count, Block: -1,
				}).Result()
				if errors.Is(err, redis.Nil) {
					return
				}
				if err != nil {
					errs[i] = fmt.Errorf("xreadgroup %s: %w", s, err)
					return
				}
				msgs := res[0].Messages
				if len(msgs) == 0 {
					return
				}
				ids := make([]string, len(msgs))
				for j, m := range msgs {
					ids[j] = m.ID
				}
				if err := rdb.XAck(ctx, s, group, ids...).Err(); err != nil {
					errs[i] = fmt.Errorf("xack %s: %w", s, err)
					return
				}
				total.Add(int64(len(msgs)))
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	return total.Load(), float64(total.Load()) / d.Seconds(), ctx.Err()
}
