package scripts

import (
	"context"
	"math"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

func (f *fixture) sumBatch(t *testing.T, msgs []redis.XMessage) *SumBatch {
	t.Helper()
	b := NewSumBatch(f.schema, 0)
	f.addEntries(t, msgs, b, func(dev string) []AggKey { return []AggKey{{Key: f.schema.Total(0)}, {Key: dev}, {}} })
	return b
}

// The fast path gives exactly the hashes the entry-by-entry path gives.
func TestApplySumsMatchesApply(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		pts := randomPoints(rand.New(rand.NewPCG(21, 22)), 400, "a", "b", "c")
		slow, fast, prepared := newFixture(t, c), newFixture(t, c), newFixture(t, c)
		for _, f := range []*fixture{slow, fast, prepared} {
			f.append(t, pts)
		}
		for _, size := range []int64{1, 50, 149, 200} { // four batches
			slow.apply(t, slow.read(t, "c1", size))
			// fast: delta mode; prepared: absolute mode (Prepare, then Run)
			for _, f := range []*fixture{fast, prepared} {
				msgs := f.read(t, "c1", size)
				b := f.sumBatch(t, msgs)
				if f == prepared {
					if err := b.Prepare(ctx, c); err != nil {
						t.Fatal(err)
					}
					if b.abs == nil || !b.abs[0].ok {
						t.Fatalf("prepared batch not in absolute mode: %+v", b.abs)
					}
				}
				n, all, err := b.Run(ctx, c, keys.Group, "c1")
				if err != nil || !all || n != int64(len(msgs)) || b.Conflicts != 0 {
					t.Fatalf("fast path: applied %d of %d, all pending %v, %d conflicts, %v", n, len(msgs), all, b.Conflicts, err)
				}
			}
		}
		for _, key := range []func(*fixture) string{
			func(f *fixture) string { return f.schema.Total(0) },
			func(f *fixture) string { return f.schema.Device(0, "a") },
			func(f *fixture) string { return f.schema.Device(0, "c") },
		} {
			s := hashWithToken(t, c, key(slow))
			for _, fx := range []*fixture{fast, prepared} {
				f := hashWithToken(t, c, key(fx))
				if len(s) == 0 || len(s) != len(f) {
					t.Fatalf("hashes differ: %v vs %v", s, f)
				}
				for k, v := range s {
					if f[k] != v {
						t.Errorf("%s: field %s = %s on the fast path, %s entry by entry", key(fx), k, f[k], v)
					}
				}
			}
		}
		for _, f := range []*fixture{fast, prepared} {
			if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
				t.Errorf("total = %+v, want %+v", got, want)
			}
			devs, _ := c.ZRange(ctx, f.schema.DeviceIndex(0), 0, -1).Result()
			if len(devs) != 3 {
				t.Errorf("device index = %v", devs)
			}
			if n, _ := c.XPending(ctx, f.schema.Stream(0), keys.Group).Result(); n.Count != 0 {
				t.Errorf("pending after the fast path = %d", n.Count)
			}
		}
	})
}

// claim moves ids, pending in the group, to consumer (XCLAIM, no idle time).
func (f *fixture) claim(t *testing.T, consumer string, ids ...string) {
	t.Helper()
	if err := f.c.XClaim(context.Background(), &redis.XClaimArgs{
		Stream: f.schema.Stream(0), Group: keys.Group, Consumer: consumer, Messages: ids,
	}).Err(); err != nil {
		t.Fatal(err)
	}
}

// countPrepared counts the next n entries as consumer c1 in absolute mode.
func (f *fixture) countPrepared(t *testing.T, n int64) {
	t.Helper()
	ctx := context.Background()
	b := f.sumBatch(t, f.read(t, "c1", n))
	if err := b.Prepare(ctx, f.c); err != nil {
		t.Fatal(err)
	}
	if _, all, err := b.Run(ctx, f.c, keys.Group, "c1"); err != nil || !all {
		t.Fatalf("count %d entries: all pending %v, %v", n, all, err)
	}
}

// tokenRE matches token.lua's tokens: an entry id's two numbers in base 36.
var tokenRE = regexp.MustCompile(`^[0-9a-z]+\.[0-9a-z]+$`)

