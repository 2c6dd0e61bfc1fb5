// Package agg is the encoding of geostream's aggregates: the integer sums the
// processor keeps in Redis hashes, how several of them combine, and the
// summary the API derives from them.
//
// All sums are integers in fixed point (see package geo) updated with
// HINCRBY, so they are exact, independent of the order points arrive in, and
// identical on Redis and miniredis.
package agg

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// Hash field names of an aggregate. apply.lua writes the same names.
const (
	FieldCount  = "n"
	FieldSumLat = "slat"
	FieldSumLon = "slon"
	FieldSumX   = "sx"
	FieldSumY   = "sy"
	FieldSumZ   = "sz"
	FieldLatMin = "latmin"
	FieldLatMax = "latmax"
	FieldLonMin = "lonmin"
	FieldLonMax = "lonmax"
	FieldTMin   = "tmin"
	FieldTMax   = "tmax"
	// A device's hash also holds its last position by event time.
	FieldLastTime = "lt"
	FieldLastLat  = "llat"
	FieldLastLon  = "llon"
	// FieldLastExtras holds the last position's extras
	// (point.AppendExtras; "" or absent: none).
	FieldLastExtras = "lx"
	// FieldToken is the token of the last call that wrote the hash (the
	// processor's scripts, token.lua); readers ignore it.
	FieldToken = "v"
)

// MaxPointsPerKey is how many points one aggregate can hold before a sum may
// overflow int64: |Σx| ≤ n·VectorScale must stay below 2^63. HINCRBY refuses
// an overflowing increment with an error, it never wraps.
const MaxPointsPerKey = math.MaxInt64 / geo.VectorScale

// Sums is one aggregate: the count, fixed-point sums, bounds and time range
// of a set of points. The zero value is the empty set.
type Sums struct {
	Count                          int64
	SumLat, SumLon                 int64 // geo.DegreeScale units
	SumX, SumY, SumZ               int64 // geo.VectorScale units
	LatMin, LatMax, LonMin, LonMax int64 // geo.DegreeScale units; valid when Count > 0
	TMin, TMax                     int64 // Unix ms; valid when Count > 0
}

// AddPoint adds one point, exactly as the processor does.
func (s *Sums) AddPoint(p point.Point) { s.Merge(Of(p)) }

// Of returns the aggregate of the single point p. Merging it into several
// aggregates computes p's unit vector once.
func Of(p point.Point) Sums {
	v := geo.UnitVector(p.LatE7, p.LonE7)
	return Sums{
		Count: 1, SumLat: p.LatE7, SumLon: p.LonE7, SumX: v.X, SumY: v.Y, SumZ: v.Z,
		LatMin: p.LatE7, LatMax: p.LatE7, LonMin: p.LonE7, LonMax: p.LonE7,
		TMin: p.TimeMs, TMax: p.TimeMs,
	}
}

// Merge adds the points of o to s.
func (s *Sums) Merge(o Sums) {
	if o.Count == 0 {
		return
	}
	if s.Count == 0 {
		*s = o
		return
	}
	s.Count += o.Count
	s.SumLat += o.SumLat
	s.SumLon += o.SumLon
	s.SumX += o.SumX
	s.SumY += o.SumY
	s.SumZ += o.SumZ
	s.LatMin = min(s.LatMin, o.LatMin)
	s.LatMax = max(s.LatMax, o.LatMax)
	s.LonMin = min(s.LonMin, o.LonMin)
	s.LonMax = max(s.LonMax, o.LonMax)
	s.TMin = min(s.TMin, o.TMin)
	s.TMax = max(s.TMax, o.TMax)
}

// FromHash decodes an aggregate hash as HGETALL returns it. An empty or
// missing hash is the empty set.
func FromHash(h map[string]string) (Sums, error) {
	var s Sums
	if len(h) == 0 || h[FieldCount] == "" {
		return s, nil
	}
	for _, f := range [...]struct {
		name string
		dst  *int64
	}{
		{FieldCount, &s.Count}, {FieldSumLat, &s.SumLat}, {FieldSumLon, &s.SumLon},
		{FieldSumX, &s.SumX}, {FieldSumY, &s.SumY}, {FieldSumZ, &s.SumZ},
		{FieldLatMin, &s.LatMin}, {FieldLatMax, &s.LatMax},
		{FieldLonMin, &s.LonMin}, {FieldLonMax, &s.LonMax},
		{FieldTMin, &s.TMin}, {FieldTMax, &s.TMax},
	} {
		v, err := strconv.ParseInt(h[f.name], 10, 64)
		if err != nil {
			return Sums{}, fmt.Errorf("aggregate field %q: %w", f.name, err)
		}
		*f.dst = v
	}
	return s, nil
}

// Summary is the answer of GET /retrieve. The first three fields are the
// seed's, with its names and meaning (arithmetic means of the coordinates).
type Summary struct {
	AverageLatitude  float64   `json:"average_latitude"`
	AverageLongitude float64   `json:"average_longitude"`
	DataCount        int64     `json:"data_count"`
	Centroid         *Position `json:"centroid"`
	BBox             BBox      `json:"bbox"`
	FirstTimestamp   string    `json:"first_timestamp"`
	LastTimestamp    string    `json:"last_timestamp"`
}

// Position is a latitude and longitude in degrees.
type Position struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

// BBox is the smallest latitude/longitude rectangle holding every point. It
// does not wrap across the antimeridian.
type BBox struct {
	MinLatitude  float64 `json:"min_latitude"`
	MinLongitude float64 `json:"min_longitude"`
	MaxLatitude  float64 `json:"max_latitude"`
	MaxLongitude float64 `json:"max_longitude"`
}

// Summary derives the API answer from s; ok is false when s is empty.
// The centroid is nil when the points' unit vectors cancel out.
func (s Sums) Summary() (sum Summary, ok bool) {
	if s.Count == 0 {
		return Summary{}, false
	}
	n := float64(s.Count)
	sum = Summary{
		AverageLatitude:  float64(s.SumLat) / n / geo.DegreeScale,
		AverageLongitude: float64(s.SumLon) / n / geo.DegreeScale,
		DataCount:        s.Count,
		BBox: BBox{
			MinLatitude: geo.FromFixed(s.LatMin), MinLongitude: geo.FromFixed(s.LonMin),
			MaxLatitude: geo.FromFixed(s.LatMax), MaxLongitude: geo.FromFixed(s.LonMax),
		},
		FirstTimestamp: FormatTime(s.TMin),
		LastTimestamp:  FormatTime(s.TMax),
	}
	if lat, lon, ok := geo.Centroid(s.SumX, s.SumY, s.SumZ); ok {
		sum.Centroid = &Position{Latitude: lat, Longitude: lon}
	}
	return sum, true
}

// FormatTime formats Unix milliseconds as RFC 3339 in UTC with millisecond
// precision, the form every geostream answer uses.
func FormatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
