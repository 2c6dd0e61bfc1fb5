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
	pts := []Point{{TimeMs: hour + 7, LatE7: 3, Extras: Extras{Speed: &spd}}, {TimeMs: hour + 1, LonE7: -4}, {TimeMs: hour, Extras: Extras{Heading: &odd}}}
	var all []byte
	for i := range pts {
		all = AppendTrackRecord(all, &pts[i], hour)
	}
	got, err := DecodeTrackRecords(all, hour, "d", nil)
	if err != nil || len(got) != 3 || got[1].LonE7 != -4 || got[2].DeviceID != "d" || !sameExtras(got[0].Extras, pts[0].Extras) || !sameExtras(got[2].Extras, pts[2].Extras) {
		t.Errorf("concatenated records: %+v, %v", got, err)
	}
	if _, err := DecodeTrackRecords(all[:len(all)-1], hour, "d", nil); err == nil {
		t.Error("truncated concatenation decoded")
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

// Every finite extra round-trips exactly, in the fewest bytes its decimals
// allow.
func TestTrackExtrasExact(t *testing.T) {
	vals := []float64{0, 1, -1, 0.1, 45.3, 12.34, 359, 0.001, 1234.5678, math.Pi, 1e300, -1e-300, 99.999, 4e15}
	for i := range 2000 {
		vals = append(vals, float64(i)*0.37-300, float64(i)/7)
	}
	for _, v := range vals {
		e := Extras{Speed: &v}
		var got Extras
		if err := DecodeExtras(AppendExtras(nil, &e), &got); err != nil || *got.Speed != v {
			t.Fatalf("%v: got %v, %v", v, got.Speed, err)
		}
	}
	h := 359.0
	if n := len(AppendExtras(nil, &Extras{Heading: &h})); n != 3 {
		t.Errorf("heading 359: %d bytes, want 3", n)
	}
}
