package keys

import "testing"

// BenchmarkPartitionOf maps a device to its partition, once per uploaded
// point and once per processed entry.
func BenchmarkPartitionOf(b *testing.B) {
	s, err := New("", DefaultPartitions)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.PartitionOf("dev-0042")
	}
}

// BenchmarkDeviceBucket builds the name of a device's time-bucket hash, one
// of the keys the processor names for every entry.
func BenchmarkDeviceBucket(b *testing.B) {
	s, err := New("", DefaultPartitions)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = s.DeviceBucket(1, "dev-0042", "1m", 1_737_633_600_000)
	}
}
