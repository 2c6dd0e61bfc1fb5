package verify

import (
	"math"
	"strconv"
	"time"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/geo"
)

const (
	// MeanTolerance is the largest accepted difference of an arithmetic
	// mean, in degrees. The API and the verifier divide the same integer
	// sums, so any larger difference is a wrong sum, not rounding.
	MeanTolerance = 1e-9
	// CentroidTolerance is the largest accepted difference of a centroid
	// coordinate, in degrees; both sides derive it from the same integer
	// unit-vector sums.
	CentroidTolerance = 1e-9
)

// Diff is one field whose answer differs from the expectation.
type Diff struct {
	Scope    string `json:"scope"`
	Field    string `json:"field"`
	Expected string `json:"expected"`
	Got      string `json:"got"`
	Note     string `json:"note,omitempty"`
}

// answer is what /retrieve said for a scope: a summary, or no data.
type answer struct {
	sum    agg.Summary
	noData bool
}

func (a answer) count() int64 {
	if a.noData {
		return 0
	}
	return a.sum.DataCount
}

// Compare compares the API's answer for scope with the summary of the
// expected sums: counts, bounding box (in fixed-point units) and
// timestamps exactly, means within MeanTolerance, the centroid within
// CentroidTolerance. When the counts differ only the count is reported.
func Compare(scope string, want agg.Sums, got agg.Summary, gotNoData bool) []Diff {
	exp, expOK := want.Summary()
	switch {
	case !expOK && gotNoData:
		return nil
	case !expOK:
		return []Diff{{Scope: scope, Field: "data_count", Expected: "0 (no data)", Got: itoa(got.DataCount)}}
	case gotNoData:
		return []Diff{{Scope: scope, Field: "data_count", Expected: itoa(exp.DataCount), Got: "no data (400)"}}
	}
	if exp.DataCount != got.DataCount {
		// Every other field follows from the points counted; comparing
		// them would only repeat that the counts differ.
		return []Diff{{Scope: scope, Field: "data_count", Expected: itoa(exp.DataCount), Got: itoa(got.DataCount)}}
	}
	var d []Diff
	add := func(field, e, g string) { d = append(d, Diff{Scope: scope, Field: field, Expected: e, Got: g}) }
	if !near(exp.AverageLatitude, got.AverageLatitude, MeanTolerance) {
		add("average_latitude", ftoa(exp.AverageLatitude), ftoa(got.AverageLatitude))
	}
	if !near(exp.AverageLongitude, got.AverageLongitude, MeanTolerance) {
		add("average_longitude", ftoa(exp.AverageLongitude), ftoa(got.AverageLongitude))
	}
	switch {
	case exp.Centroid == nil && got.Centroid == nil:
	case exp.Centroid == nil || got.Centroid == nil:
		add("centroid", position(exp.Centroid), position(got.Centroid))
	default:
		e, g := exp.Centroid, got.Centroid
		if !near(e.Latitude, g.Latitude, CentroidTolerance) {
			add("centroid.latitude", ftoa(e.Latitude), ftoa(g.Latitude))
		}
		// At a pole every longitude is the same point; elsewhere 180 and
		// −180 are.
		if math.Abs(e.Latitude) < 90-CentroidTolerance && math.Abs(wrap180(e.Longitude-g.Longitude)) > CentroidTolerance {
			add("centroid.longitude", ftoa(e.Longitude), ftoa(g.Longitude))
		}
	}
	for _, f := range [...]struct {
		name     string
		exp, got float64
	}{
		{"bbox.min_latitude", exp.BBox.MinLatitude, got.BBox.MinLatitude},
		{"bbox.min_longitude", exp.BBox.MinLongitude, got.BBox.MinLongitude},
		{"bbox.max_latitude", exp.BBox.MaxLatitude, got.BBox.MaxLatitude},
		{"bbox.max_longitude", exp.BBox.MaxLongitude, got.BBox.MaxLongitude},
	} {
		// Exact in storage units (1e-7 degrees).
		if geo.ToFixed(f.exp) != geo.ToFixed(f.got) {
			add(f.name, ftoa(f.exp), ftoa(f.got))
		}
	}
	for _, f := range [...]struct{ name, exp, got string }{
		{"first_timestamp", exp.FirstTimestamp, got.FirstTimestamp},
		{"last_timestamp", exp.LastTimestamp, got.LastTimestamp},
	} {
		if !sameInstant(f.exp, f.got) {
			add(f.name, f.exp, f.got)
		}
	}
	return d
}

// near reports |a−b| ≤ tol.
func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// wrap180 wraps an angle difference in degrees into [−180, 180).
func wrap180(d float64) float64 { return math.Mod(math.Mod(d+180, 360)+360, 360) - 180 }

// sameInstant reports whether two RFC 3339 timestamps name the same
// instant (the API may write Z or +00:00, with or without trailing zeros).
func sameInstant(a, b string) bool {
	ta, err1 := time.Parse(time.RFC3339Nano, a)
	tb, err2 := time.Parse(time.RFC3339Nano, b)
	return err1 == nil && err2 == nil && ta.Equal(tb)
}

func itoa(n int64) string   { return strconv.FormatInt(n, 10) }
func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
func position(p *agg.Position) string {
	if p == nil {
		return "null"
	}
	return ftoa(p.Latitude) + "," + ftoa(p.Longitude)
}
