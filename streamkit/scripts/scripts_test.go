package scripts

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

func randomPoints(r *rand.Rand, n int, devices ...string) []point.Point {
	pts := make([]point.Point, n)
	for i := range pts {
		pts[i] = point.Point{
			DeviceID: devices[r.IntN(len(devices))],
			TimeMs:   1_700_000_000_000 + r.Int64N(86_400_000),
			LatE7:    r.Int64N(1_800_000_001) - 900_000_000,
			LonE7:    r.Int64N(3_600_000_001) - 1_800_000_000,
		}
	}
	return pts
}

// fixture is one partition's stream with a consumer group.
type fixture struct {
	c       *redis.Client
	schema  *keys.Schema
	markers *Markers // the partition's idempotency markers, TTL 1 minute
}

func newFixture(t *testing.T, c *redis.Client) *fixture {
	t.Helper()
	s, err := keys.New(fmt.Sprintf("t%d", rand.Int()), 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.XGroupCreateMkStream(ctx, s.Stream(0), keys.Group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	return &fixture{c: c, schema: s, markers: NewMarkers(s, 0, time.Minute)}
}

// append stores pts as legacy entries, one per point, as versions before
// the packed format wrote them (the processor still counts those).
func (f *fixture) append(t *testing.T, pts []point.Point) {
	t.Helper()
	for i := range pts {
		err := f.c.XAdd(context.Background(), &redis.XAddArgs{
			Stream: f.schema.Stream(0), Values: pts[i].AppendLegacyFields(nil),
		}).Err()
		if err != nil {
			t.Fatalf("append: %v", err)
		}
	}
}

// appendPacked stores pts with the Append script: one packed entry per
// call of at most per points.
func (f *fixture) appendPacked(t *testing.T, pts []point.Point, per int) {
	t.Helper()
	for len(pts) > 0 {
		n := min(per, len(pts))
		b := AppendBatch{Stream: f.schema.Stream(0), Backlog: f.schema.Backlog(0)}
		for i := range pts[:n] {
			b.Add(&pts[i])
		}
		res, err := b.Run(context.Background(), f.c)
		if err != nil || res.Stored != int64(n) {
			t.Fatalf("append: %+v, %v", res, err)
		}
		pts = pts[n:]
	}
}

// read delivers up to n new entries to consumer.
func (f *fixture) read(t *testing.T, consumer string, n int64) []redis.XMessage {
	t.Helper()
	res, err := f.c.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: keys.Group, Consumer: consumer, Streams: []string{f.schema.Stream(0), ">"}, Count: n, Block: -1,
	}).Result()
	if err == redis.Nil {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return res[0].Messages
}

func (f *fixture) batch(t *testing.T, msgs []redis.XMessage) *ApplyBatch {
	t.Helper()
	b := NewApplyBatch(f.schema, 0)
	f.addEntries(t, msgs, b, func(dev string) []AggKey { return []AggKey{{Key: f.schema.Total(0)}, {Key: dev}} })
	return b
}

// entryAdder is ApplyBatch or SumBatch.
type entryAdder interface {
	AddEntry(id string, packed bool) error
	AddPoint(p point.Point, deviceKey string, aggs []AggKey) error
}

// addEntries decodes msgs (legacy or packed) and adds their points to b,
// each to the aggregates aggsOf names for its device's hash.
func (f *fixture) addEntries(t *testing.T, msgs []redis.XMessage, b entryAdder, aggsOf func(dev string) []AggKey) {
	t.Helper()
	var pts []point.Point
	for _, m := range msgs {
		var packed bool
		var err error
		if pts, packed, err = point.DecodeEntry(m.Values, pts[:0]); err != nil {
			t.Fatal(err)
		}
		if err := b.AddEntry(m.ID, packed); err != nil {
			t.Fatal(err)
		}
		for _, p := range pts {
			dev := f.schema.Device(0, p.DeviceID)
			if err := b.AddPoint(p, dev, aggsOf(dev)); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func (f *fixture) apply(t *testing.T, msgs []redis.XMessage) ApplyResult {
	t.Helper()
	res, err := f.batch(t, msgs).Run(context.Background(), f.c, keys.Group)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *fixture) sums(t *testing.T, key string) agg.Sums {
	t.Helper()
	h, err := f.c.HGetAll(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	s, err := agg.FromHash(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sumOf(pts []point.Point) agg.Sums {
	var s agg.Sums
	for _, p := range pts {
		s.AddPoint(p)
	}
	return s
}

func TestApplyCountsEachEntryOnce(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		pts := randomPoints(rand.New(rand.NewPCG(1, 2)), 300, "a", "b", "c")
		f.append(t, pts)
		first := f.read(t, "c1", 200)
		if got := f.apply(t, first); got != (ApplyResult{Applied: 200}) {
			t.Fatalf("first apply = %+v", got)
		}
		// Replaying the same batch adds nothing (invariant 1).
		if got := f.apply(t, first); got != (ApplyResult{Duplicates: 200}) {
			t.Fatalf("replay = %+v", got)
		}
		// An overlapping batch adds only its new entries.
		rest := f.read(t, "c1", 1000)
		overlap := append(append([]redis.XMessage{}, first[150:]...), rest...)
		if got := f.apply(t, overlap); got != (ApplyResult{Applied: 100, Duplicates: 50}) {
			t.Fatalf("overlapping apply = %+v", got)
		}
		if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
			t.Fatalf("total = %+v\nwant    %+v", got, want)
		}
		for _, dev := range []string{"a", "b", "c"} {
			var mine []point.Point
			for _, p := range pts {
				if p.DeviceID == dev {
					mine = append(mine, p)
				}
			}
			if got, want := f.sums(t, f.schema.Device(0, dev)), sumOf(mine); got != want {
				t.Errorf("device %s = %+v\nwant %+v", dev, got, want)
			}
		}
		devs, _ := c.ZRange(context.Background(), f.schema.DeviceIndex(0), 0, -1).Result()
		if fmt.Sprint(devs) != "[a b c]" {
			t.Errorf("device index = %v", devs)
		}
		if n, _ := c.XPending(context.Background(), f.schema.Stream(0), keys.Group).Result(); n.Count != 0 {
			t.Errorf("pending after apply = %d", n.Count)
		}
	})
}

// Sums of a full batch of extreme values stay exact: Lua numbers are doubles
// and must print as integers (apply.lua, invariant 3).
func TestApplyExtremeValuesExact(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		pts := make([]point.Point, 5000)
		for i := range pts {
			pts[i] = point.Point{DeviceID: "x", TimeMs: 4_102_444_800_000 + int64(i), LatE7: 899_999_999, LonE7: 1_799_999_999}
			if i%2 == 1 {
				pts[i].LatE7, pts[i].LonE7 = -899_999_999, -1_799_999_999
			}
		}
		// Odd count on the positive side, so sums are far from zero.
		pts = append(pts, point.Point{DeviceID: "x", TimeMs: 1, LatE7: 900_000_000, LonE7: 1_800_000_000})
		f.append(t, pts)
		msgs := f.read(t, "c1", int64(len(pts)))
		f.apply(t, msgs)
		if got, want := f.sums(t, f.schema.Total(0)), sumOf(pts); got != want {
			t.Fatalf("total = %+v\nwant    %+v", got, want)
		}
		// A second batch on top, all positive: Σlat 1e12-scale per batch.
		pos := make([]point.Point, 5000)
		for i := range pos {
			pos[i] = point.Point{DeviceID: "x", TimeMs: 2, LatE7: 900_000_000, LonE7: 1_800_000_000}
		}
		f.append(t, pos)
		f.apply(t, f.read(t, "c1", 5000))
		if got, want := f.sums(t, f.schema.Total(0)), sumOf(append(pts, pos...)); got != want {
			t.Fatalf("total = %+v\nwant    %+v", got, want)
		}
	})
}

// The last position of a device is the same whatever order entries are
// applied in, including ties on the timestamp (invariant 4).
func TestApplyLastPositionOrderIndependent(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		pts := []point.Point{
			{DeviceID: "d", TimeMs: 1000, LatE7: 10, LonE7: 10},
			{DeviceID: "d", TimeMs: 3000, LatE7: 30, LonE7: 30},
			{DeviceID: "d", TimeMs: 3000, LatE7: 20, LonE7: 40}, // tie on time
			{DeviceID: "d", TimeMs: 2000, LatE7: 50, LonE7: 50},
		}
		var want map[string]string
		for _, order := range [][]int{{0, 1, 2, 3}, {3, 2, 1, 0}, {2, 0, 3, 1}} {
			f := newFixture(t, c)
			for _, i := range order { // one batch per point, in this order
				f.append(t, pts[i:i+1])
				f.apply(t, f.read(t, "c", 1))
			}
			h := hashWithToken(t, c, f.schema.Device(0, "d"))
			if h["lt"] != "3000" || h["llat"] != "30" || h["llon"] != "30" {
				t.Errorf("order %v: last = %s %s %s, want 3000 30 30", order, h["lt"], h["llat"], h["llon"])
			}
			if want == nil {
				want = h
			} else if fmt.Sprint(h) != fmt.Sprint(want) {
				t.Errorf("order %v: hash %v, differs from %v", order, h, want)
			}
		}
	})
}

