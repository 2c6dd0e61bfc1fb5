package point

import (
	"fmt"
	"strings"
	"testing"
)

// benchBody is a JSON body of n points as a client sends them: RFC 3339
// timestamps, six decimals, a device id each. One point is an object, more
// an array.
func benchBody(n int) []byte {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"timestamp":"2025-01-23T11:%02d:%02d.%03dZ","latitude":%.6f,"longitude":%.6f,"device_id":"dev-%04d"}`,
			i/60%60, i%60, i%1000, float64(i%180)-89.5+0.123456, float64(i%360)-179.5+0.354321, i%1000)
	}
	if n == 1 {
		return []byte(items[0])
	}
	return []byte("[" + strings.Join(items, ",") + "]")
}

// BenchmarkDecodeOne is the decode of a single-point POST /upload, the
// per-request cost the no-op ceiling of the benchmark also pays.
func BenchmarkDecodeOne(b *testing.B) {
	data := benchBody(1)
	o := testOpts()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBytes(data, BodyJSON, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBatch500 decodes a 500-point array, the batch size of the
// benchmark's batch loads; ns/point is the figure to compare.
func BenchmarkDecodeBatch500(b *testing.B) {
	data := benchBody(500)
	o := testOpts()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBytes(data, BodyJSON, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/point")
}

// BenchmarkAppendFields encodes one point as the field/value strings of its
// stream entry (ingest's per-point encode).
func BenchmarkAppendFields(b *testing.B) {
	alt := 35.5
	p := Point{DeviceID: "dev-0042", TimeMs: 1_737_633_600_123, LatE7: 525_200_000, LonE7: 134_050_000}
	withExtra := p
	withExtra.Extras.Altitude = &alt
	for _, c := range []struct {
		name string
		p    Point
	}{{"plain", p}, {"altitude", withExtra}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			dst := make([]string, 0, 16)
			for b.Loop() {
				dst = c.p.AppendLegacyFields(dst[:0])
			}
		})
	}
}

// BenchmarkFromValues decodes a stream entry as go-redis returns it (the
// processor's per-entry decode).
func BenchmarkFromValues(b *testing.B) {
	v := map[string]any{FieldDevice: "dev-0042", FieldTime: "1737633600123", FieldLat: "525200000", FieldLon: "134050000"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromValues(v); err != nil {
			b.Fatal(err)
		}
	}
}
