package scripts

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// AggKey is an aggregate hash an entry adds to, and when that hash expires
// (Unix ms; 0 = never).
type AggKey struct {
	Key        string
	ExpireAtMs int64
	// Shared says every call of the partition writes the key (the
	// partition's total and its time buckets, not a device's): SumBatch
	// keeps it in delta mode, since a read ahead of the call would seldom
	// still hold with several processors (see SumBatch.Prepare).
	Shared bool
}

// ApplyBatch lays out one Apply call: the entries of one partition read from
// its stream, with the aggregate keys each adds to. Every entry must name the
// same number of aggregate keys (use an empty Key for "none").
type ApplyBatch struct {
	stream, index string
	geo           string   // KEYS[#KEYS], the partition's geo index
	keys          []string // KEYS[3..#KEYS-1]
	expire        []int64
	pos           map[string]int // key → index in KEYS (1-based)
	width         int            // aggregate keys per entry, -1 before the first Add
	entries       []any
	n             int
}

// NewApplyBatch starts a batch for a partition's stream, device index and
// geo index (keys.Schema.Geo).
func NewApplyBatch(stream, deviceIndex, geoIndex string) *ApplyBatch {
	return &ApplyBatch{stream: stream, index: deviceIndex, geo: geoIndex, pos: map[string]int{}, width: -1}
}

// Len returns the number of entries added.
func (b *ApplyBatch) Len() int { return b.n }

func (b *ApplyBatch) keyIndex(k AggKey) int {
	if k.Key == "" {
		return 0
	}
	if i, ok := b.pos[k.Key]; ok {
		return i
	}
	b.keys = append(b.keys, k.Key)
	b.expire = append(b.expire, k.ExpireAtMs)
	i := len(b.keys) + 2
	b.pos[k.Key] = i
	return i
}

// Add adds stream entry id holding p. deviceKey is the device's hash, which
// keeps its last position; aggs are the aggregates p adds to.
func (b *ApplyBatch) Add(id string, p point.Point, deviceKey string, aggs []AggKey) error {
	if b.width < 0 {
		b.width = len(aggs)
	} else if len(aggs) != b.width {
		return fmt.Errorf("apply batch: entry %s names %d aggregates, earlier ones %d", id, len(aggs), b.width)
	}
	if b.n >= MaxApplyEntries {
		return fmt.Errorf("apply batch: more than %d entries", MaxApplyEntries)
	}
	v := geo.UnitVector(p.LatE7, p.LonE7)
	b.entries = append(b.entries, id, p.DeviceID, itoa(p.TimeMs), itoa(p.LatE7), itoa(p.LonE7),
		itoa(v.X), itoa(v.Y), itoa(v.Z), b.keyIndex(AggKey{Key: deviceKey}))
	for _, k := range aggs {
		b.entries = append(b.entries, b.keyIndex(k))
	}
	b.n++
	return nil
}

// ApplyResult is what one Apply call did.
type ApplyResult struct {
	Applied    int64 // entries counted now
	Duplicates int64 // entries already acknowledged, so not counted again
}

// Run runs the batch for consumer group group. An empty batch does nothing.
func (b *ApplyBatch) Run(ctx context.Context, c redis.Scripter, group string) (ApplyResult, error) {
	if b.n == 0 {
		return ApplyResult{}, nil
	}
	keys := make([]string, 0, len(b.keys)+3)
	keys = append(keys, b.stream, b.index)
	keys = append(keys, b.keys...)
	keys = append(keys, b.geo)
	args := make([]any, 0, 3+len(b.expire)+len(b.entries))
	args = append(args, group, len(b.keys))
	for _, e := range b.expire {
		args = append(args, e)
	}
	args = append(args, b.width)
	args = append(args, b.entries...)
	res, err := Apply.Run(ctx, c, keys, args...).Int64Slice()
	if err != nil {
		return ApplyResult{}, fmt.Errorf("apply %d entries to %s: %w", b.n, b.stream, err)
	}
	if len(res) != 2 {
		return ApplyResult{}, fmt.Errorf("apply %s: unexpected reply %v", b.stream, res)
	}
	return ApplyResult{Applied: res[0], Duplicates: res[1]}, nil
}
