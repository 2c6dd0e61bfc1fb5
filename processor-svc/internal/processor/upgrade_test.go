package processor

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest/backends"
	"github.com/geostream/geostream/streamkit/track"
)

// appendLegacy stores pts as versions before the packed format did: one
// entry per point, and no backlog counter.
func appendLegacy(tb testing.TB, c redis.UniversalClient, s *keys.Schema, pts []point.Point) {
	tb.Helper()
	for i := range pts {
		err := c.XAdd(context.Background(), &redis.XAddArgs{
			Stream: s.Stream(s.PartitionOf(pts[i].DeviceID)), Values: pts[i].AppendLegacyFields(nil),
		}).Err()
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// Upgrade in place: entries of the previous format still in the streams,
// some already delivered to a consumer of the old version that died, are
// counted exactly once by new processors that meanwhile count new packed
// entries arriving under load, with claims and small batches mixing both
// formats in one call.
func TestUpgradeInPlace(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		s := newSchema(t, 3)
		old := genPoints(41, 1500, 30)
		createGroups(t, c, s)
		appendLegacy(t, c, s, old)
		readAs(t, c, s, "old-version", 50) // delivered before the upgrade, never counted
		fresh := genPoints(42, 3000, 40)
		cfg := testConfig("a")
		cfg.BatchSize = 64
		cfg.TrackRetention = 10 * 365 * 24 * time.Hour // the points are of 2024
		// Claim min idle well above a batch's time on miniredis, so that only
		// the old version's entries are claimed, not a live processor's.
		cfg.ClaimInterval, cfg.ClaimMinIdle = 20*time.Millisecond, 400*time.Millisecond
		a := start(t, c, s, cfg)
		cfg.Consumer = "b"
		b := start(t, c, s, cfg)
		for i := 0; i < len(fresh); i += 150 {
			appendPoints(t, c, s, fresh[i:i+150])
		}
		all := append(append([]point.Point(nil), old...), fresh...)
		waitCount(t, c, s, int64(len(all)))
		for _, r := range []*running{a, b} {
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
		}
		checkExact(t, c, s, all)
		checkTracks(t, c, s, all)
		if n := pendingOf(t, c, s, ""); n != 0 {
			t.Errorf("%d entries still pending", n)
		}
		for p := range s.Partitions() {
			if n, _ := c.Get(context.Background(), s.Backlog(p)).Int64(); n != 0 {
				t.Errorf("partition %d: backlog counter %d after counting everything, want 0", p, n)
			}
		}
		// Duplicates may be non-zero: under a loaded machine one processor
		// can claim an entry the other is still applying; the loser's XACK
		// returns 0 and it adds nothing (checkExact above). Applied must add
		// up exactly.
		if sa, sb := a.Stats(), b.Stats(); sa.Applied+sb.Applied != int64(len(all)) {
			t.Errorf("stats a %+v, b %+v: want %d points applied in all", sa, sb, len(all))
		}
	})
}

// checkTracks checks that every device's track holds exactly its points of
// pts (legacy and packed alike), in event-time order.
func checkTracks(tb testing.TB, c redis.UniversalClient, s *keys.Schema, pts []point.Point) {
	tb.Helper()
	want := map[string][]string{}
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, p := range pts {
		want[p.DeviceID] = append(want[p.DeviceID], fmt.Sprint(p.TimeMs, p.LatE7, p.LonE7))
		lo, hi = min(lo, p.TimeMs), max(hi, p.TimeMs)
	}
	for id, w := range want {
		pg, err := track.Read(context.Background(), c, s, id, lo, hi+1, track.Cursor{}, len(pts)+1)
		if err != nil {
			tb.Fatal(err)
		}
		got := make([]string, len(pg.Points))
		for i, p := range pg.Points {
			got[i] = fmt.Sprint(p.TimeMs, p.LatE7, p.LonE7)
			if i > 0 && p.TimeMs < pg.Points[i-1].TimeMs {
				tb.Errorf("track of %s out of order at %d", id, i)
			}
		}
		slices.Sort(got)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			tb.Errorf("track of %s: %d points, want %d, each once", id, len(got), len(w))
		}
	}
}
