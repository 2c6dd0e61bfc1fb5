package suite

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/bench/internal/harness"
	"github.com/geostream/geostream/bench/internal/load"
	"github.com/geostream/geostream/streamkit/keys"
)

// env is what a run shares between repetitions: the Redis server, the
// no-op server, the request bodies and the key names.
type env struct {
	cfg    Config
	dir    string
	log    io.Writer
	redis  *harness.Redis
	noop   *harness.Proc
	single [][]byte // one point each
	batch  [][]byte // cfg.BatchPoints points each
	// fillers are batches of only fillDevices devices, which the
	// processor counts fast: they fill the big store of the /retrieve
	// stage, whose query reads the partition totals only.
	fillers [][]byte
	http    *http.Client
}

const jsonType = "application/json"

// bin returns the path of a binary of the run.
func (e *env) bin(name string) string { return filepath.Join(e.cfg.BinDir, name) }

func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// commonArgs are the flags both services get: this run's Redis, a free
// port, quiet logs.
func (e *env) commonArgs(prefix string) ([]string, string, error) {
	return e.commonArgsAt(e.redis.URL(), prefix)
}

// commonArgsAt is commonArgs with another Redis.
func (e *env) commonArgsAt(redisURL, prefix string) ([]string, string, error) {
	addr, err := harness.FreeAddr()
	if err != nil {
		return nil, "", err
	}
	return []string{
		"--redis-url", redisURL, "--http-addr", addr, "--key-prefix", prefix,
		"--partitions", strconv.Itoa(e.cfg.Partitions),
		"--log-format", "json", "--log-level", "warn", "--shutdown-grace", "3s",
	}, addr, nil
}

// startIngest starts ingest-svc with its defaults, except a backlog limit
// high enough that the ingest-only phases (no processor running) are not
// refused (the script still checks it, so the work per call is the same),
// and extra flags.
func (e *env) startIngest(prefix string, extra ...string) (*harness.Proc, error) {
	return e.startIngestAt(e.redis.URL(), prefix, extra...)
}

// startIngestAt is startIngest with another Redis.
func (e *env) startIngestAt(redisURL, prefix string, extra ...string) (*harness.Proc, error) {
	args, addr, err := e.commonArgsAt(redisURL, prefix)
	if err != nil {
		return nil, err
	}
	args = append(append(args, "--backlog-limit", "100000000"), extra...)
	return harness.StartHTTP(e.dir, "ingest-svc", addr, "/readyz", e.bin("ingest-svc"), args...)
}

// startProcessor starts processor-svc with its defaults, the consumer name
// "bench-processor", and extra flags.
func (e *env) startProcessor(prefix string, extra ...string) (*harness.Proc, error) {
	args, addr, err := e.commonArgs(prefix)
	if err != nil {
		return nil, err
	}
	args = append(append(append(args, "--consumer", "bench-processor"), extra...), e.cfg.ProcessorFlags...)
	return harness.StartHTTP(e.dir, "processor-svc", addr, "/readyz", e.bin("processor-svc"), args...)
}

// schemaOf returns the key schema of a key prefix.
func (e *env) schemaOf(prefix string) *keys.Schema {
	sc, err := keys.New(prefix, e.cfg.Partitions)
	if err != nil {
		panic(err) // the prefixes are the benchmark's constants
	}
	return sc
}

// streams returns the partition stream keys of a schema.
func streams(sc *keys.Schema) []string {
	s := make([]string, sc.Partitions())
	for p := range s {
		s[p] = sc.Stream(p)
	}
	return s
}

// ingest-svc's counters of what it stored: points, and uploads (with
// their points, each a histogram observation). Replays of an
// Idempotency-Key count again; the benchmark's wrk loads send no keys.
const (
	acceptedPoints  = "geostream_ingest_points_accepted_total"
	acceptedUploads = "geostream_ingest_batch_points_count"
)

// accepted returns the points and uploads an ingest-svc has stored since
// it started, from its own metrics. Points are counted this way, never
// from the streams' entries: an entry may hold several points.
func (e *env) accepted(ctx context.Context, ingest *harness.Proc) (points, uploads int64, err error) {
	m, err := harness.Scrape(ctx, e.http, ingest.URL()+"/metrics")
	if err != nil {
		return 0, 0, err
	}
	return int64(m[acceptedPoints]), int64(m[acceptedUploads]), nil
}

// settled is accepted once the counter has stopped moving: requests a load
// generator left in flight when it stopped are still stored (and counted)
// after it returns. It reads every 50 ms until two reads agree, for at most
// 10 s.
func (e *env) settled(ctx context.Context, ingest *harness.Proc) (points, uploads int64, err error) {
	points, uploads, err = e.accepted(ctx, ingest)
	for deadline := time.Now().Add(10 * time.Second); err == nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond) // polling interval
		p, u, err2 := e.accepted(ctx, ingest)
		if err2 != nil || (p == points && u == uploads) {
			return points, uploads, err2
		}
		points, uploads = p, u
	}
	return points, uploads, err
}

