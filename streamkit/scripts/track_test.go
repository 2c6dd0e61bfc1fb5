package scripts

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redisconn/clustertest"
	"github.com/geostream/geostream/streamkit/redistest/backends"
	"github.com/geostream/geostream/streamkit/track"
)

// trackNow is the "now" of the track tests (Redis expires keys by its own
// clock); trackPoints are within the day after it.
var trackNow = time.Now().UnixMilli()

func trackPoints(r *rand.Rand, n int, devices ...string) []point.Point {
	pts := randomPoints(r, n, devices...)
	for i := range pts {
		pts[i].TimeMs += trackNow - 1_700_000_000_000
	}
	return pts
}

func withExtras(r *rand.Rand, pts []point.Point) {
	for i := range pts {
		if i%3 == 0 {
			a, s := float64(r.IntN(9000))/10, 1.5
			pts[i].Extras = point.Extras{Altitude: &a, Speed: &s}
		}
	}
}

func (f *fixture) trackedApply(t *testing.T, msgs []redis.XMessage, retention time.Duration) ApplyResult {
	t.Helper()
	b := NewApplyBatch(f.schema, 0)
	b.SetTracks(retention, trackNow)
	f.addEntries(t, msgs, b, func(dev string) []AggKey { return []AggKey{{Key: f.schema.Total(0)}, {Key: dev}} })
	res, err := b.Run(context.Background(), f.c, keys.Group)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *fixture) trackedSums(t *testing.T, msgs []redis.XMessage, retention time.Duration, consumer string) (int64, bool, error) {
	t.Helper()
	b := NewSumBatch(f.schema, 0)
	b.SetTracks(retention, trackNow)
	f.addEntries(t, msgs, b, func(dev string) []AggKey { return []AggKey{{Key: f.schema.Total(0)}, {Key: dev}} })
	return b.Run(context.Background(), f.c, keys.Group, consumer)
}

// trackOf reads device dev's whole track.
func (f *fixture) trackOf(t *testing.T, dev string) []point.Point {
	t.Helper()
	pg, err := track.Read(context.Background(), f.c, f.schema, dev, trackNow-point.HourMs, trackNow+2*86_400_000, track.Cursor{}, 1_000_000)
	if err != nil || pg.Next != nil {
		t.Fatalf("read track: %v, next %v", err, pg.Next)
	}
	return pg.Points
}

// sameTrack checks that got is want in time order (ties in any order).
func sameTrack(t *testing.T, dev string, got, want []point.Point) {
	t.Helper()
	var w []point.Point
	for _, p := range want {
		if p.DeviceID == dev {
			w = append(w, p)
		}
	}
	if !slices.IsSortedFunc(got, func(a, b point.Point) int { return int(a.TimeMs - b.TimeMs) }) {
		t.Errorf("track of %s not in time order", dev)
	}
	key := func(p point.Point) string {
		return fmt.Sprintf("%s %d %d %d|%s", p.DeviceID, p.TimeMs, p.LatE7, p.LonE7, extrasString(p.Extras))
	}
	g, ws := make([]string, len(got)), make([]string, len(w))
	for i := range got {
		g[i] = key(got[i])
	}
	for i := range w {
		ws[i] = key(w[i])
	}
	slices.Sort(g)
	slices.Sort(ws)
	if !slices.Equal(g, ws) {
		t.Errorf("track of %s: %d points, want %d (each sent point once)", dev, len(got), len(w))
	}
}

func extrasString(e point.Extras) string {
	var b strings.Builder
	for _, x := range []*float64{e.Altitude, e.Speed, e.Heading, e.Accuracy, e.Battery} {
		if x == nil {
			b.WriteString("-,")
		} else {
			b.WriteString(strconv.FormatFloat(*x, 'g', -1, 64) + ",")
		}
	}
	return b.String()
}

