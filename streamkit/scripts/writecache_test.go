package scripts

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

// countCached counts the next n entries as consumer c1 in absolute mode,
// taking what it can from cache, and checks that what the cache prepared
// is what reading the hashes prepares (WriteCache's invariant).
func (f *fixture) countCached(t *testing.T, cache *WriteCache, n int64) *SumBatch {
	t.Helper()
	ctx := context.Background()
	msgs := f.read(t, "c1", n)
	now := time.Now().UnixMilli()
	b, read := f.sumBatch(t, msgs), f.sumBatch(t, msgs)
	if err := b.PrepareCached(ctx, f.c, cache, now); err != nil {
		t.Fatal(err)
	}
	if err := read.Prepare(ctx, f.c); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b.abs, read.abs) {
		t.Fatalf("prepared from the cache:\n%+v\nread from Redis:\n%+v", b.abs, read.abs)
	}
	if _, all, err := b.Run(ctx, f.c, keys.Group, "c1"); err != nil || !all {
		t.Fatalf("count %d entries: all pending %v, %v", n, all, err)
	}
	b.Remember(cache)
	return b
}

// What Remember keeps is what Redis holds after the call: a later batch
// prepared from the cache equals one prepared by reading, and the sums
// come out as the entry-by-entry path's.
func TestWriteCacheHoldsWhatRedisHolds(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		pts := randomPoints(rand.New(rand.NewPCG(61, 62)), 300, "a", "b", "c", "d")
		cached, slow := newFixture(t, c), newFixture(t, c)
		cached.appendPacked(t, pts, 10)
		slow.appendPacked(t, pts, 10)
		cache := NewWriteCache(100)
		for range 6 { // 30 entries, 5 a call
			cached.countCached(t, cache, 5)
			slow.apply(t, slow.read(t, "c1", 5))
		}
		if cache.Len() == 0 || cache.Hits() == 0 {
			t.Fatalf("%d hashes remembered, %d taken from the cache: want both", cache.Len(), cache.Hits())
		}
		for _, key := range []func(*fixture) string{
			func(f *fixture) string { return f.schema.Total(0) },
			func(f *fixture) string { return f.schema.Device(0, "a") },
			func(f *fixture) string { return f.schema.Device(0, "d") },
		} {
			if got, want := cached.sums(t, key(cached)), slow.sums(t, key(slow)); got != want {
				t.Errorf("%s = %+v, want %+v", key(cached), got, want)
			}
		}
	})
}

// A hash written behind the cache's back (here: by a call without it, as
// another processor's would be) is a conflict, sent again in delta mode:
// the sums stay exact and the key is forgotten.
func TestWriteCacheStaleEntryConflicts(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		pts := randomPoints(rand.New(rand.NewPCG(63, 64)), 90, "a", "b")
		f := newFixture(t, c)
		f.appendPacked(t, pts, 10)
		cache := NewWriteCache(100)
		f.countCached(t, cache, 3)
		f.countPrepared(t, 3) // writes a and b without the cache
		msgs := f.read(t, "c1", 3)
		b := f.sumBatch(t, msgs)
		if err := b.PrepareCached(ctx, c, cache, time.Now().UnixMilli()); err != nil {
			t.Fatal(err)
		}
		if _, all, err := b.Run(ctx, c, keys.Group, "c1"); err != nil || !all {
			t.Fatalf("all pending %v, %v", all, err)
		}
		if b.Conflicts == 0 {
			t.Error("a stale entry did not conflict")
		}
		b.Remember(cache)
		if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
			t.Errorf("total = %+v, want %+v", got, want)
		}
		dev := f.schema.Device(0, "a")
		var ofA []point.Point
		for _, p := range pts {
			if p.DeviceID == "a" {
				ofA = append(ofA, p)
			}
		}
		if got, want := f.sums(t, dev), sumOf(ofA); got != want {
			t.Errorf("device a = %+v, want %+v", got, want)
		}
	})
}

// An entry is not used within a minute of its hash's expiry, and a full
// cache starts again empty.
func TestWriteCacheBounds(t *testing.T) {
	c := NewWriteCache(2)
	c.put("x", cachedHash{vals: []any{"t"}, expireAt: 100_000})
	if _, ok := c.get("x", 100_000-cacheExpiryMargin-1); !ok {
		t.Error("an entry before the margin: want it")
	}
	if _, ok := c.get("x", 100_000-cacheExpiryMargin); ok {
		t.Error("an entry within the margin of its expiry: want none")
	}
	c.put("y", cachedHash{})
	c.put("z", cachedHash{})
	if c.Len() != 1 {
		t.Errorf("a full cache holds %d after a third key, want 1", c.Len())
	}
}

func TestTokenOf(t *testing.T) {
	for id, want := range map[string]string{"1700000000000-0": "loyw3v28.0", "35-36": "z.10", "x": "x", "1-": "1-"} {
		if got := tokenOf(id); got != want {
			t.Errorf("tokenOf(%q) = %q, want %q", id, got, want)
		}
	}
}