// A malformed call writes nothing, not even its XACKs (invariant 2).
func TestApplyRejectsBadArgumentsWithoutWriting(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		f.append(t, randomPoints(rand.New(rand.NewPCG(3, 4)), 3, "a"))
		msgs := f.read(t, "c", 3)
		ctx := context.Background()
		stream, total := f.schema.Stream(0), f.schema.Total(0)
		ks := []string{stream, f.schema.DeviceIndex(0), total, f.schema.Geo(0), f.schema.Backlog(0)}
		// a row: id, device, time, lat, lon, x, y, z, device key, kind,
		// track key, record, extras, aggregate key
		good := []any{msgs[0].ID, "a", 1, 2, 3, 4, 5, 6, 3, 0, 0, "", "", 3}
		row := func(id string, kind any, v any, agg int) []any {
			return append(append([]any{keys.Group, 1, 0, 1}, good...), id, "a", v, 2, 3, 4, 5, 6, 3, kind, 0, "", "", agg)
		}
		for name, args := range map[string][]any{
			"key count mismatch": {keys.Group, 2, 0, 1},
			"ragged entries":     append([]any{keys.Group, 1, 0, 1}, append(good, msgs[1].ID, "a", 1)...),
			"non-numeric value":  row(msgs[1].ID, 0, "x", 3),
			"key index too high": row(msgs[1].ID, 0, 1, 4), // the geo index
			"key index 1":        row(msgs[1].ID, 0, 1, 1),
			"not a stream id":    row("not-an-id", 0, 1, 3),
			"bad kind":           row(msgs[1].ID, 3, 1, 3),
			"kind 2 first":       append([]any{keys.Group, 1, 0, 1}, "", "a", 1, 2, 3, 4, 5, 6, 3, 2, 0, "", "", 3),
			"track without key":  append(row(msgs[1].ID, 0, 1, 3)[:len(good)+4+10], 4, "123456789012", "", 3), // the geo index
			"track at an agg":    append(row(msgs[1].ID, 0, 1, 3)[:len(good)+4+10], 3, "123456789012", "", 3),
		} {
			err := Apply.Run(ctx, c, ks, args...).Err()
			if err == nil {
				t.Errorf("%s: want error", name)
			}
		}
		// An aggregate key of the wrong type would make HINCRBY fail after
		// the XACKs: it must be refused up front.
		c.Set(ctx, total, "not a hash", 0)
		if err := Apply.Run(ctx, c, ks, append([]any{keys.Group, 1, 0, 1}, good...)...).Err(); err == nil {
			t.Error("string aggregate key: want error")
		}
		c.Del(ctx, total)
		c.Set(ctx, f.schema.DeviceIndex(0), "not a zset", 0)
		if err := Apply.Run(ctx, c, ks, append([]any{keys.Group, 1, 0, 1}, good...)...).Err(); err == nil {
			t.Error("string device index: want error")
		}
		c.Del(ctx, f.schema.DeviceIndex(0))
		c.HSet(ctx, f.schema.Backlog(0), "x", 1)
		if err := Apply.Run(ctx, c, ks, append([]any{keys.Group, 1, 0, 1}, good...)...).Err(); err == nil {
			t.Error("a hash as the backlog counter: want error")
		}
		if n, _ := c.XPending(ctx, stream, keys.Group).Result(); n.Count != 3 {
			t.Errorf("pending = %d, want 3 (nothing acknowledged)", n.Count)
		}
		if n, _ := c.Exists(ctx, total).Result(); n != 0 {
			t.Errorf("aggregate written by a rejected call")
		}
		// The calls above differ from this well-formed one in one value each.
		c.Del(ctx, f.schema.Backlog(0))
		if err := Apply.Run(ctx, c, ks, row(msgs[1].ID, 0, 1, 3)...).Err(); err != nil {
			t.Errorf("well-formed call: %v", err)
		}
	})
}

