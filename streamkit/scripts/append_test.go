package scripts

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest"
)

func TestAppendStoresEveryPoint(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		pts := randomPoints(rand.New(rand.NewPCG(7, 8)), 50, "a", "b")
		alt, spd := 12.5, 3.0
		pts[3].Extras.Altitude, pts[3].Extras.Speed = &alt, &spd
		f.append(t, pts)
		msgs, err := c.XRange(context.Background(), f.schema.Stream(0), "-", "+").Result()
		if err != nil || len(msgs) != len(pts) {
			t.Fatalf("XRANGE: %d entries, %v", len(msgs), err)
		}
		for i, m := range msgs {
			got, err := point.FromValues(m.Values)
			if err != nil {
				t.Fatal(err)
			}
			want := pts[i]
			if got.DeviceID != want.DeviceID || got.TimeMs != want.TimeMs || got.LatE7 != want.LatE7 || got.LonE7 != want.LonE7 {
				t.Errorf("entry %d = %+v, want %+v", i, got, want)
			}
			if (got.Extras.Altitude == nil) != (want.Extras.Altitude == nil) ||
				got.Extras.Altitude != nil && *got.Extras.Altitude != *want.Extras.Altitude {
				t.Errorf("entry %d altitude = %v, want %v", i, got.Extras.Altitude, want.Extras.Altitude)
			}
		}
	})
}

// A retry with the same idempotency key stores nothing and reports what the
// first attempt stored (append.lua, invariant 2).
func TestAppendIdempotent(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		ctx := context.Background()
		pts := randomPoints(rand.New(rand.NewPCG(9, 10)), 7, "a")
		b := AppendBatch{
			Stream: f.schema.Stream(0), Marker: f.schema.Idempotency(0, "k1"),
			MarkerTTLMs: 60_000, Fingerprint: "fp-1",
		}
		for i := range pts {
			b.Add(&pts[i])
		}
		first, err := b.Run(ctx, c)
		if err != nil || first != (AppendResult{Stored: 7, Fingerprint: "fp-1"}) {
			t.Fatalf("first = %+v, %v", first, err)
		}
		b.Fingerprint = "fp-2" // a retry (or a misuse of the key with other content)
		again, err := b.Run(ctx, c)
		if err != nil || again != (AppendResult{Stored: 7, Replayed: true, Fingerprint: "fp-1"}) {
			t.Fatalf("retry = %+v, %v", again, err)
		}
		if n, _ := c.XLen(ctx, f.schema.Stream(0)).Result(); n != 7 {
			t.Fatalf("XLEN = %d, want 7", n)
		}
		if ttl, _ := c.PTTL(ctx, f.schema.Idempotency(0, "k1")).Result(); ttl <= 0 {
			t.Errorf("marker TTL = %v, want > 0", ttl)
		}
	})
}

// Over the backlog limit the call fails with ErrBacklog and writes nothing;
// a malformed call writes nothing either (append.lua, invariant 1).
func TestAppendAllOrNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		ctx := context.Background()
		f.append(t, randomPoints(rand.New(rand.NewPCG(11, 12)), 10, "a"))
		b := AppendBatch{Stream: f.schema.Stream(0), BacklogLimit: 10, Marker: f.schema.Idempotency(0, "k"), MarkerTTLMs: 1000}
		pts := randomPoints(rand.New(rand.NewPCG(13, 14)), 3, "a")
		for i := range pts {
			b.Add(&pts[i])
		}
		if _, err := b.Run(ctx, c); !errors.Is(err, ErrBacklog) {
			t.Fatalf("err = %v, want ErrBacklog", err)
		}
		if n, _ := c.Exists(ctx, f.schema.Idempotency(0, "k")).Result(); n != 0 {
			t.Error("marker written by a refused call: its retry would be lost")
		}
		b.BacklogLimit = 14
		if res, err := b.Run(ctx, c); err != nil || res.Stored != 3 {
			t.Fatalf("under the limit: %+v, %v", res, err)
		}
		// Malformed layouts: odd field count, count past the end.
		for _, args := range [][]any{
			{0, 0, "", keys.Group, 3, "d", "a", "t"},
			{0, 0, "", keys.Group, 2, "d", "a", 10, "t", "1"},
			{0, 0, "", keys.Group, "x", "d", "a"},
		} {
			if err := Append.Run(ctx, c, []string{f.schema.Stream(0), f.schema.Stream(0)}, args...).Err(); err == nil {
				t.Errorf("args %v: want error", args)
			}
		}
		if n, _ := c.XLen(ctx, f.schema.Stream(0)).Result(); n != 13 {
			t.Errorf("XLEN = %d, want 13", n)
		}
	})
}

// Entries already counted but kept for replay (the processor's --retention)
// are not backlog: only undelivered and pending ones are. On miniredis,
// which does not track the group's lag, the stream length stands in.
func TestAppendBacklogIgnoresCountedEntries(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t).Client()
	f := newFixture(t, c)
	f.append(t, randomPoints(rand.New(rand.NewPCG(15, 16)), 10, "a"))
	f.apply(t, f.read(t, "c", 10)) // all ten counted, still in the stream
	b := AppendBatch{Stream: f.schema.Stream(0), BacklogLimit: 5}
	pts := randomPoints(rand.New(rand.NewPCG(17, 18)), 3, "a")
	for i := range pts {
		b.Add(&pts[i])
	}
	if res, err := b.Run(ctx, c); err != nil || res.Stored != 3 {
		t.Fatalf("10 counted entries and a limit of 5: %+v, %v (counted entries are not backlog)", res, err)
	}
	f.read(t, "c", 2) // 2 pending + 1 undelivered = 3 < 5
	if _, err := b.Run(ctx, c); err != nil {
		t.Fatalf("backlog 3 of 5: %v", err)
	}
	// Now 2 pending + 4 undelivered = 6 ≥ 5.
	if _, err := b.Run(ctx, c); !errors.Is(err, ErrBacklog) {
		t.Fatalf("backlog 6 of 5: err = %v, want ErrBacklog", err)
	}
}
