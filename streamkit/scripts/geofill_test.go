package scripts

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

// An index lost (or never written, before an upgrade) is filled from the
// device hashes, in chunks; an existing one is left alone.
func TestFillGeoIndex(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		var pts []point.Point
		var devs []string
		for i := range 1200 { // three chunks
			id := fmt.Sprintf("d%04d", i)
			devs = append(devs, id)
			lat := int64(i%170-85) * 10_000_000
			if i%100 == 0 {
				lat = 890_000_000 // beyond the index's latitudes
			}
			pts = append(pts, point.Point{DeviceID: id, TimeMs: 1_700_000_000_000, LatE7: lat, LonE7: int64(i%360-180) * 10_000_000})
		}
		f.append(t, pts)
		f.apply(t, f.read(t, "c1", 2000))
		f.checkGeoIndex(t, devs)
		want, err := c.ZCard(ctx, f.schema.Geo(0)).Result()
		if err != nil || want != 1200-12 {
			t.Fatalf("geo index holds %d devices (%v), want %d", want, err, 1200-12)
		}
		if n, err := FillGeoIndex(ctx, c, f.schema, 0); n != 0 || err != nil {
			t.Errorf("fill of an existing index read %d devices, %v", n, err)
		}
		c.Del(ctx, f.schema.Geo(0))
		if n, err := FillGeoIndex(ctx, c, f.schema, 0); n != 1200 || err != nil {
			t.Errorf("fill read %d devices, %v; want 1200", n, err)
		}
		if got, _ := c.ZCard(ctx, f.schema.Geo(0)).Result(); got != want {
			t.Errorf("filled index holds %d devices, want %d", got, want)
		}
		f.checkGeoIndex(t, devs)
	})
}
