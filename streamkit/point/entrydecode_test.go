package point

import (
	"fmt"
	"reflect"
	"testing"
)

// fleetEntry is a packed entry of n points of devs devices, as the
// benchmark's 500-point uploads write them.
func fleetEntry(n, devs int) map[string]any {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{DeviceID: fmt.Sprintf("dev-%04d", i%devs), TimeMs: 1737633600000 + int64(i)*10,
			LatE7: 525200000 + int64(i%97)*10, LonE7: 134050000 - int64(i%89)*10}
	}
	return entryOf(n, AppendSegment(nil, pts))
}

func TestEntryDecoderAgrees(t *testing.T) {
	var d EntryDecoder
	entries := []map[string]any{fleetEntry(500, 100), entryOf(len(samplePoints()), AppendSegment(nil, samplePoints())), fleetEntry(3, 1)}
	for round := range 2 { // the second round finds every id interned
		for i, v := range entries {
			want, _, err := DecodeEntry(v, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, packed, err := d.Decode(v, []Point{{DeviceID: "kept"}})
			if err != nil || !packed || !reflect.DeepEqual(got[1:], want) || got[0].DeviceID != "kept" {
				t.Fatalf("round %d entry %d: %v, packed %v, %d points", round, i, err, packed, len(got))
			}
		}
	}
	if _, _, err := d.Decode(map[string]any{FieldCount: "2", FieldPoints: string(AppendSegment(nil, samplePoints()[:1]))}, nil); err == nil {
		t.Error("a wrong count decoded")
	}
}

// BenchmarkDecodeEntry decodes a 500-point entry of 100 devices: once
// (DecodeEntry into a new slice) and as the processor does (one
// EntryDecoder and one points buffer reused).
func BenchmarkDecodeEntry(b *testing.B) {
	v := fleetEntry(500, 100)
	b.Run("once", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := DecodeEntry(v, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reused", func(b *testing.B) {
		var d EntryDecoder
		var buf []Point
		b.ReportAllocs()
		for b.Loop() {
			var err error
			if buf, _, err = d.Decode(v, buf[:0]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