// hashWithToken returns the hash at key without its token field v, after
// checking that it has one made from an entry id (token.lua; applysums.lua
// invariant 4, apply.lua invariant 5).
func hashWithToken(t *testing.T, c *redis.Client, key string) map[string]string {
	t.Helper()
	h, err := c.HGetAll(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if !tokenRE.MatchString(h["v"]) {
		t.Errorf("%s: token v = %q, not an entry id's token", key, h["v"])
	}
	delete(h, "v")
	return h
}

// A batch with one entry already acknowledged is refused whole: nothing is
// acknowledged or added, so the entry-by-entry path can count it exactly
// (applysums.lua, invariant 1).
func TestApplySumsAllOrNothing(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		pts := randomPoints(rand.New(rand.NewPCG(23, 24)), 20, "a")
		f.append(t, pts)
		msgs := f.read(t, "c1", 20)
		f.apply(t, msgs[5:6]) // entry 5 counted already (say, by a claimer)
		n, all, err := f.sumBatch(t, msgs).Run(ctx, c, keys.Group, "c2")
		if err != nil || all || n != 0 {
			t.Fatalf("fast path over a counted entry: applied %d, all pending %v, %v", n, all, err)
		}
		if got := f.sums(t, f.schema.Total(0)); got != sumOf(pts[5:6]) {
			t.Fatalf("the refused call changed the total: %+v", got)
		}
		if p, _ := c.XPending(ctx, f.schema.Stream(0), keys.Group).Result(); p.Count != 19 {
			t.Fatalf("pending = %d, want 19 (nothing acknowledged)", p.Count)
		}
		// The slow path then counts the other 19, once.
		if got := f.apply(t, msgs); got != (ApplyResult{Applied: 19, Duplicates: 1}) {
			t.Fatalf("entry by entry: %+v", got)
		}
		if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
			t.Errorf("total = %+v, want %+v", got, want)
		}
		// Replaying the fast path now adds nothing.
		if n, all, err := f.sumBatch(t, msgs).Run(ctx, c, keys.Group, "c1"); err != nil || all || n != 0 {
			t.Fatalf("replay: applied %d, all pending %v, %v", n, all, err)
		}
		if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
			t.Errorf("after replay total = %+v, want %+v", got, want)
		}
	})
}

// The fast path counts a batch only when its ids are exactly the
// consumer's pending entries between its first and last id (applysums.lua,
// invariant 1): every other case is refused whole, acknowledging and adding
// nothing, and the entry-by-entry path then counts each entry once.
func TestApplySumsRefusesAnyOtherIdList(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage // returns the batch
	}{
		{"out of order", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			b := append([]redis.XMessage(nil), msgs...)
			b[3], b[4] = b[4], b[3]
			return b
		}},
		{"an id twice", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			return append(append([]redis.XMessage(nil), msgs[:5]...), msgs[4:]...)
		}},
		{"one of ours in the range left out", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			return append(append([]redis.XMessage(nil), msgs[:5]...), msgs[6:]...)
		}},
		{"one claimed by another consumer", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			f.claim(t, "other", msgs[7].ID)
			return msgs
		}},
		{"pending for another consumer only", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			f.claim(t, "other", ids(msgs)...)
			return msgs
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backends.Each(t, func(t *testing.T, c *redis.Client) {
				ctx := context.Background()
				f := newFixture(t, c)
				pts := randomPoints(rand.New(rand.NewPCG(31, 32)), 12, "a", "b")
				f.append(t, pts)
				msgs := f.read(t, "c1", 12)
				batch := tc.prepare(t, f, msgs)
				n, all, err := f.sumBatch(t, batch).Run(ctx, c, keys.Group, "c1")
				if err != nil || all || n != 0 {
					t.Fatalf("fast path: applied %d, all pending %v, %v; want a refusal", n, all, err)
				}
				if p, _ := c.XPending(ctx, f.schema.Stream(0), keys.Group).Result(); p.Count != 12 {
					t.Fatalf("pending = %d, want 12 (nothing acknowledged)", p.Count)
				}
				if ex, _ := c.Exists(ctx, f.schema.Total(0)).Result(); ex != 0 {
					t.Fatal("the refused call wrote the total")
				}
				// The slow path counts every entry once.
				if got := f.apply(t, msgs); got.Applied != 12 {
					t.Fatalf("entry by entry: %+v", got)
				}
				if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
					t.Errorf("total = %+v, want %+v", got, want)
				}
			})
		})
	}
}