func TestApplyExpiresBuckets(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		f.append(t, randomPoints(rand.New(rand.NewPCG(5, 6)), 2, "a"))
		msgs := f.read(t, "c", 2)
		b := NewApplyBatch(f.schema, 0)
		bucket := f.schema.Bucket(0, "1m", 0)
		at := int64(4_102_444_800_000) // 2100-01-01
		for _, m := range msgs {
			p, _ := point.FromValues(m.Values)
			if err := b.Add(m.ID, p, "", []AggKey{{Key: bucket, ExpireAtMs: at}, {}}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := b.Run(context.Background(), c, keys.Group); err != nil {
			t.Fatal(err)
		}
		// miniredis keeps a TTL relative to when it was set, so its
		// PEXPIRETIME runs late by the time since (a few ms on a busy
		// machine); Redis answers the time set.
		if got, _ := c.PExpireTime(context.Background(), bucket).Result(); got.Milliseconds() < at || got.Milliseconds() > at+1000 {
			t.Errorf("PEXPIRETIME = %d ms, want %d ms", got.Milliseconds(), at)
		}
		if s := f.sums(t, bucket); s.Count != 2 {
			t.Errorf("bucket count = %d", s.Count)
		}
	})
}

func testSchema(t *testing.T) *keys.Schema {
	t.Helper()
	s, err := keys.New("t", 1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestApplyBatchRejectsRaggedAdd(t *testing.T) {
	b := NewApplyBatch(testSchema(t), 0)
	p := point.Point{DeviceID: "a"}
	if err := b.Add("1-0", p, "d", []AggKey{{Key: "x"}}); err != nil {
		t.Fatal(err)
	}
	if err := b.Add("2-0", p, "d", []AggKey{{Key: "x"}, {Key: "y"}}); err == nil {
		t.Fatal("want error for a different number of aggregates")
	}
}

func TestApplyBatchBounded(t *testing.T) {
	b := NewApplyBatch(testSchema(t), 0)
	p := point.Point{DeviceID: "a"}
	for i := 0; i < MaxApplyEntries; i++ {
		if err := b.Add("1-0", p, "d", nil); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	}
	if err := b.Add("1-0", p, "d", nil); err == nil {
		t.Fatal("want error past MaxApplyEntries")
	}
}

// TestWithTokenKeepsLineNumbers: an error in a script that token.lua was
// put in front of names the line of the script's own file.
func TestWithTokenKeepsLineNumbers(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		script := redis.NewScript(withPrelude("-- line 1\nlocal t = token('1-2')\nreturn redis.call('NOSUCHCOMMAND', t)"))
		err := script.Run(context.Background(), c, nil).Err()
		if err == nil || !strings.Contains(err.Error(), ":3:") && !strings.Contains(err.Error(), "script:3") {
			t.Errorf("err %v, want it to name line 3", err)
		}
	})
}
