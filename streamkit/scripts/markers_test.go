package scripts

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redistest/backends"
)

// clock sets a fixture's marker clock to off into the current slice (of
// its 1-minute slices: Redis expires the hashes in real time), and returns
// that slice s0 and a function that moves the clock to off into slice
// s0 + ds.
func (f *fixture) clock(off time.Duration) (s0 int64, move func(ds int64, off time.Duration)) {
	s0 = time.Now().UnixMilli() / f.markers.l
	var now time.Time
	move = func(ds int64, off time.Duration) { now = time.UnixMilli((s0 + ds) * f.markers.l).Add(off) }
	move(0, off)
	f.markers.SetClock(func() time.Time { return now })
	return s0, move
}

// keyed runs one request of n points with key and fingerprint fp.
func (f *fixture) keyed(t *testing.T, m *Markers, key, fp string, n int) AppendResult {
	t.Helper()
	b := f.batchOf(randomPoints(rand.New(rand.NewPCG(uint64(n), 1)), n, "a"), "", fp, 0)
	b.Key = m.Key(key)
	res, err := b.Run(context.Background(), f.c)
	if err != nil {
		t.Fatalf("append with key %s: %v", key, err)
	}
	return res
}

// A key is found in its own slice and the next (a retry within the TTL is
// a replay), and forgotten after that, when its slice's hashes expired or
// are no longer read: the same key then stores again.
func TestMarkersSliceRollover(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		s0, move := f.clock(59 * time.Second)
		if r := f.keyed(t, f.markers, "k", "fp", 3); r.Replayed {
			t.Fatalf("first: %+v", r)
		}
		move(1, 58*time.Second) // 59 s after the slice ended: within a TTL of the write
		if r := f.keyed(t, f.markers, "k", "fp", 3); !r.Replayed || r.Stored != 3 || r.OtherContent {
			t.Fatalf("retry in the next slice: %+v, want replayed 3", r)
		}
		if r := f.keyed(t, f.markers, "k", "other", 3); !r.Replayed || !r.OtherContent {
			t.Fatalf("other content in the next slice: %+v, want a replay of other content", r)
		}
		move(2, time.Second)
		if r := f.keyed(t, f.markers, "k", "fp", 3); r.Replayed {
			t.Fatalf("two slices later: %+v, want stored again", r)
		}
		if pts, _ := f.stored(t); len(pts) != 6 {
			t.Errorf("%d points stored, want 6", len(pts))
		}
		ttl, err := c.PTTL(context.Background(), f.schema.MarkerHash(0, 60_000, s0+2, 0)).Result()
		if err != nil || ttl <= 0 {
			t.Errorf("slice hash PTTL %v, %v; want an expiry", ttl, err)
		}
	})
}

// Markers of many keys share a few hashes, each small enough to stay a
// listpack; when the rate grows, the next slice gets more buckets: a call
// named with the old layout is answered STALE, stores nothing, and is sent
// again with the new one (AppendCall.Run).
func TestMarkersBucketsFollowTheRate(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		s0, move := f.clock(0)
		for i := range 300 {
			f.keyed(t, f.markers, fmt.Sprint("a", i), "fp", 1)
		}
		hashes, _ := c.Keys(ctx, f.schema.Markers(0)+":*").Result()
		if len(hashes) != 16 {
			t.Fatalf("%d marker hashes in the first slice, want 16 (a new layout's): %v", len(hashes), hashes)
		}
		move(1, 0)
		other := NewMarkers(f.schema, 0, time.Minute) // another instance: stale layout
		other.SetClock(f.markers.now)
		if r := f.keyed(t, f.markers, "b0", "fp", 1); r.Replayed {
			t.Fatalf("first of the next slice: %+v", r)
		}
		if v := f.markers.view(); v.c != s0+1 || v.b != 8 || v.p != 16 {
			t.Errorf("layout after the roll %+v, want 8 buckets (300 markers / 64 a hash), previous 16", v)
		}
		for i := range 300 {
			if r := f.keyed(t, other, fmt.Sprint("b", i), "fp", 1); r.Replayed != (i == 0) {
				t.Fatalf("b%d from a stale instance: %+v", i, r)
			}
		}
		if r := f.keyed(t, other, "a7", "fp", 1); !r.Replayed {
			t.Errorf("a key of the previous slice, from a stale instance: %+v, want replayed", r)
		}
		hashes, _ = c.Keys(ctx, f.schema.Markers(0)+fmt.Sprintf(":60000:%d:*", s0+1)).Result()
		if len(hashes) != 8 {
			t.Errorf("%d hashes in the second slice, want 8", len(hashes))
		}
		if pts, _ := f.stored(t); len(pts) != 600 {
			t.Errorf("%d points stored, want 600: a STALE call stored or a replay was lost", len(pts))
		}
		if !strings.HasSuffix(t.Name(), "redis-server") {
			return
		}
		for _, h := range hashes {
			if enc, _ := c.ObjectEncoding(ctx, h).Result(); enc != "listpack" {
				t.Errorf("%s is a %s, want a listpack", h, enc)
			}
		}
	})
}