// Proof "each": a call may hold any of the read's entries (here one
// device's), each proved pending on its own; the refusals are those of
// "run", whatever lies between the ids.
func TestApplySumsEach(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		pts := randomPoints(rand.New(rand.NewPCG(33, 34)), 30, "a", "b", "c")
		f.append(t, pts)
		msgs := f.read(t, "c1", 30)
		byDev := map[string][]redis.XMessage{}
		for _, m := range msgs {
			p, _ := point.FromValues(m.Values)
			byDev[p.DeviceID] = append(byDev[p.DeviceID], m)
		}
		each := func(batch []redis.XMessage) (int64, bool, error) {
			b := f.sumBatch(t, batch)
			b.Scattered = true
			return b.Run(ctx, c, keys.Group, "c1")
		}
		if n, all, err := each(byDev["a"]); err != nil || !all || n != int64(len(byDev["a"])) {
			t.Fatalf("device a: applied %d, all %v, %v", n, all, err)
		}
		// As a run, b's entries are refused: a's are no longer pending but
		// c's are, between b's first and last.
		if n, all, err := f.sumBatch(t, byDev["b"]).Run(ctx, c, keys.Group, "c1"); err != nil || all || n != 0 {
			t.Fatalf("device b as a run: applied %d, all %v, %v; want a refusal", n, all, err)
		}
		// Refused as "each": an id twice, an id already counted, an id
		// claimed by another consumer; nothing acknowledged.
		twice := append(append([]redis.XMessage(nil), byDev["b"]...), byDev["b"][0])
		counted := append(append([]redis.XMessage(nil), byDev["b"]...), byDev["a"][0])
		for name, batch := range map[string][]redis.XMessage{"twice": twice, "counted": counted} {
			if n, all, err := each(batch); err != nil || all || n != 0 {
				t.Fatalf("%s: applied %d, all %v, %v; want a refusal", name, n, all, err)
			}
		}
		if err := c.XClaim(ctx, &redis.XClaimArgs{
			Stream: f.schema.Stream(0), Group: keys.Group, Consumer: "other", Messages: []string{byDev["c"][2].ID},
		}).Err(); err != nil {
			t.Fatal(err)
		}
		if n, all, err := each(byDev["c"]); err != nil || all || n != 0 {
			t.Fatalf("claimed: applied %d, all %v, %v; want a refusal", n, all, err)
		}
		if p, _ := c.XPending(ctx, f.schema.Stream(0), keys.Group).Result(); p.Count != int64(len(byDev["b"])+len(byDev["c"])) {
			t.Fatalf("pending = %d, want b's and c's", p.Count)
		}
		if n, all, err := each(byDev["b"]); err != nil || !all || n != int64(len(byDev["b"])) {
			t.Fatalf("device b: applied %d, all %v, %v", n, all, err)
		}
		if got := f.apply(t, byDev["c"]); got.Applied != int64(len(byDev["c"])) {
			t.Fatalf("device c entry by entry: %+v", got)
		}
		if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
			t.Errorf("total = %+v, want %+v", got, want)
		}
	})
}

