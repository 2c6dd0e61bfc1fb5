// Package keys is geostream's Redis key schema: which partition a device
// belongs to, and the name of every key of a partition.
//
// Every key of partition p carries the same Redis Cluster hash tag, so a Lua
// script may touch a partition's stream and all its aggregates in one call on
// one shard. The tags are chosen so that partitions spread evenly over the
// 16384 cluster slots (see Tag).
package keys

import (
	"fmt"
	"hash/fnv"
	"strconv"
)

// DefaultPrefix is the first element of every key name.
const DefaultPrefix = "gs"

// DefaultPartitions is the default number of partition streams.
const DefaultPartitions = 4

// MaxPartitions bounds the partition count: each partition costs one blocked
// connection per processor, and a global query reads every partition.
const MaxPartitions = 1024

// Group is the consumer group that processors share on every partition stream.
const Group = "processors"

// Schema names the keys of one geostream deployment.
type Schema struct {
	prefix string
	n      int
	tags   []string
}

// New returns the schema for a key prefix (DefaultPrefix when empty) and a
// partition count in 1..MaxPartitions.
func New(prefix string, partitions int) (*Schema, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if partitions < 1 || partitions > MaxPartitions {
		return nil, fmt.Errorf("partitions must be between 1 and %d, got %d", MaxPartitions, partitions)
	}
	s := &Schema{prefix: prefix, n: partitions, tags: make([]string, partitions)}
	for p := range s.tags {
		s.tags[p] = Tag(p, partitions)
	}
	return s, nil
}

// Partitions returns the partition count.
func (s *Schema) Partitions() int { return s.n }

// Prefix returns the key prefix.
func (s *Schema) Prefix() string { return s.prefix }

// PartitionOf returns the partition of a device: FNV-1a of the id modulo the
// partition count. It never changes for a deployment (the count is pinned in
// Meta), so a device's points and aggregates always live in one partition.
func (s *Schema) PartitionOf(deviceID string) int {
	h := fnv.New32a()
	h.Write([]byte(deviceID))
	return int(h.Sum32() % uint32(s.n))
}

func (s *Schema) base(p int) string {
	return s.prefix + ":{" + s.tags[p] + "}:"
}

// Meta is the hash that pins the partition count and fixed-point scales of a
// deployment. It is the only key without a partition tag.
func (s *Schema) Meta() string { return s.prefix + ":meta" }

// Stream is partition p's stream of raw points.
func (s *Schema) Stream(p int) string { return s.base(p) + "points" }

// Total is partition p's all-time aggregate hash.
func (s *Schema) Total(p int) string { return s.base(p) + "total" }

// Device is the all-time aggregate hash of one device (with its last
// position); the device must belong to partition p.
func (s *Schema) Device(p int, id string) string { return s.base(p) + "dev:" + id }

// DeviceIndex is partition p's sorted set of device ids (all scores 0, so
// that ZRANGE BYLEX pages through them in id order).
func (s *Schema) DeviceIndex(p int) string { return s.base(p) + "devices" }

// Geo is partition p's geo index (a GEOADD sorted set): each device's
// last position, member = device id. Devices whose last latitude is beyond
// Redis's geo range (±85.05112878°, see geo.InIndexRange) are not in it.
func (s *Schema) Geo(p int) string { return s.base(p) + "geo" }

// Bucket is partition p's aggregate hash for the time bucket of resolution
// res (for example "1m") starting at startMs (Unix milliseconds).
func (s *Schema) Bucket(p int, res string, startMs int64) string {
	return s.base(p) + "b:" + res + ":" + strconv.FormatInt(startMs, 10)
}

// DeviceBucket is one device's aggregate hash for a time bucket.
func (s *Schema) DeviceBucket(p int, id, res string, startMs int64) string {
	return s.base(p) + "db:" + res + ":" + strconv.FormatInt(startMs, 10) + ":" + id
}

// Backlog is partition p's counter of points appended and not yet counted
// by the processors (the backlog limit reads it; append.lua).
func (s *Schema) Backlog(p int) string { return s.base(p) + "backlog" }

// Idempotency is the legacy marker of an upload's Idempotency-Key in
// partition p: one hash per key, as versions before shared markers wrote
// them. Only read now (until they expire, at most 24 h after an upgrade).
func (s *Schema) Idempotency(p int, key string) string { return s.base(p) + "idem:" + key }

// Markers is partition p's idempotency marker layout: the current time
// slice and bucket counts per slice length (scripts/markers.lua).
func (s *Schema) Markers(p int) string { return s.base(p) + "markers" }

// MarkerHash is one hash of partition p's idempotency markers: the keys of
// bucket b remembered in time slice slice of length sliceMs.
func (s *Schema) MarkerHash(p int, sliceMs, slice int64, b int) string {
	return s.base(p) + "markers:" + strconv.FormatInt(sliceMs, 10) + ":" + strconv.FormatInt(slice, 10) + ":" + strconv.Itoa(b)
}

// Tag returns the hash tag of partition p of n. It is "p<p>" when that lands
// in the p-th of n equal ranges of the 16384 cluster slots, and otherwise
// "p<p>.<k>" for the smallest k that does, so that a cluster whose masters
// own equal slot ranges gets an equal share of partitions.
func Tag(p, n int) string {
	lo, hi := p*SlotCount/n, (p+1)*SlotCount/n
	tag := "p" + strconv.Itoa(p)
	for k := 0; ; k++ {
		if slot := Slot(tag); slot >= lo && slot < hi {
			return tag
		}
		tag = "p" + strconv.Itoa(p) + "." + strconv.Itoa(k)
	}
}

// Track is the list of one device's track points of the hour starting at
// hourMs (Unix ms), one binary record each (point.AppendTrackRecord).
func (s *Schema) Track(p int, hourMs int64, id string) string {
	return s.base(p) + "trk:" + strconv.FormatInt(hourMs, 10) + ":" + id
}
