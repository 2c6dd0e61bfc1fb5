package window

import (
	"testing"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/scripts"
)

// BenchmarkAggKeys names every aggregate a point adds to (the partition
// total, the device, a partition and a device bucket per resolution): the
// processor does it for every entry it applies.
func BenchmarkAggKeys(b *testing.B) {
	s, err := Parse(DefaultSpec)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := keys.New("", keys.DefaultPartitions)
	if err != nil {
		b.Fatal(err)
	}
	p := point.Point{DeviceID: "dev-0042", TimeMs: 1_737_633_600_123, LatE7: 525_200_000, LonE7: 134_050_000}
	now := p.TimeMs + 1000
	var dst []scripts.AggKey
	b.ReportAllocs()
	for b.Loop() {
		dst = s.AggKeys(sc, 1, p, now, dst)
	}
}
