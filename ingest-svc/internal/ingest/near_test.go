package ingest

import (
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/geostream/geostream/streamkit/point"
)

// Every bad near or bbox query answers 400 with a JSON error naming the
// parameter.
func TestNearBadInput(t *testing.T) {
	e := newEnv(t)
	for query, want := range map[string]string{
		"near=abc&radius=5km":                       "near must be LAT,LON",
		"near=91,0&radius=1km":                      "near must be LAT,LON",
		"near=1,181&radius=1km":                     "near must be LAT,LON",
		"near=1,2,3&radius=1km":                     "near must be LAT,LON",
		"near=NaN,2&radius=1km":                     "near must be LAT,LON",
		"near=&radius=1km":                          "near must be LAT,LON",
		"near=1,2":                                  "near needs a radius",
		"near=1,2&radius=5":                         "radius must be a distance",
		"near=1,2&radius=5mi":                       "radius must be a distance",
		"near=1,2&radius=0m":                        "radius must be a distance",
		"near=1,2&radius=-1km":                      "radius must be a distance",
		"near=1,2&radius=1000.001km":                "radius must be a distance",
		"near=1,2&radius=Infm":                      "radius must be a distance",
		"radius=5km":                                "radius goes with near",
		"near=1,2&radius=1km&bbox=0,0,1,1":          "give near or bbox, not both",
		"bbox=0,0,1,1&radius=1km":                   "radius goes with near",
		"bbox=1,2,3":                                "bbox must be minLon,minLat,maxLon,maxLat",
		"bbox=0,10,1,5":                             "minLat not above maxLat",
		"bbox=0,-91,1,5":                            "latitudes in -90..90",
		"bbox=-181,0,1,5":                           "longitudes in -180..180",
		"bbox=-180,-80,180,80":                      "fits in a circle of 1000km",
		"bbox=":                                     "bbox must be",
		"near=1,2&radius=1km&cursor=dev-1":          "cursor must be the next_cursor",
		"near=1,2&radius=1km&cursor=-1,dev-1":       "cursor must be the next_cursor",
		"near=1,2&radius=1km&cursor=5,bad/id":       "cursor must be the next_cursor",
		"near=1,2&radius=1km&limit=0":               "limit must be a whole number from 1 to 1000",
		"bbox=0,0,1,1&limit=1001":                   "limit must be a whole number from 1 to 1000",
		"near=1,2&radius=1km&foo=1":                 "unknown parameter(s) foo",
		"near=1,2&near=1,2&radius=1km":              "parameter near is given 2 times",
		"bbox=0,0,1,1&bbox=0,0,1,1":                 "parameter bbox is given 2 times",
		"near=1,2&radius=1km&radius=2km":            "parameter radius is given 2 times",
		"near=1,2&radius=1km&cursor=1,a&cursor=2,b": "parameter cursor is given 2 times",
	} {
		rec := e.get("/devices?" + query)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", query, rec.Code, rec.Body)
			continue
		}
		if msg := errorOf(t, rec).Error; !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want %q", query, msg, want)
		}
	}
}

// nearIDs answers GET /devices?<query> of a near or bbox query: each
// device listed with its distance.
func (e *env) nearIDs(query string) map[string]float64 {
	e.t.Helper()
	p := e.getPage("?" + query)
	out := map[string]float64{}
	for _, d := range p.Devices {
		if d.DistanceM == nil {
			e.t.Fatalf("%s: %s has no distance_m", query, d.DeviceID)
		}
		out[d.DeviceID] = *d.DistanceM
	}
	return out
}

