package scripts

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

func (f *fixture) sumBatch(t *testing.T, msgs []redis.XMessage) *SumBatch {
	t.Helper()
	b := NewSumBatch(f.schema.Stream(0), f.schema.DeviceIndex(0))
	for _, m := range msgs {
		p, err := point.FromValues(m.Values)
		if err != nil {
			t.Fatal(err)
		}
		dev := f.schema.Device(0, p.DeviceID)
		if err := b.Add(m.ID, p, dev, []AggKey{{Key: f.schema.Total(0)}, {Key: dev}, {}}); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// The fast path gives exactly the hashes the entry-by-entry path gives.
func TestApplySumsMatchesApply(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		pts := randomPoints(rand.New(rand.NewPCG(21, 22)), 400, "a", "b", "c")
		slow, fast := newFixture(t, c), newFixture(t, c)
		slow.append(t, pts)
		fast.append(t, pts)
		for _, size := range []int64{1, 50, 149, 200} { // four batches
			slow.apply(t, slow.read(t, "c1", size))
			msgs := fast.read(t, "c1", size)
			n, all, err := fast.sumBatch(t, msgs).Run(ctx, c, keys.Group, "c1")
			if err != nil || !all || n != int64(len(msgs)) {
				t.Fatalf("fast path: applied %d of %d, all pending %v, %v", n, len(msgs), all, err)
			}
		}
		for _, key := range []func(*fixture) string{
			func(f *fixture) string { return f.schema.Total(0) },
			func(f *fixture) string { return f.schema.Device(0, "a") },
			func(f *fixture) string { return f.schema.Device(0, "c") },
		} {
			s, _ := c.HGetAll(ctx, key(slow)).Result()
			f, _ := c.HGetAll(ctx, key(fast)).Result()
			if len(s) == 0 || len(s) != len(f) {
				t.Fatalf("hashes differ: %v vs %v", s, f)
			}
			for k, v := range s {
				if f[k] != v {
					t.Errorf("%s: field %s = %s on the fast path, %s entry by entry", key(fast), k, f[k], v)
				}
			}
		}
		if got, want := fast.sums(t, fast.schema.Total(0)), sumOf(pts); got != want {
			t.Errorf("total = %+v, want %+v", got, want)
		}
		devs, _ := c.ZRange(ctx, fast.schema.DeviceIndex(0), 0, -1).Result()
		if len(devs) != 3 {
			t.Errorf("device index = %v", devs)
		}
		if n, _ := c.XPending(ctx, fast.schema.Stream(0), keys.Group).Result(); n.Count != 0 {
			t.Errorf("pending after the fast path = %d", n.Count)
		}
	})
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
			if err := f.c.XClaim(context.Background(), &redis.XClaimArgs{
				Stream: f.schema.Stream(0), Group: keys.Group, Consumer: "other", Messages: []string{msgs[7].ID},
			}).Err(); err != nil {
				t.Fatal(err)
			}
			return msgs
		}},
		{"pending for another consumer only", func(t *testing.T, f *fixture, msgs []redis.XMessage) []redis.XMessage {
			ids := make([]string, len(msgs))
			for i, m := range msgs {
				ids[i] = m.ID
			}
			if err := f.c.XClaim(context.Background(), &redis.XClaimArgs{
				Stream: f.schema.Stream(0), Group: keys.Group, Consumer: "other", Messages: ids,
			}).Err(); err != nil {
				t.Fatal(err)
			}
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
			if err := f.c.XClaim(context.Background(), &redis.XClaimArgs{
				Stream: f.schema.Stream(0), Group: keys.Group, Consumer: "other", Messages: []string{msgs[4].ID},
			}).Err(); err != nil {
				t.Fatal(err)
			}
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
		sums := []any{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
		for name, args := range map[string][]any{
			"no ids":      append([]any{keys.Group, "c", "run", 0}, sums...),
			"bad id":      append([]any{keys.Group, "c", "run", 1, "x"}, sums...),
			"bad id each": append([]any{keys.Group, "c", "each", 1, "x"}, sums...),
			"bad proof":   append([]any{keys.Group, "c", "all", 1, msgs[0].ID}, sums...),
			"short sums":  {keys.Group, "c", "run", 1, msgs[0].ID, 0, 1},
			"device at 1": append(append([]any{keys.Group, "c", "run", 1, msgs[0].ID}, sums...), 1, "a", 1, 2, 3),
		} {
			if err := ApplySums.Run(ctx, c, []string{stream, f.schema.DeviceIndex(0), total}, args...).Err(); err == nil {
				t.Errorf("%s: want error", name)
			}
		}
		c.Set(ctx, total, "not a hash", 0)
		if err := ApplySums.Run(ctx, c, []string{stream, f.schema.DeviceIndex(0), total},
			append([]any{keys.Group, "c", "run", 1, msgs[0].ID}, sums...)...).Err(); err == nil {
			t.Error("string aggregate: want error")
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
