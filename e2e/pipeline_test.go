package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

// wirePoint is a point as a client sends it.
type wirePoint struct {
	Timestamp string  `json:"timestamp"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	DeviceID  string  `json:"device_id"`
}

// randomWire returns n uniform random points rounded to 7 decimals, so that
// what is sent is exactly what is stored.
func randomWire(r *rand.Rand, n int, device func(i int) string) []wirePoint {
	base := time.Now().Add(-time.Hour).UnixMilli()
	out := make([]wirePoint, n)
	for i := range out {
		out[i] = wirePoint{
			Timestamp: time.UnixMilli(base + r.Int64N(3_600_000)).UTC().Format(time.RFC3339Nano),
			Latitude:  math.Round((r.Float64()*180-90)*1e7) / 1e7,
			Longitude: math.Round((r.Float64()*360-180)*1e7) / 1e7,
			DeviceID:  device(i),
		}
	}
	return out
}

func (w wirePoint) point(tb testing.TB) point.Point {
	ts, err := time.Parse(time.RFC3339Nano, w.Timestamp)
	if err != nil {
		tb.Fatal(err)
	}
	return point.Point{DeviceID: w.DeviceID, TimeMs: ts.UnixMilli(), LatE7: geo.ToFixed(w.Latitude), LonE7: geo.ToFixed(w.Longitude)}
}

// storedSums reads the all-time aggregate of every partition straight from
// Redis, merged.
func storedSums(t *testing.T, c *redis.Client, partitions int) agg.Sums {
	t.Helper()
	s, _ := keys.New("", partitions)
	var total agg.Sums
	for p := 0; p < partitions; p++ {
		h, err := c.HGetAll(context.Background(), s.Total(p)).Result()
		if err != nil {
			t.Fatal(err)
		}
		part, err := agg.FromHash(h)
		if err != nil {
			t.Fatal(err)
		}
		total.Merge(part)
	}
	return total
}

// Guarantee 1 and 2 with a healthy processor: 10,000 points from 32
// concurrent clients, in requests of 1 to 40 points, are all counted and
// the averages are the exact means of what was sent.
func TestConcurrentUploadsExactMeans(t *testing.T) {
	c := newCluster(t)
	c.startProcessor("p1")
	const n, clients = 10_000, 32
	pts := randomWire(rand.New(rand.NewPCG(1, 1)), n, func(i int) string { return fmt.Sprintf("dev-%d", i%20) })

	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				size := int64(1 + r.IntN(40))
				end := next.Add(size)
				startIdx := end - size
				if startIdx >= n {
					return
				}
				batch := pts[startIdx:min(end, n)]
				var body []byte
				if len(batch) == 1 && w%2 == 0 {
					body, _ = json.Marshal(batch[0]) // the seed's single-object form
				} else {
					body, _ = json.Marshal(batch)
				}
				code, err := upload(context.Background(), c.base, body)
				if err != nil || code != 200 {
					errs <- fmt.Errorf("upload of %d points: %d %v", len(batch), code, err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	got := c.waitCount(n, 60*time.Second)
	var sumLat, sumLon float64
	var want agg.Sums
	for _, p := range pts {
		sumLat += p.Latitude
		sumLon += p.Longitude
		want.AddPoint(p.point(t))
	}
	if d := math.Abs(got.AverageLatitude - sumLat/n); d > 1e-9 {
		t.Errorf("average_latitude = %.12f, exact mean %.12f (off by %g)", got.AverageLatitude, sumLat/n, d)
	}
	if d := math.Abs(got.AverageLongitude - sumLon/n); d > 1e-9 {
		t.Errorf("average_longitude = %.12f, exact mean %.12f (off by %g)", got.AverageLongitude, sumLon/n, d)
	}
	if stored := storedSums(t, c.redis.Client(), 4); stored != want {
		t.Errorf("stored sums = %+v\nwant           %+v", stored, want)
	}
}
