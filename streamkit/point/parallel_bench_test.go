package point

import (
	"bytes"
	"fmt"
	"testing"
)

// batchJSON is a JSON array of n valid points on 50 devices.
func batchJSON(n int) []byte {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"timestamp":"2025-01-23T11:%02d:%02d.%03dZ","latitude":%.6f,"longitude":%.6f,"device_id":"dev-%d"}`,
			i/60%60, i%60, i%1000, float64(i%180)-89.5, float64(i%360)-179.5, i%50)
	}
	buf.WriteByte(']')
	return buf.Bytes()
}

// BenchmarkDecodeParallel decodes 100-point batches on every core at once,
// as concurrent uploads do: shared state in the decoder shows up here.
func BenchmarkDecodeParallel(b *testing.B) {
	data := batchJSON(100)
	o := testOpts()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := DecodeBytes(data, BodyJSON, o); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
