// Package geo holds the fixed-point encoding of positions and the spherical
// maths behind centroids. Every aggregate geostream keeps is a sum of the
// integers produced here, so the encoding is part of the storage format:
// changing a scale changes the meaning of every stored sum (see keys.Meta).
package geo

import (
	"errors"
	"math"
)

const (
	// DegreeScale is the number of fixed-point units per degree of latitude or
	// longitude: positions are stored in 1e-7 degrees (about 1.1 cm at the
	// equator), the resolution of most GNSS receivers' output.
	DegreeScale = 10_000_000

	// VectorScale is the number of fixed-point units per unit of a unit-vector
	// component (x, y, z of a point on the unit sphere).
	VectorScale = 1_000_000_000
)

// ErrOutOfRange is returned for a latitude outside −90..90 or a longitude
// outside −180..180, or for a value that is not a finite number.
var ErrOutOfRange = errors.New("coordinate out of range")

// ToFixed converts degrees to fixed-point units, rounding half away from zero.
// It does not check the range; see LatitudeE7 and LongitudeE7.
func ToFixed(deg float64) int64 {
	return int64(math.Round(deg * DegreeScale))
}

// FromFixed converts fixed-point units back to degrees.
func FromFixed(v int64) float64 {
	return float64(v) / DegreeScale
}

// LatitudeE7 validates a latitude in degrees and returns it in fixed point.
func LatitudeE7(deg float64) (int64, error) {
	if math.IsNaN(deg) || deg < -90 || deg > 90 {
		return 0, ErrOutOfRange
	}
	return ToFixed(deg), nil
}

// LongitudeE7 validates a longitude in degrees and returns it in fixed point.
func LongitudeE7(deg float64) (int64, error) {
	if math.IsNaN(deg) || deg < -180 || deg > 180 {
		return 0, ErrOutOfRange
	}
	return ToFixed(deg), nil
}

// Vector is a point on the unit sphere in fixed point (VectorScale units per
// unit): X towards (0°, 0°), Y towards (0°, 90°E), Z towards the north pole.
type Vector struct {
	X, Y, Z int64
}

// UnitVector returns the unit vector of a fixed-point position, each
// component rounded to VectorScale. It is a pure function of its integer
// inputs (Go's math functions are the same on every platform we build for),
// so the processor and the verifier derive identical sums from the same
// points.
func UnitVector(latE7, lonE7 int64) Vector {
	lat := float64(latE7) / DegreeScale * math.Pi / 180
	lon := float64(lonE7) / DegreeScale * math.Pi / 180
	sinLat, cosLat := math.Sincos(lat)
	sinLon, cosLon := math.Sincos(lon)
	return Vector{
		X: int64(math.Round(cosLat * cosLon * VectorScale)),
		Y: int64(math.Round(cosLat * sinLon * VectorScale)),
		Z: int64(math.Round(sinLat * VectorScale)),
	}
}

// Centroid returns the spherical mean of points whose unit vectors sum to
// (sx, sy, sz): the direction of the summed vector, as latitude and longitude
// in degrees. It is right across the antimeridian (179.5° and −179.5° give
// ±180°, not 0°) and near the poles, where arithmetic means of longitudes are
// meaningless. ok is false when the vectors cancel out (for example two
// antipodal points) and no direction is defined.
func Centroid(sx, sy, sz int64) (lat, lon float64, ok bool) {
	x, y, z := float64(sx), float64(sy), float64(sz)
	h := math.Hypot(x, y)
	// A resultant shorter than one fixed-point unit per component is rounding
	// noise, not a direction.
	if h < 1 && math.Abs(z) < 1 {
		return 0, 0, false
	}
	lat = math.Atan2(z, h) * 180 / math.Pi
	if h >= 1 {
		lon = math.Atan2(y, x) * 180 / math.Pi
	}
	return lat, lon, true
}
