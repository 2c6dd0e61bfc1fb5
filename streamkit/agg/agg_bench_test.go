package agg

import (
	"strconv"
	"testing"

	"github.com/geostream/geostream/streamkit/point"
)

func benchSums() Sums {
	var s Sums
	for i := range int64(100) {
		s.AddPoint(point.Point{TimeMs: 1_737_633_600_000 + i, LatE7: 525_200_000 + i*1000, LonE7: 134_050_000 - i*1000})
	}
	return s
}

// BenchmarkMerge merges two aggregates (a global /retrieve merges one per
// partition; a series one per bucket and partition).
func BenchmarkMerge(b *testing.B) {
	o := benchSums()
	b.ReportAllocs()
	var s Sums
	for b.Loop() {
		s.Merge(o)
	}
}

// BenchmarkAddPoint adds one point, unit vector included (the verifier's
// and the tests' model of the processor).
func BenchmarkAddPoint(b *testing.B) {
	p := point.Point{TimeMs: 1_737_633_600_000, LatE7: 525_200_000, LonE7: 134_050_000}
	b.ReportAllocs()
	var s Sums
	for b.Loop() {
		s.AddPoint(p)
	}
}

// BenchmarkFromHash decodes an aggregate hash as HGETALL returns it, once
// per hash a query reads.
func BenchmarkFromHash(b *testing.B) {
	s := benchSums()
	h := map[string]string{}
	for k, v := range map[string]int64{
		FieldCount: s.Count, FieldSumLat: s.SumLat, FieldSumLon: s.SumLon, FieldSumX: s.SumX, FieldSumY: s.SumY,
		FieldSumZ: s.SumZ, FieldLatMin: s.LatMin, FieldLatMax: s.LatMax, FieldLonMin: s.LonMin,
		FieldLonMax: s.LonMax, FieldTMin: s.TMin, FieldTMax: s.TMax,
	} {
		h[k] = strconv.FormatInt(v, 10)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromHash(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSummary derives the /retrieve answer from an aggregate.
func BenchmarkSummary(b *testing.B) {
	s := benchSums()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Summary(); !ok {
			b.Fatal("empty")
		}
	}
}
