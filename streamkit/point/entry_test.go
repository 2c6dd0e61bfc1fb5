package point

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
)

// samplePoints are points of a few devices, with every kind of extra,
// values at the range limits and extras that are and are not whole
// thousandths.
func samplePoints() []Point {
	return []Point{
		{DeviceID: "truck-2", TimeMs: 1737633600123, LatE7: 525200000, LonE7: 134050000,
			Extras: Extras{Altitude: f64(-12.25), Speed: f64(3.5)}},
		{DeviceID: "truck-1", TimeMs: 1737633600000, LatE7: -900000000, LonE7: 1800000000,
			Extras: Extras{Heading: f64(359.999), Accuracy: f64(0.1), Battery: f64(87)}},
		{DeviceID: "truck-2", TimeMs: 1737633599000, LatE7: 525200100, LonE7: 134049900,
			Extras: Extras{Altitude: f64(1.0 / 3), Speed: f64(1e300)}},
		{DeviceID: "a", TimeMs: 0, LatE7: 900000000, LonE7: -1800000000},
		{DeviceID: "truck-1", TimeMs: 1737633600000, LatE7: 0, LonE7: 0, Extras: Extras{Altitude: f64(-0.0005)}},
	}
}

// entryOf is the entry fields that append.lua writes for segments.
func entryOf(n int, segs ...[]byte) map[string]any {
	var blob []byte
	for _, s := range segs {
		blob = append(blob, s...)
	}
	return map[string]any{FieldCount: strconv.Itoa(n), FieldPoints: string(blob)}
}

func TestSegmentRoundTrip(t *testing.T) {
	in := samplePoints()
	more := []Point{{DeviceID: "z:9", TimeMs: 5, LatE7: 1, LonE7: 2}}
	got, packed, err := DecodeEntry(entryOf(len(in)+1, AppendSegment(nil, in), AppendSegment(nil, more)), nil)
	if err != nil || !packed {
		t.Fatalf("DecodeEntry: %v (packed %v)", err, packed)
	}
	if want := append(in, more...); !reflect.DeepEqual(got, want) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, want)
	}
}

func TestDecodeEntryReadsLegacyEntries(t *testing.T) {
	in := Point{DeviceID: "dev-1", TimeMs: 17, LatE7: 5, LonE7: -6, Extras: Extras{Speed: f64(2.5)}}
	f := in.AppendLegacyFields(nil)
	v := map[string]any{}
	for i := 0; i < len(f); i += 2 {
		v[f[i]] = f[i+1]
	}
	got, packed, err := DecodeEntry(v, nil)
	if err != nil || packed || len(got) != 1 || !reflect.DeepEqual(got[0], in) {
		t.Fatalf("DecodeEntry(legacy) = %+v, %v, %v", got, packed, err)
	}
}

func TestDecodeEntryRejectsDamage(t *testing.T) {
	seg := AppendSegment(nil, samplePoints())
	n := len(samplePoints())
	for name, v := range map[string]map[string]any{
		"count too high": entryOf(n+1, seg),
		"count missing":  {FieldPoints: string(seg)},
		"count zero":     entryOf(0, seg),
		"truncated":      entryOf(n, seg[:len(seg)-1]),
		"trailing byte":  entryOf(n, seg, []byte{SegmentVersion}),
		"bad version":    entryOf(n, append([]byte{9}, seg[1:]...)),
		"empty":          entryOf(1),
		"no fields":      {},
	} {
		if pts, _, err := DecodeEntry(v, nil); err == nil || !errors.Is(err, ErrBadEntry) || len(pts) != 0 {
			t.Errorf("%s: got %d points, err %v; want ErrBadEntry and none", name, len(pts), err)
		}
	}
}

// TestSegmentRejectsOutOfRange builds segments by hand that no valid point
// encodes to: the decoder must refuse them rather than hand the processor a
// coordinate or device id that validation would have refused.
func TestSegmentRejectsOutOfRange(t *testing.T) {
	for name, p := range map[string]Point{
		"lat":    {DeviceID: "d", LatE7: 900000001},
		"lon":    {DeviceID: "d", LonE7: -1800000001},
		"device": {DeviceID: "a b"},
	} {
		seg := AppendSegment(nil, []Point{p})
		if _, err := DecodeSegments(seg, nil); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%s: err %v, want ErrBadEntry", name, err)
		}
	}
	nan := AppendSegment(nil, []Point{{DeviceID: "d", Extras: Extras{Speed: f64(math.NaN())}}})
	if _, err := DecodeSegments(nan, nil); !errors.Is(err, ErrBadEntry) {
		t.Errorf("NaN extra: err %v, want ErrBadEntry", err)
	}
}

// TestSegmentSize pins the encoding's cost for the shapes that matter: a
// device's track (deltas of a byte or two) and a fleet of one point each
// (ids sharing a prefix, 6 decimals as phones send, spread over the globe
// as in the benchmark). A change that makes these larger should be a
// decision, not an accident.
func TestSegmentSize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	track := make([]Point, 500)
	for i := range track {
		track[i] = Point{DeviceID: "sim-0001", TimeMs: 1737633600000 + int64(i)*1000,
			LatE7: 525200000 + int64(i)*90 + r.Int64N(20), LonE7: 134050000 + int64(i)*140 + r.Int64N(20)}
	}
	fleet := make([]Point, 125)
	for i := range fleet {
		fleet[i] = Point{DeviceID: "dev-" + strconv.Itoa(1000+i*8), TimeMs: 1737633600000 + r.Int64N(1000),
			LatE7: 10 * (r.Int64N(180000000) - 90000000), LonE7: 10 * (r.Int64N(360000000) - 180000000)}
	}
	for _, c := range []struct {
		name string
		pts  []Point
		max  float64 // bytes per point
	}{{"track", track, 8}, {"fleet", fleet, 16}} {
		per := float64(len(AppendSegment(nil, c.pts))) / float64(len(c.pts))
		t.Logf("%s: %.2f bytes per point", c.name, per)
		if per > c.max {
			t.Errorf("%s: %.2f bytes per point, budget %v", c.name, per, c.max)
		}
	}
}

func FuzzDecodeSegments(f *testing.F) {
	f.Add(AppendSegment(nil, samplePoints()))
	f.Add([]byte{SegmentVersion, 1, 0, 1, 'a', 1, 0, 0, 0, 0, 0})
	f.Add([]byte{SegmentVersion, 0xff, 0xff, 0xff, 0xff, 0x0f})
	var dec EntryDecoder // reused across inputs, as the processor does
	f.Fuzz(func(t *testing.T, b []byte) {
		pts, err := DecodeSegments(b, nil)
		reused, rerr := dec.segments(b, nil)
		if (err == nil) != (rerr == nil) || !reflect.DeepEqual(reused, pts) {
			t.Fatalf("reused decoder: %v, %+v vs %v, %+v", rerr, reused, err, pts)
		}
		if err != nil {
			return
		}
		// Whatever decodes re-encodes to segments that decode to the same
		// points: the decoder accepts nothing it cannot represent.
		var again []byte
		for i := range pts {
			again = AppendSegment(again, pts[i:i+1])
		}
		back, err := DecodeSegments(again, nil)
		if err != nil || !reflect.DeepEqual(back, pts) {
			t.Fatalf("re-encoded segments: %v, %+v vs %+v", err, back, pts)
		}
	})
}