// Proof "fresh": a whole ">" read is proved from XPENDING's summary; when
// the summary cannot prove it (another consumer has pending entries, an
// entry was claimed or acknowledged, an id is listed twice), the script
// falls back to the run proof, which applies the batch if it is all pending
// for the consumer and refuses it otherwise (nothing acknowledged).
func TestApplySumsFresh(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage
		applied bool
	}{
		{"whole read", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage { return msgs }, true},
		{"another consumer has pending entries", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			f.append(t, randomPoints(rand.New(rand.NewPCG(35, 36)), 3, "z"))
			f.read(t, "c2", 3) // pending for c2, after the batch
			return msgs
		}, true},
		{"one claimed by another consumer", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			f.claim(t, "other", msgs[4].ID)
			return msgs
		}, false},
		{"one already counted", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			f.apply(t, msgs[9:10])
			return msgs
		}, false},
		{"an id twice", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			return append(append([]redis.XMessage(nil), msgs[:3]...), msgs[2:]...)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backends.Each(t, func(t *testing.T, c *redis.Client) {
				ctx := context.Background()
				f := newFixture(t, c)
				pts := randomPoints(rand.New(rand.NewPCG(37, 38)), 12, "a", "b")
				f.append(t, pts)
				msgs := f.read(t, "c1", 12)
				b := f.sumBatch(t, tc.prepare(t, f, msgs))
				b.Fresh = true
				k, a := b.Layout(keys.Group, "c1")
				reply, err := ApplySums.Run(ctx, c, k, a...).Int64Slice()
				if err != nil {
					t.Fatal(err)
				}
				n, all := reply[0], reply[0] >= 0
				// Only a whole read with nothing else pending is proved
				// from the summary.
				if fromSummary := reply[1] == 1 && all; fromSummary != (tc.name == "whole read") {
					t.Errorf("reply %v: proved from the summary %v", reply, fromSummary)
				}
				if !tc.applied {
					if all || n != -1 {
						t.Fatalf("applied %d, all %v; want a refusal", n, all)
					}
					if p, _ := c.XPendingExt(ctx, &redis.XPendingExtArgs{
						Stream: f.schema.Stream(0), Group: keys.Group, Start: msgs[0].ID, End: msgs[11].ID, Count: 20,
					}).Result(); len(p) < 11 {
						t.Fatalf("%d of the batch's entries pending after a refusal, want all that were", len(p))
					}
					return
				}
				if !all || n != 12 {
					t.Fatalf("applied %d, all %v; want 12", n, all)
				}
				if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
					t.Errorf("total = %+v, want %+v", got, want)
				}
			})
		})
	}
}

// More ids than Lua's unpack can spread: the script works in chunks.
func TestApplySumsLargeBatch(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		pts := randomPoints(rand.New(rand.NewPCG(25, 26)), MaxApplyEntries, "a", "b")
		f.append(t, pts)
		msgs := f.read(t, "c1", int64(len(pts)))
		n, all, err := f.sumBatch(t, msgs).Run(context.Background(), c, keys.Group, "c1")
		if err != nil || !all || n != int64(len(pts)) {
			t.Fatalf("applied %d, all %v, %v", n, all, err)
		}
		if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
			t.Errorf("total = %+v, want %+v", got, want)
		}
	})
}

// A call whose layout, ids or key types are wrong fails before writing
// anything. (The sums themselves are int64 by type in SumBatch.Layout; the
// script does not parse them one by one, see applysums.lua.)
func TestApplySumsRejectsBadArguments(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		f.append(t, randomPoints(rand.New(rand.NewPCG(27, 28)), 2, "a"))
		msgs := f.read(t, "c", 2)
		stream, total := f.schema.Stream(0), f.schema.Total(0)
		// One aggregate in delta mode: expiry, "*", expected n, 12 values.
		sums := []any{0, "*", "", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
		for _, tc := range []struct {
			name string
			args []any
			want string // in the error; "" for Redis's own (XPENDING refusing the id)
		}{
			{"no ids", append([]any{keys.Group, "c", "run", 0, 0, 0}, sums...), "bad entry count"},
			{"bad drain", append([]any{keys.Group, "c", "run", 1, -1, msgs[0].ID, 0}, sums...), "bad drain"},
			{"bad id", append([]any{keys.Group, "c", "run", 1, 0, "x", 0}, sums...), ""},
			{"bad id each", append([]any{keys.Group, "c", "each", 1, 0, "x", 0}, sums...), ""},
			{"bad proof", append([]any{keys.Group, "c", "all", 1, 0, msgs[0].ID, 0}, sums...), "proof must be"},
			{"short sums", []any{keys.Group, "c", "run", 1, 0, msgs[0].ID, 0, 0, 1}, "bad argument layout"},
			{"no track count", append([]any{keys.Group, "c", "run", 1, 0, msgs[0].ID, "x"}, sums...), "bad track count"},
			{"device at 1", append(append([]any{keys.Group, "c", "run", 1, 0, msgs[0].ID, 0}, sums...), 1, "a", 1, 2, 3, ""),
				"device key index out of range"},
		} {
			err := ApplySums.Run(ctx, c, []string{stream, f.schema.DeviceIndex(0), total, f.schema.Geo(0), f.schema.Backlog(0)}, tc.args...).Err()
			switch {
			case err == nil:
				t.Errorf("%s: want error", tc.name)
			case tc.want == "" && strings.Contains(err.Error(), "applysums:"):
				t.Errorf("%s: %v, want Redis's error for the id", tc.name, err)
			case !strings.Contains(err.Error(), tc.want):
				t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
			}
		}
		c.Set(ctx, total, "not a hash", 0)
		err := ApplySums.Run(ctx, c, []string{stream, f.schema.DeviceIndex(0), total, f.schema.Geo(0), f.schema.Backlog(0)},
			append([]any{keys.Group, "c", "run", 1, 0, msgs[0].ID, 0}, sums...)...).Err()
		if err == nil || !strings.Contains(err.Error(), "is not a hash") {
			t.Errorf("string aggregate: %v, want 'is not a hash'", err)
		}
		if p, _ := c.XPending(ctx, stream, keys.Group).Result(); p.Count != 2 {
			t.Errorf("pending = %d, want 2 (nothing acknowledged)", p.Count)
		}
	})
}

