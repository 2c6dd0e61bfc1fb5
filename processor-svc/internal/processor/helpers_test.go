package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/scripts"
)

// testWait bounds every poll of a test.
const testWait = 20 * time.Second

// newMiniredis returns a client of a fresh miniredis.
func newMiniredis(tb testing.TB) (*miniredis.Miniredis, *redis.Client) {
	tb.Helper()
	m := miniredis.RunT(tb)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	tb.Cleanup(func() { c.Close() })
	return m, c
}

func newSchema(tb testing.TB, partitions int) *keys.Schema {
	tb.Helper()
	s, err := keys.New("t", partitions)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// testConfig is a configuration with short intervals for tests; claiming
// and trimming are slow unless a test wants them.
func testConfig(consumer string) Config {
	return Config{
		Consumer:      consumer,
		BatchSize:     50,
		Block:         50 * time.Millisecond,
		ClaimInterval: time.Hour,
		ClaimMinIdle:  time.Hour,
		TrimInterval:  time.Hour,
		TrimStep:      100,
		StatsInterval: time.Hour,
	}
}

func testLogger(tb testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", tb.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// running is a Processor running in the background.
type running struct {
	*Processor
	cancel context.CancelFunc
	done   chan error
}

// start runs a Processor until the test ends or stop is called.
func start(tb testing.TB, c redis.UniversalClient, s *keys.Schema, cfg Config) *running {
	tb.Helper()
	p, err := New(cfg, c, s, testLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Processor: p, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx) }()
	tb.Cleanup(func() { r.stop(tb) })
	return r
}

// stop cancels the processor and returns what Run returned; it fails the
// test when Run does not return in time. It may be called more than once.
func (r *running) stop(tb testing.TB) error {
	tb.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for a later call
		return err
	case <-time.After(testWait):
		tb.Fatalf("Run did not return within %v of cancel", testWait)
		return nil
	}
}

// genPoints returns n deterministic random points over devices devices,
// spread over the whole globe.
func genPoints(seed uint64, n, devices int) []point.Point {
	r := rand.New(rand.NewPCG(seed, 42))
	pts := make([]point.Point, n)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	for i := range pts {
		pts[i] = point.Point{
			DeviceID: fmt.Sprintf("dev-%d", r.IntN(devices)),
			TimeMs:   base + r.Int64N(86_400_000),
			LatE7:    r.Int64N(1_800_000_001) - 900_000_000,
			LonE7:    r.Int64N(3_600_000_001) - 1_800_000_000,
		}
	}
	return pts
}

// appendPoints stores pts in their partitions' streams as ingest-svc does
// for one request: one packed entry per partition.
func appendPoints(tb testing.TB, c redis.UniversalClient, s *keys.Schema, pts []point.Point) {
	tb.Helper()
	if err := tryAppend(c, s, pts); err != nil {
		tb.Fatal(err)
	}
}

// appendEach stores each point of pts as a request of its own (one packed
// entry each), for tests that count entries.
func appendEach(tb testing.TB, c redis.UniversalClient, s *keys.Schema, pts []point.Point) {
	tb.Helper()
	for i := range pts {
		appendPoints(tb, c, s, pts[i:i+1])
	}
}

// decodeAll returns the points of msgs.
func decodeAll(tb testing.TB, msgs []redis.XMessage) []point.Point {
	tb.Helper()
	var pts []point.Point
	for _, m := range msgs {
		var err error
		if pts, _, err = point.DecodeEntry(m.Values, pts); err != nil {
			tb.Fatalf("entry %s: %v", m.ID, err)
		}
	}
	return pts
}

// tryAppend is appendPoints for goroutines other than the test's.
func tryAppend(c redis.UniversalClient, s *keys.Schema, pts []point.Point) error {
	batches := map[int]*scripts.AppendBatch{}
	for i := range pts {
		p := s.PartitionOf(pts[i].DeviceID)
		if batches[p] == nil {
			batches[p] = &scripts.AppendBatch{Stream: s.Stream(p), Backlog: s.Backlog(p)}
		}
		batches[p].Add(&pts[i])
	}
	for _, b := range batches {
		if _, err := b.Run(context.Background(), c); err != nil {
			return err
		}
	}
	return nil
}

