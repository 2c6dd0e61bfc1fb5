package agg

import (
	"encoding/json"
	"math"
	"strconv"
	"testing"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

func pt(lat, lon float64, ms int64) point.Point {
	return point.Point{DeviceID: "d", TimeMs: ms, LatE7: geo.ToFixed(lat), LonE7: geo.ToFixed(lon)}
}

func TestSummaryMatchesSeedMeans(t *testing.T) {
	pts := []point.Point{pt(52.52, 13.405, 2000), pt(48.8566, 2.3522, 1000), pt(-33.8688, 151.2093, 3000)}
	var s Sums
	for _, p := range pts {
		s.AddPoint(p)
	}
	sum, ok := s.Summary()
	if !ok {
		t.Fatal("empty")
	}
	// The seed: sum(latitudes) / count.
	wantLat := (52.52 + 48.8566 + -33.8688) / 3
	wantLon := (13.405 + 2.3522 + 151.2093) / 3
	if math.Abs(sum.AverageLatitude-wantLat) > 1e-9 || math.Abs(sum.AverageLongitude-wantLon) > 1e-9 {
		t.Errorf("means = %v, %v; want %v, %v", sum.AverageLatitude, sum.AverageLongitude, wantLat, wantLon)
	}
	if sum.DataCount != 3 {
		t.Errorf("count = %d", sum.DataCount)
	}
	if sum.BBox != (BBox{-33.8688, 2.3522, 52.52, 151.2093}) {
		t.Errorf("bbox = %+v", sum.BBox)
	}
	if sum.FirstTimestamp != "1970-01-01T00:00:01.000Z" || sum.LastTimestamp != "1970-01-01T00:00:03.000Z" {
		t.Errorf("times = %s, %s", sum.FirstTimestamp, sum.LastTimestamp)
	}
	if sum.Centroid == nil {
		t.Fatal("no centroid")
	}
	b, _ := json.Marshal(sum)
	var keys map[string]any
	json.Unmarshal(b, &keys)
	for _, k := range []string{"average_latitude", "average_longitude", "data_count", "centroid", "bbox", "first_timestamp", "last_timestamp"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}
}

func TestEmptySummary(t *testing.T) {
	if _, ok := (Sums{}).Summary(); ok {
		t.Error("empty sums must have no summary")
	}
}

func TestMergeIsOrderIndependent(t *testing.T) {
	pts := []point.Point{pt(1, 2, 5), pt(-3, 4, 1), pt(5, -6, 9), pt(0, 179.5, 3)}
	var whole Sums
	for _, p := range pts {
		whole.AddPoint(p)
	}
	var a, b Sums
	a.AddPoint(pts[0])
	a.AddPoint(pts[3])
	b.AddPoint(pts[2])
	b.AddPoint(pts[1])
	var ab, ba Sums
	ab.Merge(a)
	ab.Merge(b)
	ba.Merge(b)
	ba.Merge(Sums{})
	ba.Merge(a)
	if ab != whole || ba != whole {
		t.Errorf("merge: %+v / %+v, want %+v", ab, ba, whole)
	}
}

func hashOf(s Sums) map[string]string {
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	return map[string]string{
		FieldCount: i(s.Count), FieldSumLat: i(s.SumLat), FieldSumLon: i(s.SumLon),
		FieldSumX: i(s.SumX), FieldSumY: i(s.SumY), FieldSumZ: i(s.SumZ),
		FieldLatMin: i(s.LatMin), FieldLatMax: i(s.LatMax), FieldLonMin: i(s.LonMin), FieldLonMax: i(s.LonMax),
		FieldTMin: i(s.TMin), FieldTMax: i(s.TMax),
	}
}

func TestFromHash(t *testing.T) {
	var s Sums
	s.AddPoint(pt(10, 20, 30))
	got, err := FromHash(hashOf(s))
	if err != nil || got != s {
		t.Fatalf("FromHash = %+v, %v; want %+v", got, err, s)
	}
	if got, err := FromHash(nil); err != nil || got != (Sums{}) {
		t.Errorf("missing hash = %+v, %v", got, err)
	}
	bad := hashOf(s)
	bad[FieldSumX] = "1.5"
	if _, err := FromHash(bad); err == nil {
		t.Error("non-integer field: want error")
	}
	delete(bad, FieldSumX)
	if _, err := FromHash(bad); err == nil {
		t.Error("missing field: want error")
	}
}