// Thousands of devices in one batch: the device index update goes in chunks
// (a single ZADD would spread more values than Lua's unpack can).
func TestApplySumsManyDevices(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		devs := make([]string, 6000)
		for i := range devs {
			devs[i] = "d" + strconv.Itoa(i)
		}
		pts := randomPoints(rand.New(rand.NewPCG(29, 30)), len(devs), "x")
		for i := range pts {
			pts[i].DeviceID = devs[i]
		}
		f.append(t, pts)
		msgs := f.read(t, "c1", int64(len(pts)))
		n, all, err := f.sumBatch(t, msgs).Run(context.Background(), c, keys.Group, "c1")
		if err != nil || !all || n != int64(len(pts)) {
			t.Fatalf("applied %d, all %v, %v", n, all, err)
		}
		if got, _ := c.ZCard(context.Background(), f.schema.DeviceIndex(0)).Result(); got != int64(len(devs)) {
			t.Errorf("device index holds %d, want %d", got, len(devs))
		}
		if got, want := f.sums(t, f.schema.Device(0, "d4321")), sumOf(pts[4321:4322]); got != want {
			t.Errorf("device d4321 = %+v, want %+v", got, want)
		}
	})
}

// Absolute mode (SumBatch.Prepare) writes only over a hash that nothing
// wrote since it was read: any other write between Prepare and Run makes
// the script answer "conflict" without writing, and Run sends the call
// again with those hashes in delta mode, so the sums stay exact
// (applysums.lua, invariant 4).
func TestApplySumsAbsoluteConflict(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		pts := randomPoints(rand.New(rand.NewPCG(5, 6)), 30, "a", "b")
		for _, tc := range []struct {
			name      string
			interfere func(f *fixture) // between Prepare and Run
			conflict  bool
			want      func(f *fixture) agg.Sums // the total after all
		}{
			{"nothing", func(*fixture) {}, false,
				func(*fixture) agg.Sums { return sumOf(pts[:20]) }},
			{"another call counts other entries", func(f *fixture) {
				f.apply(t, f.read(t, "c2", 5)) // apply.lua sets v too
			}, true, func(*fixture) agg.Sums { return sumOf(pts[:25]) }},
			{"an earlier version adds a point", func(f *fixture) {
				// HINCRBY without a token, as processors before tokens did
				one := sumOf(pts[29:30])
				for field, v := range map[string]int64{"n": 1, "slat": one.SumLat, "slon": one.SumLon, "sx": one.SumX, "sy": one.SumY, "sz": one.SumZ} {
					if err := c.HIncrBy(ctx, f.schema.Total(0), field, v).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}, true, func(*fixture) agg.Sums {
				s := sumOf(pts[:20])
				one := sumOf(pts[29:30])
				s.Count++
				s.SumLat, s.SumLon, s.SumX, s.SumY, s.SumZ = s.SumLat+one.SumLat, s.SumLon+one.SumLon, s.SumX+one.SumX, s.SumY+one.SumY, s.SumZ+one.SumZ
				return s
			}},
			{"the hash expires", func(f *fixture) {
				if err := c.Del(ctx, f.schema.Total(0)).Err(); err != nil {
					t.Fatal(err)
				}
			}, true, func(*fixture) agg.Sums { return sumOf(pts[10:20]) }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				f := newFixture(t, c)
				f.append(t, pts)
				f.countPrepared(t, 10) // gives the hashes a token
				msgs := f.read(t, "c1", 10)
				b := f.sumBatch(t, msgs)
				if err := b.Prepare(ctx, c); err != nil {
					t.Fatal(err)
				}
				for i, a := range b.abs {
					if !a.ok {
						t.Fatalf("key %s not in absolute mode", b.keys[i])
					}
				}
				tc.interfere(f)
				n, all, err := b.Run(ctx, c, keys.Group, "c1")
				if err != nil || !all || n != 10 {
					t.Fatalf("run: applied %d, all %v, %v", n, all, err)
				}
				if got := b.Conflicts == 1; got != tc.conflict {
					t.Errorf("conflicts = %d, want a conflict: %v", b.Conflicts, tc.conflict)
				}
				if tc.name == "an earlier version adds a point" {
					// only the hash written meanwhile went in delta mode
					for i, k := range b.keys {
						if want := k != f.schema.Total(0); b.abs[i].ok != want {
							t.Errorf("%s: absolute mode %v after the run, want %v", k, b.abs[i].ok, want)
						}
					}
				}
				if got, want := f.sums(t, f.schema.Total(0)), tc.want(f); got.Count != want.Count ||
					got.SumLat != want.SumLat || got.SumLon != want.SumLon || got.SumX != want.SumX ||
					got.SumY != want.SumY || got.SumZ != want.SumZ {
					t.Errorf("total = %+v, want sums of %+v", got, want)
				}
				if n, _ := c.XPending(ctx, f.schema.Stream(0), keys.Group).Result(); n.Count != 0 {
					t.Errorf("pending = %d", n.Count)
				}
			})
		}
	})
}