// expected returns the sums of pts overall and per device.
func expected(pts []point.Point) (agg.Sums, map[string]agg.Sums) {
	var total agg.Sums
	dev := map[string]agg.Sums{}
	for _, p := range pts {
		total.AddPoint(p)
		d := dev[p.DeviceID]
		d.AddPoint(p)
		dev[p.DeviceID] = d
	}
	return total, dev
}

func readSums(tb testing.TB, c redis.UniversalClient, key string) agg.Sums {
	tb.Helper()
	h, err := c.HGetAll(context.Background(), key).Result()
	if err != nil {
		tb.Fatal(err)
	}
	s, err := agg.FromHash(h)
	if err != nil {
		tb.Fatalf("%s: %v", key, err)
	}
	return s
}

// total returns the all-time sums merged over every partition.
func total(tb testing.TB, c redis.UniversalClient, s *keys.Schema) agg.Sums {
	tb.Helper()
	var t agg.Sums
	for p := range s.Partitions() {
		t.Merge(readSums(tb, c, s.Total(p)))
	}
	return t
}

// waitCount polls until the partitions' totals count want points, and fails
// the test if they do not within testWait or count more.
func waitCount(tb testing.TB, c redis.UniversalClient, s *keys.Schema, want int64) {
	tb.Helper()
	deadline := time.Now().Add(testWait)
	for {
		got := total(tb, c, s).Count
		if got == want {
			return
		}
		if got > want {
			tb.Fatalf("counted %d points, want %d: some were counted twice", got, want)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("counted %d points after %v, want %d", got, testWait, want)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
}

// checkExact fails unless the aggregates equal the sums of pts exactly:
// the partitions' totals, every device's hash and the device index.
func checkExact(tb testing.TB, c redis.UniversalClient, s *keys.Schema, pts []point.Point) {
	tb.Helper()
	wantTotal, wantDev := expected(pts)
	if got := total(tb, c, s); got != wantTotal {
		tb.Errorf("total sums\n got %+v\nwant %+v", got, wantTotal)
	}
	for id, want := range wantDev {
		p := s.PartitionOf(id)
		if got := readSums(tb, c, s.Device(p, id)); got != want {
			tb.Errorf("device %s sums\n got %+v\nwant %+v", id, got, want)
		}
		if _, err := c.ZScore(context.Background(), s.DeviceIndex(p), id).Result(); err != nil {
			tb.Errorf("device %s not in index %s: %v", id, s.DeviceIndex(p), err)
		}
	}
}

// pendingOf returns the number of entries pending for consumer ("" = any)
// over all partitions.
func pendingOf(tb testing.TB, c redis.UniversalClient, s *keys.Schema, consumer string) int64 {
	tb.Helper()
	var n int64
	for p := range s.Partitions() {
		sum, err := c.XPending(context.Background(), s.Stream(p), keys.Group).Result()
		if err != nil {
			tb.Fatal(err)
		}
		if consumer == "" {
			n += sum.Count
		} else {
			n += sum.Consumers[consumer]
		}
	}
	return n
}

// createGroups creates the consumer group on every partition, as a
// processor does at start.
func createGroups(tb testing.TB, c redis.UniversalClient, s *keys.Schema) {
	tb.Helper()
	p, err := New(testConfig("setup"), c, s, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.CreateGroups(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// readAs delivers up to count new entries of every partition to consumer
// without applying them, as a processor that dies right after its read
// would. It returns the number delivered.
func readAs(tb testing.TB, c redis.UniversalClient, s *keys.Schema, consumer string, count int64) int {
	tb.Helper()
	n := 0
	for p := range s.Partitions() {
		res, err := c.XReadGroup(context.Background(), &redis.XReadGroupArgs{
			Group: keys.Group, Consumer: consumer, Streams: []string{s.Stream(p), ">"},
			Count: count, Block: -1,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			tb.Fatal(err)
		}
		for _, r := range res {
			n += len(r.Messages)
		}
	}
	return n
}

// consumers returns the names of the group's consumers on stream.
func consumers(tb testing.TB, c redis.UniversalClient, stream string) []string {
	tb.Helper()
	cs, err := c.XInfoConsumers(context.Background(), stream, keys.Group).Result()
	if err != nil {
		tb.Fatal(err)
	}
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	return names
}
