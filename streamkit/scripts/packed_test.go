package scripts

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

// A stream holding legacy entries (written before the packed format) and
// packed ones, as after an upgrade in place.
func mixedStream(t *testing.T, f *fixture, r *rand.Rand) []point.Point {
	t.Helper()
	legacy := randomPoints(r, 30, "a", "b")
	packed := randomPoints(r, 170, "a", "b", "c")
	f.append(t, legacy)
	f.appendPacked(t, packed, 17) // 10 entries
	return append(legacy, packed...)
}

// apply.lua counts every point of a packed entry exactly when its XACK
// returns 1 (invariant 1), and drains the backlog counter by the packed
// points it counted (invariant 6).
func TestApplyCountsPackedEntriesOnce(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		pts := mixedStream(t, f, rand.New(rand.NewPCG(31, 32)))
		first := f.read(t, "c1", 35) // 30 legacy + 5 packed entries (85 points)
		if got := f.apply(t, first); got != (ApplyResult{Applied: 115}) {
			t.Fatalf("first apply = %+v", got)
		}
		if n := f.counter(t); n != 85 {
			t.Errorf("counter = %d, want 85 (170 appended, 85 counted)", n)
		}
		if got := f.apply(t, first); got != (ApplyResult{Duplicates: 115}) {
			t.Fatalf("replay = %+v", got)
		}
		rest := f.read(t, "c1", 100)
		overlap := append(append([]redis.XMessage{}, first[33:]...), rest...) // 2 counted entries
		if got := f.apply(t, overlap); got != (ApplyResult{Applied: 85, Duplicates: 34}) {
			t.Fatalf("overlapping apply = %+v", got)
		}
		if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
			t.Fatalf("total = %+v\nwant    %+v", got, want)
		}
		if n := f.counter(t); n != 0 {
			t.Errorf("counter = %d, want 0", n)
		}
	})
}

// applysums.lua counts packed and legacy entries as apply.lua does, and
// drains the counter by the packed points only.
func TestApplySumsPackedEntries(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(33, 34))
		slow, fast := newFixture(t, c), newFixture(t, c)
		pts := mixedStream(t, slow, r)
		f2 := mixedStream(t, fast, rand.New(rand.NewPCG(33, 34)))
		if len(f2) != len(pts) {
			t.Fatal("fixtures differ")
		}
		slow.apply(t, slow.read(t, "c1", 100))
		for _, size := range []int64{25, 10, 5} {
			msgs := fast.read(t, "c1", size)
			b := fast.sumBatch(t, msgs)
			if err := b.Prepare(ctx, c); err != nil {
				t.Fatal(err)
			}
			n, all, err := b.Run(ctx, c, keys.Group, "c1")
			if err != nil || !all || n != int64(len(msgs)) {
				t.Fatalf("fast path: applied %d of %d entries, all pending %v, %v", n, len(msgs), all, err)
			}
		}
		for _, key := range []func(*fixture) string{
			func(f *fixture) string { return f.schema.Total(0) },
			func(f *fixture) string { return f.schema.Device(0, "a") },
			func(f *fixture) string { return f.schema.Device(0, "c") },
		} {
			s, f := hashWithToken(t, c, key(slow)), hashWithToken(t, c, key(fast))
			for k, v := range s {
				if f[k] != v {
					t.Errorf("%s: field %s = %s on the fast path, %s entry by entry", key(fast), k, f[k], v)
				}
			}
		}
		if got, want := fast.sums(t, fast.schema.Total(0)), sumOf(pts); got != want {
			t.Errorf("total = %+v, want %+v", got, want)
		}
		if n := fast.counter(t); n != 0 {
			t.Errorf("counter = %d, want 0", n)
		}
		// A second delivery of counted entries is refused as a whole.
		msgs, _ := c.XRange(ctx, fast.schema.Stream(0), "-", "+").Result()
		b := fast.sumBatch(t, msgs[:3])
		if _, all, err := b.Run(ctx, c, keys.Group, "c1"); err != nil || all {
			t.Errorf("counted entries again: all pending %v, %v; want false", all, err)
		}
	})
}

// A row of a packed entry's further points cannot come first, and a legacy
// entry holds one point.
func TestApplyBatchPackedRows(t *testing.T) {
	b := NewApplyBatch(testSchema(t), 0)
	p := point.Point{DeviceID: "a"}
	if err := b.AddPoint(p, "d", nil); err == nil {
		t.Error("a point before its entry: want error")
	}
	if err := b.Add("1-0", p, "d", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.AddPoint(p, "d", nil); err == nil {
		t.Error("a second point in a legacy entry: want error")
	}
	if err := b.AddEntry("2-0", true); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := b.AddPoint(p, "d", nil); err != nil {
			t.Fatal(err)
		}
	}
	if b.Len() != 2 || b.Points() != 4 {
		t.Errorf("%d entries, %d points; want 2, 4", b.Len(), b.Points())
	}
}
