package ingest

import (
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// MaxNearRadius bounds, in metres, the circle a near or bbox query searches
// (radius=, or the circle around a bbox's centre that covers it): Redis
// walks every indexed device in the geohash cells that cover the circle,
// so a continent-wide one would hold it long.
const MaxNearRadius = 1_000_000

// geoQuery is a near or bbox query of GET /devices. Answers are the
// devices whose last position is inside (within radius of the centre, or
// in the box), nearest the centre first.
type geoQuery struct {
	lat, lon float64 // the centre: of the circle, or of the box
	radius   float64 // metres; near only
	box      *lonLatBox
	// cover is a radius around the centre that holds the whole area
	// (radius for near); the searched circle.
	cover float64
	// empty says no indexed position can be inside (a box beyond the
	// index's latitudes).
	empty bool
}

// lonLatBox is a bbox: minLon > maxLon when it crosses the antimeridian.
type lonLatBox struct{ minLon, minLat, maxLon, maxLat float64 }

// nearCursor is where a near page ends: its last device and distance.
type nearCursor struct {
	dist float64
	id   string
}

// String is the cursor as next_cursor carries it: "<distance>,<id>",
// the distance in metres with every digit needed to read it back exactly.
func (c nearCursor) String() string {
	return strconv.FormatFloat(c.dist, 'g', -1, 64) + "," + c.id
}

// notAfter reports whether (dist, id) comes before or at c in answer order.
func (c nearCursor) notAfter(dist float64, id string) bool {
	return dist < c.dist || (dist == c.dist && id <= c.id)
}

func parseNearCursor(s string) (nearCursor, bool) {
	d, id, ok := strings.Cut(s, ",")
	dist, err := strconv.ParseFloat(d, 64)
	if !ok || err != nil || math.IsNaN(dist) || math.IsInf(dist, 0) || dist < 0 || point.ValidDeviceID(id) != nil {
		return nearCursor{}, false
	}
	return nearCursor{dist: dist, id: id}, true
}

// parseGeoQuery reads near=LAT,LON with radius=, or bbox=; it returns the
// message of a 400, naming the parameter, when they do not parse.
func parseGeoQuery(v url.Values) (geoQuery, string) {
	near, bbox, radius := v.Get("near"), v.Get("bbox"), v.Get("radius")
	switch {
	case v.Has("near") && v.Has("bbox"):
		return geoQuery{}, "give near or bbox, not both"
	case !v.Has("near") && !v.Has("bbox"):
		return geoQuery{}, "radius goes with near=LAT,LON"
	case v.Has("bbox"):
		if v.Has("radius") {
			return geoQuery{}, "radius goes with near, not with bbox"
		}
		return parseBBox(bbox)
	}
	f, ok := parseNumbers(near, 2)
	if !ok || f[0] < -90 || f[0] > 90 || f[1] < -180 || f[1] > 180 {
		return geoQuery{}, fmt.Sprintf("near must be LAT,LON in degrees (latitude first, -90..90, then longitude, -180..180), got %q", near)
	}
	if !v.Has("radius") {
		return geoQuery{}, "near needs a radius, as radius=500m or radius=5km"
	}
	r, ok := parseDistance(radius)
	if !ok || r <= 0 || r > MaxNearRadius {
		return geoQuery{}, fmt.Sprintf("radius must be a distance above 0 and at most %dkm with its unit m or km, as 500m or 5km, got %q",
			MaxNearRadius/1000, radius)
	}
	return geoQuery{lat: f[0], lon: f[1], radius: r, cover: r}, ""
}

// parseBBox reads minLon,minLat,maxLon,maxLat (GeoJSON's order, RFC 7946
// section 5; minLon > maxLon crosses the antimeridian).
func parseBBox(s string) (geoQuery, string) {
	bad := func(why string) (geoQuery, string) {
		return geoQuery{}, fmt.Sprintf("bbox must be minLon,minLat,maxLon,maxLat in degrees (GeoJSON's order, longitude first; "+
			"minLon > maxLon crosses the antimeridian): %s, got %q", why, s)
	}
	f, ok := parseNumbers(s, 4)
	switch {
	case !ok:
		return bad("four numbers")
	case f[0] < -180 || f[0] > 180 || f[2] < -180 || f[2] > 180:
		return bad("longitudes in -180..180")
	case f[1] < -90 || f[1] > 90 || f[3] < -90 || f[3] > 90:
		return bad("latitudes in -90..90")
	case f[1] > f[3]:
		return bad("minLat not above maxLat")
	}
	b := lonLatBox{minLon: f[0], minLat: f[1], maxLon: f[2], maxLat: f[3]}
	span := b.maxLon - b.minLon // degrees of longitude, eastwards
	if span < 0 {
		span += 360
	}
	q := geoQuery{lat: (b.minLat + b.maxLat) / 2, lon: b.minLon + span/2, box: &b}
	if q.lon > 180 {
		q.lon -= 360
	}
	// Only latitudes the index holds matter.
	lo, hi := max(b.minLat, -geo.IndexMaxLat), min(b.maxLat, geo.IndexMaxLat)
	if lo > hi {
		q.empty = true
		return q, ""
	}
	// A point of the box is at most its latitude's distance from the
	// centre's latitude plus the half-width of the box along its own
	// latitude, which is widest nearest the equator.
	eq := max(lo, min(0, hi)) // the latitude of the box nearest the equator
	rad := math.Pi / 180
	halfWidth := 2 * geo.EarthRadius * math.Asin(math.Min(1, math.Cos(eq*rad)*math.Sin(span*rad/4)))
	halfHeight := geo.EarthRadius * max(hi-q.lat, q.lat-lo) * rad
	q.cover = halfHeight + halfWidth
	if q.cover > MaxNearRadius {
		return bad(fmt.Sprintf("a box that fits in a circle of %dkm around its centre (this one needs %.0fkm)",
			MaxNearRadius/1000, math.Ceil(q.cover/1000)))
	}
	return q, ""
}

// parseNumbers reads n comma-separated finite numbers.
func parseNumbers(s string, n int) ([]float64, bool) {
	parts := strings.Split(s, ",")
	if len(parts) != n {
		return nil, false
	}
	out := make([]float64, n)
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, false
		}
		out[i] = f
	}
	return out, true
}

// parseDistance reads a number with its unit, m or km, into metres.
func parseDistance(s string) (float64, bool) {
	unit := 1.0
	switch {
	case strings.HasSuffix(s, "km"):
		s, unit = strings.TrimSuffix(s, "km"), 1000
	case strings.HasSuffix(s, "m"):
		s = strings.TrimSuffix(s, "m")
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f * unit, true
}

// contains reports whether a position in degrees is in the query's area.
func (q geoQuery) contains(lat, lon float64) bool {
	if q.box == nil {
		return geo.Distance(q.lat, q.lon, lat, lon) <= q.radius
	}
	b := q.box
	if lat < b.minLat || lat > b.maxLat {
		return false
	}
	in := func(lon float64) bool {
		if b.minLon <= b.maxLon {
			return lon >= b.minLon && lon <= b.maxLon
		}
		return lon >= b.minLon || lon <= b.maxLon
	}
	// -180° and 180° are one meridian.
	return in(lon) || (lon == -180 && in(180)) || (lon == 180 && in(-180))
}
