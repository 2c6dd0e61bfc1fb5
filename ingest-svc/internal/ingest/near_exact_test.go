package ingest

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/ingest-svc/internal/apikey/apikeytest"
	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redisconn/clustertest"
	"github.com/geostream/geostream/streamkit/redistest"
)

// nearFleet is an API over any Redis, with the test keys, no rate limits,
// and a fleet of devices uploaded and counted through the write path
// (POST /upload, then apply.lua as the processor runs it).
type nearFleet struct {
	t      *testing.T
	c      redis.UniversalClient
	schema *keys.Schema
	router http.Handler
	// last is every device's last position as GET /devices lists it, the
	// input of the brute-force answers.
	last map[string]positionBody
}

func newNearFleet(t *testing.T, c redis.UniversalClient) *nearFleet {
	t.Helper()
	schema, err := keys.New(fmt.Sprintf("nf%d", rand.Int()), 4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultRouterConfig()
	cfg.RateLimit, cfg.ReadRateLimit = 0, 0
	router := NewRouter(cfg, Deps{Redis: c, Schema: schema, Windows: defaultWindows(),
		Now: func() time.Time { return testNow }, Keys: testKeySet(t)})
	return &nearFleet{t: t, c: c, schema: schema, router: router}
}

func (f *nearFleet) do(method, path, key, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+key)
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.router.ServeHTTP(rec, r)
	return rec
}

// fill uploads n devices (truck-* and car-*), each one to three points at
// positions drawn by pos, counts them, and reads every last position back
// from GET /devices.
func (f *nearFleet) fill(r *rand.Rand, n int, pos func() (lat, lon float64)) {
	f.t.Helper()
	var items []jsonPoint
	for i := range n {
		id := fmt.Sprintf("%s-%04d", []string{"truck", "car"}[i%2], i)
		for range 1 + r.IntN(3) {
			lat, lon := pos()
			ts := testNow.Add(-time.Duration(r.IntN(3600)) * time.Second)
			items = append(items, jsonPoint{ts.Format(time.RFC3339), lat, lon, id})
		}
	}
	for len(items) > 0 {
		chunk := items[:min(len(items), 2000)]
		items = items[len(chunk):]
		body, err := json.Marshal(chunk)
		if err != nil {
			f.t.Fatal(err)
		}
		if rec := f.do(http.MethodPost, "/upload", apikeytest.All, string(body)); rec.Code != http.StatusOK {
			f.t.Fatalf("upload: %d %s", rec.Code, rec.Body)
		}
	}
	process(f.t, f.c, f.schema, defaultWindows(), testNow.UnixMilli(), 500)
	f.last = map[string]positionBody{}
	for cursor := ""; ; {
		var p pageBody
		path := "/devices?limit=1000&cursor=" + cursor
		f.decode(path, apikeytest.All, &p)
		for _, d := range p.Devices {
			f.last[d.DeviceID] = *d.LastPosition
		}
		if p.NextCursor == nil {
			break
		}
		cursor = *p.NextCursor
	}
	if len(f.last) != n {
		f.t.Fatalf("%d devices listed, want %d", len(f.last), n)
	}
}

func (f *nearFleet) decode(path, key string, v any) {
	f.t.Helper()
	rec := f.do(http.MethodGet, path, key, "")
	if rec.Code != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
		f.t.Fatalf("GET %s: %v", path, err)
	}
}

// nearWant is one device of a brute-force answer.
type nearWant struct {
	id   string
	dist float64
}

// bruteForce answers a query from every device's last position: the
// devices inside, nearest the centre first. A device whose last latitude
// is beyond the geo index's range (±85.05112878°) is never in an answer
// (docs/architecture.md, "Geo index").
func (f *nearFleet) bruteForce(lat, lon float64, inside func(lat, lon, dist float64) bool, prefix string) []nearWant {
	var out []nearWant
	for id, p := range f.last {
		if !strings.HasPrefix(id, prefix) || math.Abs(math.Round(p.Latitude*1e7)) > geo.IndexMaxLatE7 {
			continue
		}
		if d := greatCircle(lat, lon, p.Latitude, p.Longitude); inside(p.Latitude, p.Longitude, d) {
			out = append(out, nearWant{id, d})
		}
	}
	slices.SortFunc(out, func(a, b nearWant) int { return cmp.Or(cmp.Compare(a.dist, b.dist), strings.Compare(a.id, b.id)) })
	return out
}

