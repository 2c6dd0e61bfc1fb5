package scripts

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

// geoPaths are the ways a batch is counted: apply.lua, applysums.lua in
// delta mode and in absolute mode.
var geoPaths = map[string]func(t *testing.T, f *fixture, msgs []redis.XMessage){
	"apply": func(t *testing.T, f *fixture, msgs []redis.XMessage) { f.apply(t, msgs) },
	"sums":  func(t *testing.T, f *fixture, msgs []redis.XMessage) { f.runSums(t, msgs, false) },
	"prepared": func(t *testing.T, f *fixture, msgs []redis.XMessage) {
		f.runSums(t, msgs, true)
	},
}

func (f *fixture) runSums(t *testing.T, msgs []redis.XMessage, prepare bool) {
	t.Helper()
	ctx := context.Background()
	b := f.sumBatch(t, msgs)
	if prepare {
		if err := b.Prepare(ctx, f.c); err != nil {
			t.Fatal(err)
		}
	}
	if _, all, err := b.Run(ctx, f.c, keys.Group, "c1"); err != nil || !all {
		t.Fatalf("apply sums: all pending %v, %v", all, err)
	}
}

// checkGeoIndex checks that the geo index holds each device's last position
// (to the geohash's 52-bit precision), and no device whose last latitude
// is beyond GEOADD's range.
func (f *fixture) checkGeoIndex(t *testing.T, devices []string) {
	t.Helper()
	ctx := context.Background()
	pos, err := f.c.GeoPos(ctx, f.schema.Geo(0), devices...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range devices {
		h, err := f.c.HMGet(ctx, f.schema.Device(0, id), "llat", "llon").Result()
		if err != nil {
			t.Fatal(err)
		}
		if h[0] == nil {
			if pos[i] != nil {
				t.Errorf("%s: no last position, but in the geo index at %v", id, *pos[i])
			}
			continue
		}
		lat, lon := atof(t, h[0]), atof(t, h[1])
		switch {
		case math.Abs(lat) > 850511287:
			if pos[i] != nil {
				t.Errorf("%s: last latitude %d is beyond the geo range but indexed at %v", id, int64(lat), *pos[i])
			}
		case pos[i] == nil:
			t.Errorf("%s: last position (%d, %d) is not in the geo index", id, int64(lat), int64(lon))
		case math.Abs(pos[i].Latitude-lat/1e7) > 1e-5 || lonDiff(pos[i].Longitude, lon/1e7) > 1e-5:
			t.Errorf("%s: indexed at %v, last position (%d, %d)", id, *pos[i], int64(lat), int64(lon))
		}
	}
}

// lonDiff is the difference of two longitudes in degrees, across the
// antimeridian too (miniredis indexes 180° as -180°).
func lonDiff(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 360)
	return min(d, 360-d)
}

func atof(t *testing.T, v any) float64 {
	t.Helper()
	s, _ := v.(string)
	var x float64
	if _, err := fmt.Sscan(s, &x); err != nil {
		t.Fatalf("not a number: %v", v)
	}
	return x
}

func TestGeoIndexFollowsLastPosition(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		for name, run := range geoPaths {
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, c)
				devs := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
				pts := randomPoints(rand.New(rand.NewPCG(51, 52)), 600, devs...)
				// The edges of GEOADD's latitude range: in, out, in.
				edge := []point.Point{
					{DeviceID: "n", TimeMs: 1, LatE7: 850511287, LonE7: 1800000000},
					{DeviceID: "s", TimeMs: 1, LatE7: -850511288, LonE7: -1800000000},
					{DeviceID: "s2", TimeMs: 1, LatE7: -850511287, LonE7: 0},
				}
				pts = append(pts, edge...)
				devs = append(devs, "n", "s", "s2")
				f.append(t, pts)
				for _, size := range []int64{1, 100, 250, 1000} {
					if msgs := f.read(t, "c1", size); len(msgs) > 0 {
						run(t, f, msgs)
					}
					f.checkGeoIndex(t, devs)
				}
			})
		}
	})
}

// A device that moves beyond the geo range leaves the index; an older point
// does not bring it back, a newer one in range does.
func TestGeoIndexPolarMoves(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		for name, run := range geoPaths {
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, c)
				ctx := context.Background()
				for i, p := range []point.Point{
					{DeviceID: "x", TimeMs: 2000, LatE7: 100_000_000, LonE7: 200_000_000},
					{DeviceID: "x", TimeMs: 3000, LatE7: 890_000_000, LonE7: 200_000_000},
					{DeviceID: "x", TimeMs: 1000, LatE7: 0, LonE7: 0},
					{DeviceID: "x", TimeMs: 4000, LatE7: -200_000_000, LonE7: -1_799_999_999},
				} {
					f.append(t, []point.Point{p})
					run(t, f, f.read(t, "c1", 1))
					n, err := c.ZCard(ctx, f.schema.Geo(0)).Result()
					if err != nil {
						t.Fatal(err)
					}
					if want := []int64{1, 0, 0, 1}[i]; n != want {
						t.Errorf("after point %d: %d devices in the geo index, want %d", i, n, want)
					}
					f.checkGeoIndex(t, []string{"x"})
				}
			})
		}
	})
}

// A geo index key of another type is refused before anything is written.
func TestGeoIndexWrongType(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		for name, run := range map[string]func(f *fixture, msgs []redis.XMessage) error{
			"apply": func(f *fixture, msgs []redis.XMessage) error {
				_, err := f.batch(t, msgs).Run(context.Background(), f.c, keys.Group)
				return err
			},
			"sums": func(f *fixture, msgs []redis.XMessage) error {
				_, _, err := f.sumBatch(t, msgs).Run(context.Background(), f.c, keys.Group, "c1")
				return err
			},
		} {
			t.Run(name, func(t *testing.T) {
				f := newFixture(t, c)
				ctx := context.Background()
				c.Set(ctx, f.schema.Geo(0), "not a zset", 0)
				f.append(t, randomPoints(rand.New(rand.NewPCG(53, 54)), 5, "a"))
				if err := run(f, f.read(t, "c1", 5)); err == nil {
					t.Fatal("want an error for a string geo index")
				}
				if p, _ := c.XPending(ctx, f.schema.Stream(0), keys.Group).Result(); p.Count != 5 {
					t.Errorf("pending = %d, want 5 (nothing acknowledged)", p.Count)
				}
				if n, _ := c.Exists(ctx, f.schema.Device(0, "a"), f.schema.Total(0)).Result(); n != 0 {
					t.Errorf("%d hashes written", n)
				}
			})
		}
	})
}
