package scripts

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

// stored decodes every entry of the fixture's stream, in order.
func (f *fixture) stored(t *testing.T) (pts []point.Point, entries int) {
	t.Helper()
	msgs, err := f.c.XRange(context.Background(), f.schema.Stream(0), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if pts, _, err = point.DecodeEntry(m.Values, pts); err != nil {
			t.Fatalf("entry %s: %v", m.ID, err)
		}
	}
	return pts, len(msgs)
}

// counter returns the partition's backlog counter.
func (f *fixture) counter(t *testing.T) int64 {
	t.Helper()
	n, err := f.c.Get(context.Background(), f.schema.Backlog(0)).Int64()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	return n
}

func pointsWithExtras(r *rand.Rand, n int) []point.Point {
	pts := randomPoints(r, n, "a", "dev-0042", "x:y.z_w-1")
	floats := []float64{0, 1, -12.5, 359.99, 1e21, 1e-7, 123456789.125, 4.9e-324, 3.25}
	for i := range pts {
		e := &pts[i].Extras
		for _, dst := range []**float64{&e.Altitude, &e.Speed, &e.Heading, &e.Accuracy, &e.Battery} {
			if r.IntN(3) == 0 {
				f := floats[r.IntN(len(floats))]
				*dst = &f
			}
		}
	}
	return pts
}

// Every point comes back exactly, extras included, one entry per call.
func TestAppendStoresEveryPoint(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		pts := pointsWithExtras(rand.New(rand.NewPCG(7, 8)), 50)
		f.appendPacked(t, pts, 20)
		got, entries := f.stored(t)
		if entries != 3 {
			t.Errorf("%d entries, want 3 (one per call)", entries)
		}
		if !reflect.DeepEqual(got, pts) {
			t.Errorf("stored points differ from those sent")
		}
		if n := f.counter(t); n != 50 {
			t.Errorf("backlog counter = %d, want 50 (invariant 4)", n)
		}
	})
}

// A retry with the same idempotency key stores nothing and reports what the
// first attempt stored (append.lua, invariant 2).
func TestAppendIdempotent(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		ctx := context.Background()
		b := f.batchOf(randomPoints(rand.New(rand.NewPCG(9, 10)), 7, "a"), "k1", "fp-1", 0)
		first, err := b.Run(ctx, c)
		if err != nil || first != (AppendResult{Stored: 7}) {
			t.Fatalf("first = %+v, %v", first, err)
		}
		b.Fingerprint = "fp-2" // a retry (or a misuse of the key with other content)
		again, err := b.Run(ctx, c)
		if err != nil || again != (AppendResult{Stored: 7, Replayed: true, OtherContent: true}) {
			t.Fatalf("retry = %+v, %v", again, err)
		}
		if pts, _ := f.stored(t); len(pts) != 7 || f.counter(t) != 7 {
			t.Fatalf("%d points stored, counter %d; want 7, 7", len(pts), f.counter(t))
		}
		_, cur, _ := f.markers.Key("k1").names(f.markers.view())
		if ttl, _ := c.PTTL(ctx, cur).Result(); ttl < time.Minute || ttl > 2*time.Minute {
			t.Errorf("marker hash TTL = %v, want 1-2 minutes (its slice's end + the TTL)", ttl)
		}
	})
}

// Over the backlog limit (in points) the call fails with ErrBacklog and
// writes nothing (append.lua, invariant 1).
func TestAppendAllOrNothing(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		ctx := context.Background()
		f.appendPacked(t, randomPoints(rand.New(rand.NewPCG(11, 12)), 10, "a"), 10)
		b := f.batchOf(randomPoints(rand.New(rand.NewPCG(13, 14)), 3, "a"), "k", "", 10)
		if _, err := b.Run(ctx, c); !errors.Is(err, ErrBacklog) {
			t.Fatalf("err = %v, want ErrBacklog", err)
		}
		if f.hasMarker(t, "k") {
			t.Error("marker written by a refused call: its retry would be lost")
		}
		b.BacklogLimit = 11
		if res, err := b.Run(ctx, c); err != nil || res.Stored != 3 {
			t.Fatalf("under the limit: %+v, %v", res, err)
		}
		// Malformed layouts: TestAppendCallMalformed.
		if pts, entries := f.stored(t); len(pts) != 13 || entries != 2 || f.counter(t) != 13 {
			t.Errorf("%d points in %d entries, counter %d; want 13, 2, 13", len(pts), entries, f.counter(t))
		}
	})
}