// countedRedis returns the points counted in the partitions' totals, read
// from Redis: the data_count /retrieve would answer, without the HTTP hop.
func (e *env) countedRedis(ctx context.Context, sc *keys.Schema) (int64, error) {
	pipe := e.redis.Client.Pipeline()
	cmds := make([]*redis.StringCmd, sc.Partitions())
	for p := range cmds {
		cmds[p] = pipe.HGet(ctx, sc.Total(p), "n")
	}
	_, _ = pipe.Exec(ctx)
	var n int64
	for _, c := range cmds {
		v, err := c.Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, fmt.Errorf("hget total n: %w", err)
		}
		n += v
	}
	return n, nil
}

// counted returns GET /retrieve's data_count (0 for its "no data" 400).
func (e *env) counted(ctx context.Context, ingest *harness.Proc) (int64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ingest.URL()+"/retrieve", nil)
	resp, err := e.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("retrieve: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		DataCount int64  `json:"data_count"`
		Error     string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("retrieve: %s: %w", resp.Status, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		return body.DataCount, nil
	case resp.StatusCode == http.StatusBadRequest && strings.HasPrefix(body.Error, "No data"):
		return 0, nil
	}
	return 0, fmt.Errorf("retrieve: %s %s", resp.Status, body.Error)
}

// waitCounted polls /retrieve every 20 ms until data_count reaches want,
// and returns when it first saw it reached. (Points, not entries: the
// processors count points into the totals whatever an entry holds.)
func (e *env) waitCounted(ctx context.Context, ingest *harness.Proc, want int64, timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	var last int64
	for {
		n, err := e.counted(ctx, ingest)
		if err == nil && n >= want {
			return time.Now(), nil
		}
		if err == nil {
			last = n
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("wait until %d points are counted: %d after %v (last error %v)", want, last, timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// load runs a closed-loop load with the run's generator.
func (e *env) load(ctx context.Context, s load.Spec) (load.Result, error) {
	return load.Run(ctx, e.dir, s, e.cfg.UseWrk)
}

// warm runs s for the warm-up time, its result dropped.
func (e *env) warm(ctx context.Context, s load.Spec) error {
	if e.cfg.Warmup <= 0 {
		return nil
	}
	s.Duration = e.cfg.Warmup
	_, err := e.load(ctx, s)
	return err
}

// streamBytes returns the memory of the partition streams (MEMORY USAGE
// with every listpack sampled); a missing stream counts 0.
func (e *env) streamBytes(ctx context.Context, sc *keys.Schema) (int64, error) {
	pipe := e.redis.Client.Pipeline()
	cmds := make([]*redis.IntCmd, sc.Partitions())
	for p := range cmds {
		cmds[p] = pipe.MemoryUsage(ctx, sc.Stream(p), 0)
	}
	_, _ = pipe.Exec(ctx)
	var bytes int64
	for p, c := range cmds {
		b, err := c.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return 0, fmt.Errorf("memory usage %s: %w", sc.Stream(p), err)
		}
		bytes += b
	}
	return bytes, nil
}

// streamEntries returns the entries the partition streams hold (XLEN).
func (e *env) streamEntries(ctx context.Context, sc *keys.Schema) (int64, error) {
	var n int64
	for _, s := range streams(sc) {
		v, err := e.redis.Client.XLen(ctx, s).Result()
		if err != nil {
			return 0, fmt.Errorf("xlen %s: %w", s, err)
		}
		n += v
	}
	return n, nil
}

// stableFor is how long the totals must stay unchanged, once they count
// what ingest-svc acknowledged, before waitStable takes them as final:
// requests a load generator cut off when it stopped may have been stored
// without being acknowledged (nor counted by ingest-svc), and the processor
// counts them too, within its linger (100 ms) and a call.
const stableFor = 500 * time.Millisecond

// waitStable polls the partition totals every 20 ms until they count at
// least atLeast points and have not changed for stableFor, and returns the
// count and when it was first seen.
func (e *env) waitStable(ctx context.Context, sc *keys.Schema, atLeast int64, timeout time.Duration) (int64, time.Time, error) {
	deadline := time.Now().Add(timeout)
	var last int64 = -1
	var since time.Time
	for {
		n, err := e.countedRedis(ctx, sc)
		now := time.Now()
		if err == nil && n != last {
			last, since = n, now
		}
		if err == nil && n >= atLeast && now.Sub(since) >= stableFor {
			return n, since, nil
		}
		if now.After(deadline) || ctx.Err() != nil {
			return last, since, fmt.Errorf("wait until %d points are counted: %d after %v (error %v)", atLeast, last, timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