// Prepare keeps in delta mode what absolute mode cannot vouch for: keys
// written by every call (AggKey.Shared), a hash with values but no token
// (written by an earlier version only: it could be rebuilt to the same n
// unseen), and sums that would overflow int64 (HINCRBY refuses them).
func TestApplySumsPrepareModes(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		pts := []point.Point{
			{DeviceID: "a", TimeMs: 1_700_000_000_000, LatE7: 10, LonE7: 20},
			{DeviceID: "b", TimeMs: 1_700_000_001_000, LatE7: 30, LonE7: 40},
			{DeviceID: "c", TimeMs: 1_700_000_002_000, LatE7: -50, LonE7: 60},
			{DeviceID: "d", TimeMs: 1_700_000_003_000, LatE7: 70, LonE7: 80},
		}
		f.append(t, pts)
		ka, kb, kc := f.schema.Device(0, "a"), f.schema.Device(0, "b"), f.schema.Device(0, "c")
		c.HSet(ctx, ka, "n", 3, "slat", 1, "slon", 1, "sx", 1, "sy", 1, "sz", 1, "latmin", 0, "latmax", 0, "lonmin", 0, "lonmax", 0, "tmin", 0, "tmax", 0)
		c.HSet(ctx, kb, "v", "1-1", "n", 3, "slat", int64(math.MaxInt64), "slon", 1, "sx", 1, "sy", 1, "sz", 1, "latmin", 0, "latmax", 0, "lonmin", 0, "lonmax", 0, "tmin", 0, "tmax", 0)
		c.HSet(ctx, kc, "v", "1-1", "n", 3, "slat", 1, "slon", 1, "sx", 1, "sy", 1, "sz", 1, "latmin", 0, "latmax", 0, "lonmin", 0, "lonmax", 0, "tmin", 0, "tmax", 0)
		b := NewSumBatch(f.schema, 0)
		for _, m := range f.read(t, "c1", 4) {
			p, _ := point.FromValues(m.Values)
			dev := f.schema.Device(0, p.DeviceID)
			if err := b.Add(m.ID, p, dev, []AggKey{{Key: f.schema.Total(0), Shared: true}, {Key: dev}}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Prepare(ctx, c); err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{f.schema.Total(0): false, ka: false, kb: false, kc: true, f.schema.Device(0, "d"): true}
		for i, k := range b.keys {
			if b.abs[i].ok != want[k] {
				t.Errorf("%s: absolute mode %v, want %v", k, b.abs[i].ok, want[k])
			}
		}
		// c: 3 points, then one more; its bounds (all 0) move down in
		// latitude (-50) and up in longitude (60) and time.
		a := b.abs[b.pos[kc]]
		if a.next.Count != 4 || a.next.SumLat != 1-50 || a.next.LatMin != -50 || a.next.LonMax != 60 ||
			a.moved != [6]bool{true, false, false, true, false, true} || a.tok != "1-1" || a.n != "3" {
			t.Errorf("%s after the batch: %+v", kc, a)
		}
		c.HSet(ctx, kb, "slat", 1) // b is in delta mode: HINCRBY would refuse the overflow
		n, all, err := b.Run(ctx, c, keys.Group, "c1")
		if err != nil || !all || n != 4 || b.Conflicts != 0 {
			t.Fatalf("run: %d %v %d %v", n, all, b.Conflicts, err)
		}
		h, _ := c.HGetAll(ctx, kc).Result()
		if h["n"] != "4" || h["slat"] != "-49" || h["latmin"] != "-50" || h["latmax"] != "0" || h["lonmax"] != "60" || h["tmax"] != "1700000002000" {
			t.Errorf("%s = %v", kc, h)
		}
	})
}