// greatCircle is the distance in metres on Redis's sphere, computed
// otherwise than geo.Distance: the angle between the unit vectors.
func greatCircle(lat1, lon1, lat2, lon2 float64) float64 {
	vec := func(lat, lon float64) [3]float64 {
		la, lo := lat*math.Pi/180, lon*math.Pi/180
		return [3]float64{math.Cos(la) * math.Cos(lo), math.Cos(la) * math.Sin(lo), math.Sin(la)}
	}
	a, b := vec(lat1, lon1), vec(lat2, lon2)
	cross := [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
	dot := a[0]*b[0] + a[1]*b[1] + a[2]*b[2]
	return geo.EarthRadius * math.Atan2(math.Sqrt(cross[0]*cross[0]+cross[1]*cross[1]+cross[2]*cross[2]), dot)
}

// pages reads every page of a near or bbox query and checks each page's
// shape; it returns the 400 body instead when the query is refused.
func (f *nearFleet) pages(query, key string, limit int) (got []deviceBody, refused string) {
	f.t.Helper()
	for cursor, n := "", 0; ; n++ {
		path := "/devices?" + query + "&limit=" + fmt.Sprint(limit)
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		rec := f.do(http.MethodGet, path, key, "")
		if rec.Code == http.StatusBadRequest && n == 0 {
			return nil, errorOf(f.t, rec).Error
		}
		var p struct {
			Devices    []deviceBody `json:"devices"`
			NextCursor *string      `json:"next_cursor"`
		}
		if rec.Code != http.StatusOK {
			f.t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Body)
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			f.t.Fatal(err)
		}
		if len(p.Devices) > limit || (p.NextCursor != nil && len(p.Devices) == 0) || n > 10_000/limit+2 {
			f.t.Fatalf("GET %s: page of %d devices, next %v", path, len(p.Devices), p.NextCursor)
		}
		got = append(got, p.Devices...)
		if p.NextCursor == nil {
			return got, ""
		}
		cursor = *p.NextCursor
	}
}

