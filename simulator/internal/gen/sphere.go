package gen

import "math"

// EarthRadius is the mean radius of the Earth in metres, the sphere every
// movement is computed on.
const EarthRadius = 6_371_008.8

const (
	deg = math.Pi / 180
	rad = 180 / math.Pi
)

// destination returns where a great circle leaving (lat, lon) with the given
// initial bearing arrives after dist metres, and the bearing it arrives
// with. Angles are radians. Great circles need no special case at the
// antimeridian or near a pole, which is why tracks move along them.
func destination(lat, lon, bearing, dist float64) (lat2, lon2, final float64) {
	d := dist / EarthRadius
	sinLat, cosLat := math.Sincos(lat)
	sinD, cosD := math.Sincos(d)
	sinB, cosB := math.Sincos(bearing)
	sinLat2 := sinLat*cosD + cosLat*sinD*cosB
	sinLat2 = max(-1, min(1, sinLat2))
	lat2 = math.Asin(sinLat2)
	lon2 = normLon(lon + math.Atan2(sinB*sinD*cosLat, cosD-sinLat*sinLat2))
	// The arrival bearing is the reverse of the bearing from the
	// destination back to the start.
	final = math.Mod(initialBearing(lat2, lon2, lat, lon)+math.Pi, 2*math.Pi)
	return lat2, lon2, final
}

// initialBearing is the bearing, in radians clockwise from north, of the
// great circle from (lat1, lon1) to (lat2, lon2).
func initialBearing(lat1, lon1, lat2, lon2 float64) float64 {
	sin1, cos1 := math.Sincos(lat1)
	sin2, cos2 := math.Sincos(lat2)
	sinDL, cosDL := math.Sincos(lon2 - lon1)
	b := math.Atan2(sinDL*cos2, cos1*sin2-sin1*cos2*cosDL)
	if b < 0 {
		b += 2 * math.Pi
	}
	return b
}

// Distance returns the great-circle distance in metres between two
// positions given in degrees (haversine formula).
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	return distance(lat1*deg, lon1*deg, lat2*deg, lon2*deg)
}

func distance(lat1, lon1, lat2, lon2 float64) float64 {
	sdLat := math.Sin((lat2 - lat1) / 2)
	sdLon := math.Sin((lon2 - lon1) / 2)
	h := sdLat*sdLat + math.Cos(lat1)*math.Cos(lat2)*sdLon*sdLon
	return 2 * EarthRadius * math.Asin(math.Min(1, math.Sqrt(h)))
}

// normLon wraps a longitude in radians into (−π, π].
func normLon(lon float64) float64 {
	lon = math.Mod(lon+math.Pi, 2*math.Pi)
	if lon <= 0 {
		lon += 2 * math.Pi
	}
	return lon - math.Pi
}

// angleDiff returns b − a in radians wrapped into (−π, π].
func angleDiff(a, b float64) float64 {
	return normLon(b - a)
}