// Known answers: across the antimeridian, at the edge of the geo index's
// latitudes and beyond, from a centre beyond them, and a device that moves
// beyond them.
func TestNearKnownAnswers(t *testing.T) {
	e := newEnv(t)
	ts := at("2025-01-23T11:00:00Z")
	e.ingest(
		point.Point{DeviceID: "east", TimeMs: ts, LatE7: 0, LonE7: 1_799_999_000},
		point.Point{DeviceID: "west", TimeMs: ts, LatE7: 0, LonE7: -1_799_999_000},
		point.Point{DeviceID: "edge", TimeMs: ts, LatE7: 850_511_287, LonE7: 100_000_000},
		point.Point{DeviceID: "pole", TimeMs: ts, LatE7: 899_000_000, LonE7: 0},
		point.Point{DeviceID: "mover", TimeMs: ts, LatE7: 850_000_000, LonE7: 0},
	)
	e.process()
	metre := 2 * math.Pi * 6372797.560856 / 360 / 1e4 // 1e-4° of a great circle
	near := func(query string, want map[string]float64) {
		t.Helper()
		got := e.nearIDs(query)
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", query, got, want)
			return
		}
		for id, d := range want {
			if g, ok := got[id]; !ok || math.Abs(g-d) > 0.002 {
				t.Errorf("%s: %v, want %v", query, got, want)
			}
		}
	}
	near("near=0,180&radius=20m", map[string]float64{"east": metre, "west": metre})
	near("near=0,-180&radius=20m", map[string]float64{"east": metre, "west": metre})
	near("near=0,179.9999&radius=30m", map[string]float64{"east": 0, "west": 2 * metre})
	near("bbox=179.99,-1,-179.99,1", map[string]float64{"east": metre, "west": metre}) // crosses the antimeridian
	near("bbox=179.99,-1,179.99999,1", map[string]float64{"east": 49.05 * metre})      // not crossing: west is outside
	near("bbox=-179.99,-1,-179.9,1", map[string]float64{})
	near("bbox=179.9999,0,180,0", map[string]float64{"east": metre / 2}) // distances from the box's centre
	// Beyond ±85.05112878° a device is not in the geo index; the edge is.
	near("near=89.9,0&radius=1km", map[string]float64{})
	near("bbox=-1,86,1,90", map[string]float64{})
	// A centre beyond the index's latitudes: the north pole.
	pole := (90 - 85.0511287) * 1e4 * metre
	near("near=90,0&radius=600km", map[string]float64{"edge": pole, "mover": (90 - 85.0) * 1e4 * metre})
	// mover goes beyond the index's latitudes, and leaves the answers.
	e.ingest(point.Point{DeviceID: "mover", TimeMs: ts + 1000, LatE7: 860_000_000, LonE7: 0})
	e.process()
	near("near=90,0&radius=600km", map[string]float64{"edge": pole})
	if d := e.getDevice("mover"); d.LastPosition == nil || d.LastPosition.Latitude != 86 {
		t.Errorf("mover's last position %+v, want latitude 86 (still in /devices)", d.LastPosition)
	}
}

// Pages of a near query follow each other in distance order, ties in id
// order, and a plain /devices page carries no distance.
func TestNearPaging(t *testing.T) {
	e := newEnv(t)
	ts := at("2025-01-23T11:00:00Z")
	var pts []point.Point
	for i, id := range []string{"d", "a", "c", "b", "e", "f", "g"} {
		pts = append(pts, point.Point{DeviceID: id, TimeMs: ts, LatE7: 100_000 * int64(i/2), LonE7: 0})
	}
	e.ingest(pts...)
	e.process()
	var order []string
	query := "?near=0,0&radius=100km&limit=2"
	for pages := 0; ; pages++ {
		p := e.getPage(query)
		for _, d := range p.Devices {
			order = append(order, d.DeviceID)
		}
		if p.NextCursor == nil || pages > 5 {
			break
		}
		query = "?near=0,0&radius=100km&limit=2&cursor=" + *p.NextCursor
	}
	// distance 0: d, a; 1.1 km: c, b; 2.2 km: e, f; 3.3 km: g.
	if got := strings.Join(order, " "); got != "a d b c e f g" {
		t.Errorf("pages list %q, want a d b c e f g", got)
	}
	for _, d := range e.getPage("").Devices {
		if d.DistanceM != nil {
			t.Errorf("/devices lists %s with a distance", d.DeviceID)
		}
	}
}