// The token, not n, is what catches a hash deleted (expired) and rebuilt
// to the same n by another call between Prepare and Run: n matches, v
// does not (applysums.lua, invariant 4).
func TestApplySumsTokenCatchesRebuiltHash(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		pts := randomPoints(rand.New(rand.NewPCG(9, 10)), 30, "a") // one device: every key has the same n
		f := newFixture(t, c)
		f.append(t, pts)
		f.countPrepared(t, 10) // gives the hashes a token
		b := f.sumBatch(t, f.read(t, "c1", 10))
		if err := b.Prepare(ctx, c); err != nil {
			t.Fatal(err)
		}
		total, dev := f.schema.Total(0), f.schema.Device(0, "a")
		if err := c.Del(ctx, total, dev).Err(); err != nil {
			t.Fatal(err)
		}
		f.apply(t, f.read(t, "c2", 10)) // rebuilt: n = 10 again, other points
		if n, _ := c.HGet(ctx, total, "n").Result(); n != "10" {
			t.Fatalf("rebuilt n = %s, want 10", n)
		}
		if n, all, err := b.Run(ctx, c, keys.Group, "c1"); err != nil || !all || n != 10 || b.Conflicts != 1 {
			t.Fatalf("run: applied %d, all %v, %d conflicts, %v", n, all, b.Conflicts, err)
		}
		for _, k := range []string{total, dev} {
			if got, want := f.sums(t, k), sumOf(pts[10:30]); got != want {
				t.Errorf("%s = %+v, want %+v", k, got, want)
			}
		}
	})
}

// In absolute mode a bucket's expiry is set by the call that creates the
// hash, and left alone by later calls, as in delta mode.
func TestApplySumsAbsoluteExpiry(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		pts := randomPoints(rand.New(rand.NewPCG(11, 12)), 20, "a")
		f := newFixture(t, c)
		f.append(t, pts)
		bucket := f.schema.DeviceBucket(0, "a", "1h", 0)
		expireAt := time.Now().Add(time.Hour).UnixMilli()
		run := func(msgs []redis.XMessage) {
			t.Helper()
			b := NewSumBatch(f.schema, 0)
			for _, m := range msgs {
				p, _ := point.FromValues(m.Values)
				if err := b.Add(m.ID, p, "", []AggKey{{Key: bucket, ExpireAtMs: expireAt}}); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.Prepare(ctx, c); err != nil {
				t.Fatal(err)
			}
			if !b.abs[0].ok {
				t.Fatal("bucket not in absolute mode")
			}
			if n, all, err := b.Run(ctx, c, keys.Group, "c1"); err != nil || !all || n != int64(len(msgs)) || b.Conflicts != 0 {
				t.Fatalf("run: %d %v %d %v", n, all, b.Conflicts, err)
			}
		}
		run(f.read(t, "c1", 10)) // creates the hash
		if ttl := c.PTTL(ctx, bucket).Val(); ttl < 59*time.Minute || ttl > time.Hour {
			t.Fatalf("TTL after the creating call = %v, want about 1h", ttl)
		}
		c.PExpire(ctx, bucket, 2*time.Hour) // not the call's expiry: a later call must leave it
		run(f.read(t, "c1", 10))
		if ttl := c.PTTL(ctx, bucket).Val(); ttl < 119*time.Minute {
			t.Errorf("TTL after a later call = %v, want the 2h it had", ttl)
		}
		if got, want := f.sums(t, bucket), sumOf(pts); got != want {
			t.Errorf("bucket = %+v, want %+v", got, want)
		}
	})
}