// An instance whose clock is behind the layout's slice uses the layout's
// (STALE, then the later slice), and finds the markers written there.
func TestMarkersClockBehind(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		s0, _ := f.clock(time.Second)
		f.keyed(t, f.markers, "k", "fp", 2)
		behind := NewMarkers(f.schema, 0, time.Minute)
		behind.SetClock(func() time.Time { return time.UnixMilli(s0 * 60_000).Add(-time.Second) })
		if r := f.keyed(t, behind, "k", "fp", 2); !r.Replayed {
			t.Errorf("from a clock 2 s behind, across a slice boundary: %+v, want replayed", r)
		}
		if i, err := CheckKeys(context.Background(), c, []*MarkerKey{behind.Key("k")}, "other"); err != nil || i != 0 {
			t.Errorf("CheckKeys of other content = %d, %v; want 0", i, err)
		}
	})
}

// Markers written by the version before shared markers (one hash per key)
// are honoured: a retry is a replay of what they stored, other content is
// told apart, by the append and by CheckKeys.
func TestMarkersLegacy(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		fp := "0123456789abcdef0123456789abcdef"
		if err := c.HSet(ctx, f.schema.Idempotency(0, "old"), "n", 5, "fp", fp).Err(); err != nil {
			t.Fatal(err)
		}
		c.Expire(ctx, f.schema.Idempotency(0, "old"), 24*time.Hour)
		for _, tc := range []struct {
			fp    string
			other int
		}{{fp, -1}, {"another", 0}} {
			if i, err := CheckKeys(ctx, c, []*MarkerKey{f.markers.Key("old")}, tc.fp); err != nil || i != tc.other {
				t.Errorf("CheckKeys(%s) = %d, %v; want %d", tc.fp, i, err, tc.other)
			}
		}
		if r := f.keyed(t, f.markers, "old", fp, 1); r != (AppendResult{Stored: 5, Replayed: true}) {
			t.Errorf("retry of a legacy key: %+v, want a replay of 5", r)
		}
		if r := f.keyed(t, f.markers, "old", "another", 1); !r.Replayed || !r.OtherContent {
			t.Errorf("legacy key, other content: %+v", r)
		}
		if pts, _ := f.stored(t); len(pts) != 0 {
			t.Errorf("%d points stored for a remembered key", len(pts))
		}
	})
}

// CheckKeys writes nothing, and answers per partition's key.
func TestCheckKeys(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		f.clock(0)
		k := f.markers.Key("k")
		if i, err := CheckKeys(ctx, c, []*MarkerKey{k}, "fp"); err != nil || i != -1 {
			t.Fatalf("no marker: %d, %v", i, err)
		}
		if n, _ := c.Exists(ctx, f.schema.Markers(0)).Result(); n != 0 {
			t.Error("CheckKeys wrote the layout")
		}
		f.keyed(t, f.markers, "k", "fp", 1)
		c.ScriptFlush(ctx) // NOSCRIPT: sent again as EVAL
		for fp, want := range map[string]int{"fp": -1, "other": 0} {
			if i, err := CheckKeys(ctx, c, []*MarkerKey{k}, fp); err != nil || i != want {
				t.Errorf("CheckKeys(%s) = %d, %v; want %d", fp, i, err, want)
			}
		}
	})
}
