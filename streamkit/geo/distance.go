package geo

import "math"

// EarthRadius is the radius in metres of the sphere on which Redis's geo
// commands measure distances (EARTH_RADIUS_IN_METERS in Redis's
// geohash_helper.c); Distance uses it too, so that a distance geostream
// reports agrees with GEOSEARCH's to the index's precision.
const EarthRadius = 6372797.560856

// IndexMaxLatE7 is the largest |latitude| in fixed point that Redis's geo
// index accepts: GEOADD refuses beyond 85.05112878° (the Web Mercator
// limit). A device whose last position is beyond it is not in the index
// (streamkit/scripts/geoset.lua).
const IndexMaxLatE7 = 850_511_287

// IndexMaxLat is IndexMaxLatE7 in degrees.
const IndexMaxLat = float64(IndexMaxLatE7) / DegreeScale

// IndexError bounds, in metres, how far a position's place in Redis's geo
// index (a 52-bit geohash, decoded to its cell's centre) is from the
// position: half a cell is at most 2.7e-6° of longitude and 1.3e-6° of
// latitude, 0.33 m on the ground; the bound leaves room for rounding.
const IndexError = 1.0

// InIndexRange reports whether a fixed-point latitude fits Redis's geo
// index.
func InIndexRange(latE7 int64) bool {
	return latE7 >= -IndexMaxLatE7 && latE7 <= IndexMaxLatE7
}

// Distance returns the great-circle distance in metres between two
// positions in degrees (haversine on a sphere of EarthRadius, as Redis).
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	rad := math.Pi / 180
	u := math.Sin((lat2 - lat1) * rad / 2)
	v := math.Sin((lon2 - lon1) * rad / 2)
	a := u*u + math.Cos(lat1*rad)*math.Cos(lat2*rad)*v*v
	return 2 * EarthRadius * math.Asin(math.Sqrt(min(a, 1)))
}
