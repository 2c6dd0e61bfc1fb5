package keys

import (
	"fmt"
	"testing"
)

func TestSlotKnownValues(t *testing.T) {
	// Values from the Redis Cluster specification and CLUSTER KEYSLOT.
	tests := map[string]int{
		"foo":                  12182,
		"bar":                  5061,
		"{user1000}.following": Slot("user1000"),
		"{}foo":                Slot("{}foo"), // empty tag: whole key hashed
		"123456789":            0x31C3,        // CRC16/XMODEM check value
	}
	for k, want := range tests {
		if got := Slot(k); got != want {
			t.Errorf("Slot(%q) = %d, want %d", k, got, want)
		}
	}
	if Slot("{}foo") == Slot("foo") {
		t.Error("an empty hash tag must not be used as the tag")
	}
}

func TestPartitionOfIsStable(t *testing.T) {
	s, err := New("", 4)
	if err != nil {
		t.Fatal(err)
	}
	// Pinned: changing the hash function would move devices between
	// partitions and split their aggregates in existing deployments.
	golden := map[string]int{"default": 2, "truck-1": 2, "car-1": 3, "sim-0001": 0}
	for id, want := range golden {
		if got := s.PartitionOf(id); got != want {
			t.Errorf("PartitionOf(%q) = %d, want %d", id, got, want)
		}
		if got := fnvMod(id, 4); got != want {
			t.Errorf("FNV-1a(%q) mod 4 = %d, want %d", id, got, want)
		}
	}
	if got := Tag(0, 4) + " " + Tag(1, 4) + " " + Tag(2, 4) + " " + Tag(3, 4); got != "p0.1 p1.3 p2.1 p3.3" {
		t.Errorf("tags of 4 partitions = %q (pinned: they name existing keys)", got)
	}
}

func fnvMod(s string, n uint32) int {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return int(h % n)
}

func TestPartitionsSpreadDevices(t *testing.T) {
	s, _ := New("gs", 8)
	counts := make([]int, 8)
	for i := 0; i < 8000; i++ {
		counts[s.PartitionOf(fmt.Sprintf("dev-%d", i))]++
	}
	for p, c := range counts {
		if c < 800 || c > 1200 {
			t.Errorf("partition %d holds %d of 8000 devices", p, c)
		}
	}
}

func TestTagsSpreadOverSlots(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 16, 64} {
		seen := map[string]bool{}
		for p := 0; p < n; p++ {
			tag := Tag(p, n)
			slot := Slot(tag)
			if lo, hi := p*SlotCount/n, (p+1)*SlotCount/n; slot < lo || slot >= hi {
				t.Errorf("n=%d: Tag(%d) = %q in slot %d, want [%d,%d)", n, p, tag, slot, lo, hi)
			}
			if seen[tag] {
				t.Errorf("n=%d: duplicate tag %q", n, tag)
			}
			seen[tag] = true
		}
	}
}

func TestPartitionKeysShareOneSlot(t *testing.T) {
	s, _ := New("gs", 4)
	for p := 0; p < 4; p++ {
		want := Slot(s.Stream(p))
		for _, k := range []string{
			s.Total(p), s.Device(p, "a:b{c}"), s.DeviceIndex(p),
			s.Bucket(p, "1m", 60000), s.DeviceBucket(p, "x", "1h", 3600000), s.Idempotency(p, "k{1}"),
			s.Markers(p), s.MarkerHash(p, 600000, 2941650, 3),
		} {
			if got := Slot(k); got != want {
				t.Errorf("partition %d: %q in slot %d, stream in %d", p, k, got, want)
			}
		}
	}
}

func TestNewRejectsBadCounts(t *testing.T) {
	for _, n := range []int{0, -1, MaxPartitions + 1} {
		if _, err := New("gs", n); err == nil {
			t.Errorf("New(gs, %d): want error", n)
		}
	}
}

func TestGeoKeyCarriesThePartitionTag(t *testing.T) {
	s, err := New("", 4)
	if err != nil {
		t.Fatal(err)
	}
	for p := range 4 {
		if Slot(s.Geo(p)) != Slot(s.Stream(p)) {
			t.Errorf("Geo(%d) = %q is not in the slot of its stream %q", p, s.Geo(p), s.Stream(p))
		}
	}
	if got := s.Geo(1); got != "gs:{p1.3}:geo" {
		t.Errorf("Geo(1) = %q", got)
	}
}
