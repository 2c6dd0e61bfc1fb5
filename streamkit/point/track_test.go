package point

import (
	"math"
	"testing"
)

func TestTrackRecordRoundTrip(t *testing.T) {
	alt, spd, bat, odd := -12.5, 3.0, 99.0, math.Pi
	hour := HourStart(1_764_979_200_123)
	for _, p := range []Point{
		{TimeMs: hour, LatE7: -900_000_000, LonE7: 1_800_000_000},
		{TimeMs: hour + HourMs - 1, LatE7: 900_000_000, LonE7: -1_800_000_000,
			Extras: Extras{Altitude: &alt, Speed: &spd, Battery: &bat}},
		{TimeMs: hour + 5, LatE7: 1, LonE7: -1, Extras: Extras{Heading: &odd}},
	} {
		rec := AppendTrackRecord(nil, &p, hour)
		if p.Extras == (Extras{}) && len(rec) != TrackRecordSize {
			t.Errorf("record without extras: %d bytes", len(rec))
		}
		var q Point
		if err := DecodeTrackRecord(rec, hour, &q); err != nil {
			t.Fatal(err)
		}
		if q.TimeMs != p.TimeMs || q.LatE7 != p.LatE7 || q.LonE7 != p.LonE7 || !sameExtras(q.Extras, p.Extras) {
			t.Errorf("round trip: %+v, want %+v", q, p)
		}
		var e Extras
		if err := DecodeExtras(AppendExtras(nil, &p.Extras), &e); err != nil || !sameExtras(e, p.Extras) {
			t.Errorf("extras round trip: %v", err)
		}
	}
	if err := DecodeTrackRecord(make([]byte, 11), hour, new(Point)); err == nil {
		t.Error("short record decoded")
	}
	if HourStart(-1) != -HourMs {
		t.Errorf("HourStart(-1) = %d", HourStart(-1))
	}
}

func sameExtras(a, b Extras) bool {
	for i, x := range extrasOf(&a) {
		y := extrasOf(&b)[i]
		if (x == nil) != (y == nil) || (x != nil && *x != *y) {
			return false
		}
	}
	return true
}