// A stream key of another type (a broken or foreign key, as a Cluster shard
// that fails alone) fails the call before any write: no marker is left
// behind, so the retry after the repair stores the points (append.lua,
// invariant 1). The same for a marker key of the wrong type.
func TestAppendWrongTypeWritesNothing(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		ctx := context.Background()
		b := f.batchOf(randomPoints(rand.New(rand.NewPCG(15, 16)), 3, "a"), "k", "fp", 0)
		if err := c.Set(ctx, f.schema.Stream(0), "not a stream", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Run(ctx, c); err == nil || !redis.HasErrorPrefix(err, "WRONGTYPE") {
			t.Fatalf("stream key is a string: err = %v, want WRONGTYPE", err)
		}
		if n, _ := c.Exists(ctx, f.schema.Backlog(0)).Result(); n != 0 || f.hasMarker(t, "k") {
			t.Fatalf("%d of marker and counter written by a failed call: its retry would be lost", n)
		}
		if err := c.Del(ctx, f.schema.Stream(0)).Err(); err != nil {
			t.Fatal(err)
		}
		other := f.batchOf(randomPoints(rand.New(rand.NewPCG(17, 18)), 2, "a"), "bad", "", 0)
		if err := c.Set(ctx, f.schema.Idempotency(0, "bad"), "x", 0).Err(); err != nil {
			t.Fatal(err)
		}
		var call AppendCall
		call.Add(b)
		call.Add(other)
		if _, err := call.Run(ctx, c); err == nil {
			t.Fatal("a marker key of the wrong type: want an error")
		}
		if n, _ := c.Exists(ctx, f.schema.Stream(0)).Result(); n != 0 || f.hasMarker(t, "k") {
			t.Fatalf("%d of the first request's marker and the stream written by a failed call", n)
		}
		c.Del(ctx, f.schema.Idempotency(0, "bad"))
		if res, err := f.batchOf(randomPoints(rand.New(rand.NewPCG(15, 16)), 3, "a"), "k", "fp", 0).Run(ctx, c); err != nil || res.Stored != 3 {
			t.Fatalf("retry after the repair: %+v, %v, want 3 stored", res, err)
		}
	})
}

// The limit counts points not yet counted by a processor: counting drains
// the counter, points kept for replay (--retention) are not backlog, and a
// counter that runs ahead of a group with nothing to count is reset.
func TestAppendBacklogCountsPoints(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t).Client()
	f := newFixture(t, c)
	f.appendPacked(t, randomPoints(rand.New(rand.NewPCG(15, 16)), 10, "a"), 10)
	f.apply(t, f.read(t, "c", 10)) // all ten counted, still in the stream
	if n := f.counter(t); n != 0 {
		t.Fatalf("counter after counting = %d, want 0", n)
	}
	b := f.batchOf(randomPoints(rand.New(rand.NewPCG(17, 18)), 3, "a"), "", "", 5)
	if res, err := b.Run(ctx, c); err != nil || res.Stored != 3 {
		t.Fatalf("10 counted points and a limit of 5: %+v, %v", res, err)
	}
	if _, err := b.Run(ctx, c); err != nil { // 3 < 5
		t.Fatalf("backlog 3 of 5: %v", err)
	}
	if _, err := b.Run(ctx, c); !errors.Is(err, ErrBacklog) { // 6 ≥ 5
		t.Fatalf("backlog 6 of 5: err = %v, want ErrBacklog", err)
	}
	f.apply(t, f.read(t, "c", 10))
	if n := f.counter(t); n != 0 {
		t.Fatalf("counter after counting = %d, want 0", n)
	}
	// A counter ahead of the truth (say, legacy entries counted by an older
	// processor that did not drain it) with nothing left to count.
	if err := c.Set(ctx, f.schema.Backlog(0), 100, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(ctx, c); err != nil {
		t.Fatalf("stale counter, empty backlog: %v", err)
	}
	if n := f.counter(t); n != 3 {
		t.Errorf("counter = %d, want 3 (reset, then this call's points)", n)
	}
	if err := c.Set(ctx, f.schema.Backlog(0), "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(ctx, c); err == nil {
		t.Error("a counter that is not an integer: want an error")
	}
}

// The call carries each request's points as the segment point.AppendSegment
// encodes; Add after Args re-encodes.
func TestAppendBatchSendsSegment(t *testing.T) {
	r := rand.New(rand.NewPCG(19, 20))
	for _, n := range []int{1, 2, 600} {
		pts := pointsWithExtras(r, n)
		var b AppendBatch
		for i := range pts {
			b.Add(&pts[i])
		}
		_, args := b.Args()
		if got := args[len(args)-1].([]byte); string(got) != string(point.AppendSegment(nil, pts)) {
			t.Fatalf("%d points: segment differs from point.AppendSegment", n)
		}
		more := pointsWithExtras(r, 3)
		b.Add(&more[0])
		_, args = b.Args()
		if got := args[len(args)-2]; got != n+1 {
			t.Fatalf("point count %v, want %d", got, n+1)
		}
		if got := args[len(args)-1].([]byte); string(got) != string(point.AppendSegment(nil, append(pts, more[0]))) {
			t.Fatalf("%d points: segment not re-encoded after Add", n)
		}
	}
}