// Invariant 7 of apply.lua, 5 of applysums.lua: a track holds every counted
// point once, whatever is replayed, redelivered or refused.
func TestTracksExactlyOnce(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		r := rand.New(rand.NewPCG(41, 42))
		pts := trackPoints(r, 300, "a", "b", "c")
		withExtras(r, pts)
		f := newFixture(t, c)
		f.appendPacked(t, pts[:200], 7)
		msgs := f.read(t, "c1", 1000)
		ret := 168 * time.Hour
		f.trackedApply(t, msgs[3:5], ret) // counted by another call first
		if n, all, err := f.trackedSums(t, msgs, ret, "c1"); err != nil || all || n != 0 {
			t.Fatalf("fast path over counted entries: %d, %v, %v", n, all, err)
		}
		if got := f.trackedApply(t, msgs, ret); got.Duplicates != 14 {
			t.Fatalf("entry by entry: %+v, want 14 duplicate points", got)
		}
		if got := f.trackedApply(t, msgs, ret); got.Applied != 0 { // a replay
			t.Fatalf("replay: %+v", got)
		}
		f.appendPacked(t, pts[200:], 9)
		more := f.read(t, "c2", 1000)
		if n, all, err := f.trackedSums(t, more, ret, "c2"); err != nil || !all || n != int64(len(more)) {
			t.Fatalf("fast path: %d, %v, %v", n, all, err)
		}
		if n, all, _ := f.trackedSums(t, more, ret, "c2"); all || n != 0 { // a replay
			t.Fatalf("fast path replay: %d, %v", n, all)
		}
		if got := f.trackedApply(t, more, ret); got.Applied != 0 {
			t.Fatalf("slow replay: %+v", got)
		}
		total := 0
		for _, dev := range []string{"a", "b", "c"} {
			got := f.trackOf(t, dev)
			total += len(got)
			sameTrack(t, dev, got, pts)
		}
		if n := f.sums(t, f.schema.Total(0)).Count; int64(total) != n || total != len(pts) {
			t.Errorf("tracks hold %d points, total counts %d, sent %d", total, n, len(pts))
		}
	})
}

func trackKeys(t *testing.T, f *fixture) []string {
	t.Helper()
	ks, err := f.c.Keys(context.Background(), f.schema.Prefix()+":*trk:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// Retention 0 writes no track; nor does a point whose hour has expired.
func TestTracksOffOrExpiredWriteNothing(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		pts := trackPoints(rand.New(rand.NewPCG(43, 44)), 40, "a", "b")
		f := newFixture(t, c)
		f.appendPacked(t, pts, 5)
		msgs := f.read(t, "c1", 100)
		f.trackedApply(t, msgs[:2], 0)
		if n, all, err := f.trackedSums(t, msgs[2:4], 0, "c1"); err != nil || !all || n != 2 {
			t.Fatalf("fast path: %d, %v, %v", n, all, err)
		}
		b := NewApplyBatch(f.schema, 0)
		b.SetTracks(time.Hour, trackNow+3*86_400_000) // every hour of pts ended > 1 h before
		f.addEntries(t, msgs[4:], b, func(dev string) []AggKey { return []AggKey{{Key: f.schema.Total(0)}} })
		if _, err := b.Run(context.Background(), c, keys.Group); err != nil {
			t.Fatal(err)
		}
		if ks := trackKeys(t, f); len(ks) != 0 {
			t.Errorf("track keys written: %v", ks)
		}
		if n := f.sums(t, f.schema.Total(0)).Count; n != 40 {
			t.Errorf("counted %d, want 40", n)
		}
	})
}

// A track key that is not a list is refused before anything is written
// (apply.lua invariants 2 and 7, applysums.lua invariants 2 and 5).
func TestTracksBadKeyWritesNothing(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		pts := trackPoints(rand.New(rand.NewPCG(45, 46)), 10, "a")
		f := newFixture(t, c)
		f.appendPacked(t, pts, 5)
		msgs := f.read(t, "c1", 100)
		bad := f.schema.Track(0, point.HourStart(pts[3].TimeMs), "a")
		c.Set(ctx, bad, "x", 0)
		b := NewApplyBatch(f.schema, 0)
		b.SetTracks(time.Hour, trackNow)
		f.addEntries(t, msgs, b, func(dev string) []AggKey { return []AggKey{{Key: f.schema.Total(0)}} })
		if _, err := b.Run(ctx, c, keys.Group); err == nil || !strings.Contains(err.Error(), "is not a list") {
			t.Errorf("apply: %v, want 'is not a list'", err)
		}
		if _, _, err := f.trackedSums(t, msgs, time.Hour, "c1"); err == nil || !strings.Contains(err.Error(), "is not a list") {
			t.Errorf("applysums: %v, want 'is not a list'", err)
		}
		if p, _ := c.XPending(ctx, f.schema.Stream(0), keys.Group).Result(); p.Count != 2 {
			t.Errorf("pending = %d, want 2 (nothing acknowledged)", p.Count)
		}
		if ks := trackKeys(t, f); len(ks) != 1 {
			t.Errorf("track keys = %v, want only the bad one", ks)
		}
		if n, _ := c.Exists(ctx, f.schema.Total(0)).Result(); n != 0 {
			t.Error("total written by a refused call")
		}
	})
}