// compare checks an answer against the brute force's, device by device.
func (f *nearFleet) compare(query string, got []deviceBody, want []nearWant) {
	f.t.Helper()
	if len(got) != len(want) {
		f.t.Errorf("%s: %d devices, brute force %d", query, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		g, w := got[i], want[i]
		if g.DeviceID != w.id || g.DistanceM == nil || math.Abs(*g.DistanceM-w.dist) > 0.001 {
			f.t.Errorf("%s: device %d is %s at %v m, brute force %s at %.4f m", query, i, g.DeviceID, g.DistanceM, w.id, w.dist)
			return
		}
		if g.LastPosition == nil || *g.LastPosition != f.last[g.DeviceID] {
			f.t.Errorf("%s: %s last position %v, /devices %v", query, g.DeviceID, g.LastPosition, f.last[g.DeviceID])
		}
	}
}

// regions are where the random fleets gather: across the antimeridian,
// around both poles (inside and beyond the geo index's latitudes), a dense
// city with shared positions, and anywhere.
var regions = []struct {
	name                   string
	minLat, maxLat, lonMin float64
	lonSpan                float64
}{
	{"antimeridian", -30, 30, 178, 4},
	{"north", 80, 90, -180, 360},
	{"south", -90, -80, -180, 360},
	{"city", 52.50, 52.52, 13.39, 0.02},
	{"world", -90, 90, -180, 360},
}

// randomIn draws a position of region i, its longitude wrapped to ±180°
// and on the 1e-7° grid.
func randomIn(r *rand.Rand, i int) (float64, float64) {
	g := regions[i]
	lat := g.minLat + r.Float64()*(g.maxLat-g.minLat)
	lon := math.Mod(g.lonMin+r.Float64()*g.lonSpan+540, 360) - 180
	return geo.FromFixed(geo.ToFixed(lat)), geo.FromFixed(geo.ToFixed(lon))
}

// checkNearExact runs random near and bbox queries on a random fleet and
// compares every answer, all pages, with the brute force's.
func checkNearExact(t *testing.T, c redis.UniversalClient, seed uint64, devices, queries int) {
	r := rand.New(rand.NewPCG(seed, seed+1))
	f := newNearFleet(t, c)
	var shared [][2]float64 // positions several devices share
	f.fill(r, devices, func() (float64, float64) {
		if len(shared) > 0 && r.IntN(10) == 0 {
			p := shared[r.IntN(len(shared))]
			return p[0], p[1]
		}
		lat, lon := randomIn(r, r.IntN(len(regions)))
		if r.IntN(20) == 0 {
			shared = append(shared, [2]float64{lat, lon})
		}
		return lat, lon
	})
	var asked, refused, found int
	for range queries {
		key, prefix := apikeytest.All, ""
		if r.IntN(4) == 0 {
			key, prefix = apikeytest.Truck, "truck-"
		}
		limit := []int{1, 3, 50, 1000}[r.IntN(4)]
		lat, lon := randomIn(r, r.IntN(len(regions)))
		if r.IntN(4) == 0 { // a device's own position: distance 0
			for _, p := range f.last {
				lat, lon = p.Latitude, p.Longitude
				break
			}
		}
		var query string
		var want []nearWant
		if r.IntN(2) == 0 {
			radius := math.Exp(r.Float64() * math.Log(1.2e6)) // 1 m to 1200 km: some over the limit
			unit := fmt.Sprintf("%.3fm", radius)
			if r.IntN(2) == 0 {
				unit = fmt.Sprintf("%.6fkm", radius/1000)
			}
			radius, _ = parseDistance(unit)
			query = fmt.Sprintf("near=%v,%v&radius=%s", lat, lon, unit)
			want = f.bruteForce(lat, lon, func(_, _, d float64) bool { return d <= radius }, prefix)
		} else {
			h, w := math.Exp(r.Float64()*math.Log(1e5))*15e-5, math.Exp(r.Float64()*math.Log(1e5))*25e-5 // to 15° by 25°
			b := lonLatBox{minLat: max(-90, lat-h/2), maxLat: min(90, lat+h/2), minLon: lon - w/2, maxLon: lon + w/2}
			b.minLon = math.Mod(b.minLon+540, 360) - 180
			b.maxLon = math.Mod(b.maxLon+540, 360) - 180 // crosses the antimeridian when now below minLon
			query = fmt.Sprintf("bbox=%v,%v,%v,%v", b.minLon, b.minLat, b.maxLon, b.maxLat)
			q := geoQuery{box: &b}
			clat, clon := (b.minLat+b.maxLat)/2, b.minLon+w/2
			want = f.bruteForce(clat, clon, func(lat, lon, _ float64) bool { return q.contains(lat, lon) }, prefix)
		}
		got, msg := f.pages(query, key, limit)
		asked++
		if msg != "" {
			if !strings.Contains(msg, "at most 1000km") && !strings.Contains(msg, "circle of 1000km") {
				t.Errorf("%s: refused: %s", query, msg)
			}
			refused++
			continue
		}
		found += len(want)
		f.compare(query, got, want)
	}
	t.Logf("%d devices, %d queries: %d refused as too large, %d devices found in all", devices, asked, refused, found)
	if refused > asked/3 || found < asked {
		t.Errorf("the random queries test little: %d of %d refused, %d devices found", refused, asked, found)
	}
}

func TestNearExactMiniredis(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	checkNearExact(t, c, 61, 1500, 150)
}

func TestNearExactRedisServer(t *testing.T) {
	for _, seed := range []uint64{71, 73} {
		checkNearExact(t, redistest.Start(t).Client(), seed, 3000, 300)
	}
}

func TestNearExactCluster(t *testing.T) {
	clustertest.Require(t)
	checkNearExact(t, clustertest.Start(t, 3).Client(), 81, 1500, 100)
}
