package processor

import (
	"context"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/redistest"
)

// A processor indexes every device's last position as it counts, and on
// start fills a partition's geo index that is missing (an upgrade from a
// version without it).
func TestGeoIndexFilledOnStart(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 3)
	ctx := context.Background()
	pts := genPoints(91, 400, 25)
	appendPoints(t, c, s, pts)
	r := start(t, c, s, testConfig("a"))
	waitCount(t, c, s, int64(len(pts)))
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	indexed := func() int64 {
		var n int64
		for p := range s.Partitions() {
			k, err := c.ZCard(ctx, s.Geo(p)).Result()
			if err != nil {
				t.Fatal(err)
			}
			n += k
		}
		return n
	}
	var want int64
	last := map[string]int64{} // device → latitude of its last point
	lastT := map[string]int64{}
	for _, p := range pts {
		if t0, ok := lastT[p.DeviceID]; !ok || p.TimeMs > t0 || (p.TimeMs == t0 && p.LatE7 > last[p.DeviceID]) {
			lastT[p.DeviceID], last[p.DeviceID] = p.TimeMs, p.LatE7
		}
	}
	for _, lat := range last {
		if geo.InIndexRange(lat) {
			want++
		}
	}
	if got := indexed(); got != want || want == 0 {
		t.Fatalf("%d devices indexed while counting, want %d", got, want)
	}
	for p := range s.Partitions() {
		c.Del(ctx, s.Geo(p))
	}
	r = start(t, c, s, testConfig("b"))
	redistest.WaitFor(t, 5*time.Second, "the geo indexes filled", func() bool { return indexed() == want })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}