// A track list expires at its hour's end plus the retention.
func TestTracksExpireAfterRetention(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		pts := []point.Point{{DeviceID: "a", TimeMs: trackNow + 5*point.HourMs + 1234, LatE7: 1, LonE7: 2}}
		f := newFixture(t, c)
		f.appendPacked(t, pts, 1)
		f.trackedApply(t, f.read(t, "c1", 10), 24*time.Hour)
		h := point.HourStart(pts[0].TimeMs)
		at, err := c.PExpireTime(context.Background(), f.schema.Track(0, h, "a")).Result()
		// miniredis keeps a TTL, not an instant: its PEXPIRETIME is off by
		// the time between the two calls, so a second's slack.
		want := time.Duration(h+point.HourMs+86_400_000) * time.Millisecond
		if d := at - want; err != nil || d < -time.Second || d > time.Second {
			t.Errorf("expire time = %v, %v, want %v", at, err, want)
		}
	})
}

// The last position keeps its point's extras (lx) on both paths (apply.lua
// invariant 8, applysums.lua invariant 6); a later point without extras
// clears them.
func TestLastPositionExtras(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		sp := 3.25
		pts := []point.Point{
			{DeviceID: "a", TimeMs: trackNow + 1, LatE7: 1, LonE7: 2, Extras: point.Extras{Speed: &sp}},
			{DeviceID: "a", TimeMs: trackNow + 2, LatE7: 1, LonE7: 2},
		}
		for _, fast := range []bool{false, true} {
			f := newFixture(t, c)
			f.appendPacked(t, pts[:1], 1)
			f.appendPacked(t, pts[1:], 1)
			msgs := f.read(t, "c1", 10)
			for i := range msgs {
				if fast {
					f.trackedSums(t, msgs[i:i+1], 0, "c1")
				} else {
					f.trackedApply(t, msgs[i:i+1], 0)
				}
				lx, _ := c.HGet(ctx, f.schema.Device(0, "a"), "lx").Result()
				var e point.Extras
				if err := point.DecodeExtras([]byte(lx), &e); err != nil {
					t.Fatal(err)
				}
				if got, want := extrasString(e), extrasString(pts[i].Extras); got != want {
					t.Errorf("fast %v, after point %d: lx = %s, want %s", fast, i, got, want)
				}
			}
		}
	})
}

// On a 3-master Redis Cluster both scripts write each partition's tracks
// in its own slot (the keys carry the partition's tag), exactly once.
func TestTracksCluster(t *testing.T) {
	clustertest.Require(t)
	c := clustertest.Start(t, 3).Client()
	ctx := context.Background()
	s, err := keys.New("tc", 3)
	if err != nil {
		t.Fatal(err)
	}
	devs := []string{"a", "b", "c", "d", "e", "f"}
	pts := trackPoints(rand.New(rand.NewPCG(47, 48)), 600, devs...)
	for p := range 3 {
		if err := c.XGroupCreateMkStream(ctx, s.Stream(p), keys.Group, "0").Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < len(pts); i += 20 {
		for p := range 3 {
			ab := AppendBatch{Stream: s.Stream(p), Backlog: s.Backlog(p)}
			n := 0
			for j := i; j < i+20; j++ {
				if s.PartitionOf(pts[j].DeviceID) == p {
					ab.Add(&pts[j])
					n++
				}
			}
			if n == 0 {
				continue
			}
			if _, err := ab.Run(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	for p := range 3 {
		res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{Group: keys.Group, Consumer: "c", Streams: []string{s.Stream(p), ">"}, Block: -1}).Result()
		if err == redis.Nil {
			continue // no device of ours in this partition
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs := res[0].Messages
		fast, slow := NewSumBatch(s, p), NewApplyBatch(s, p)
		fast.SetTracks(time.Hour, trackNow)
		slow.SetTracks(time.Hour, trackNow)
		for _, m := range msgs {
			got, packed, err := point.DecodeEntry(m.Values, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range []entryAdder{fast, slow} {
				b.AddEntry(m.ID, packed)
				for _, q := range got {
					b.AddPoint(q, s.Device(p, q.DeviceID), []AggKey{{Key: s.Total(p)}})
				}
			}
		}
		if n, all, err := fast.Run(ctx, c, keys.Group, "c"); err != nil || !all || n != int64(len(msgs)) {
			t.Fatalf("partition %d: fast path %d, %v, %v", p, n, all, err)
		}
		if r, err := slow.Run(ctx, c, keys.Group); err != nil || r.Applied != 0 { // a replay
			t.Fatalf("partition %d: replay %+v, %v", p, r, err)
		}
	}
	for _, dev := range devs {
		pg, err := track.Read(ctx, c, s, dev, trackNow-point.HourMs, trackNow+2*86_400_000, track.Cursor{}, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		sameTrack(t, dev, pg.Points, pts)
	}
}