// interfering runs before() ahead of every script call: another writer
// between Prepare and each of Run's attempts.
type interfering struct {
	*redis.Client
	before func()
}

func (s interfering) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	s.before()
	return s.Client.EvalSha(ctx, sha, keys, args...)
}

// A hash written again before the second attempt sends the call a third
// time with every hash in delta mode (which cannot conflict); the sums stay
// exact and nothing is counted twice.
func TestApplySumsConflictTwice(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		if err := ApplySums.Load(ctx, c).Err(); err != nil {
			t.Fatal(err)
		}
		pts := randomPoints(rand.New(rand.NewPCG(13, 14)), 30, "a", "b")
		f := newFixture(t, c)
		f.append(t, pts)
		f.countPrepared(t, 10) // gives the hashes a token
		b := f.sumBatch(t, f.read(t, "c1", 10))
		if err := b.Prepare(ctx, c); err != nil {
			t.Fatal(err)
		}
		attempts := 0
		s := interfering{Client: c, before: func() {
			attempts++
			if attempts <= 2 { // another call counts one more entry: the total changes each time
				f.apply(t, f.read(t, "c2", 1))
			}
		}}
		if n, all, err := b.Run(ctx, s, keys.Group, "c1"); err != nil || !all || n != 10 {
			t.Fatalf("run: applied %d, all %v, %v", n, all, err)
		}
		if attempts != 3 || b.Conflicts != 2 || b.abs != nil {
			t.Errorf("attempts %d, conflicts %d, absolute mode left %v; want 3, 2, none", attempts, b.Conflicts, b.abs != nil)
		}
		want := sumOf(pts[:22])
		for _, k := range []string{f.schema.Total(0)} {
			if got := f.sums(t, k); got != want {
				t.Errorf("%s = %+v, want %+v", k, got, want)
			}
		}
		for _, dev := range []string{"a", "b"} {
			var mine []point.Point
			for _, p := range pts[:22] {
				if p.DeviceID == dev {
					mine = append(mine, p)
				}
			}
			if got, want := f.sums(t, f.schema.Device(0, dev)), sumOf(mine); got != want {
				t.Errorf("device %s = %+v, want %+v", dev, got, want)
			}
		}
	})
}

// The token a call stamps is its first acknowledged entry's id, both
// numbers in base 36 (token.lua), whichever script wrote the hash; ids
// with a number past 15 digits stay as they are.
func TestToken(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		f.append(t, randomPoints(rand.New(rand.NewPCG(15, 16)), 2, "a"))
		msgs := f.read(t, "c1", 2)
		want := func(id string) string {
			ms, seq, _ := strings.Cut(id, "-")
			m, _ := strconv.ParseInt(ms, 10, 64)
			q, _ := strconv.ParseInt(seq, 10, 64)
			return strconv.FormatInt(m, 36) + "." + strconv.FormatInt(q, 36)
		}
		f.apply(t, msgs[:1]) // apply.lua
		if got := c.HGet(ctx, f.schema.Total(0), "v").Val(); got != want(msgs[0].ID) {
			t.Errorf("apply.lua: v = %q, want %q for %s", got, want(msgs[0].ID), msgs[0].ID)
		}
		if _, all, err := f.sumBatch(t, msgs[1:]).Run(ctx, c, keys.Group, "c1"); err != nil || !all {
			t.Fatalf("applysums: %v %v", all, err)
		}
		if got := c.HGet(ctx, f.schema.Total(0), "v").Val(); got != want(msgs[1].ID) {
			t.Errorf("applysums.lua: v = %q, want %q for %s", got, want(msgs[1].ID), msgs[1].ID)
		}
		// The function itself, at the edges of its exact range.
		probe := redis.NewScript(withPrelude("-- probe\nreturn token(ARGV[1])"))
		for id, w := range map[string]string{
			"0-0":                    "0.0",
			"999999999999999-35":     strconv.FormatInt(999999999999999, 36) + ".z",
			"1764400059123-17":       "mijy8mpf.h",
			"1000000000000000-1":     "1000000000000000-1", // 16 digits: as it is
			"1-18446744073709551615": "1-18446744073709551615",
		} {
			if got, err := probe.Run(ctx, c, nil, id).Text(); err != nil || got != w {
				t.Errorf("token(%s) = %q, %v; want %q", id, got, err, w)
			}
		}
	})
}
