package suite

import (
	"testing"
	"time"

	"github.com/geostream/geostream/bench/internal/load"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

// The packing bound splits each body by partition, as ingest-svc does:
// with one partition it is the body's one segment; with 16, the sum of
// 16 segments, each with its own header and device table, so more.
func TestPackedBytesPerPoint(t *testing.T) {
	bodies := load.Bodies(4, 500, 1000, time.Unix(1_737_633_600, 0))
	one, _ := keys.New("gs", 1)
	sixteen, _ := keys.New("gs", 16)
	var size, n int
	for _, b := range bodies {
		pts, err := point.DecodeBytes(b, point.BodyJSON, point.DecodeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		size, n = size+len(point.AppendSegment(nil, pts)), n+len(pts)
	}
	if got, want := packedBytesPerPoint(bodies, one), float64(size)/float64(n); got != want {
		t.Errorf("one partition: %.3f bytes a point, want the body's segment %.3f", got, want)
	}
	if got := packedBytesPerPoint(bodies, sixteen); got <= float64(size)/float64(n) {
		t.Errorf("16 partitions: %.3f bytes a point, want more than one segment's %.3f", got, float64(size)/float64(n))
	}
	t.Logf("bytes a point: one segment a body %.2f, one a partition of 16 %.2f", packedBytesPerPoint(bodies, one), packedBytesPerPoint(bodies, sixteen))
}
