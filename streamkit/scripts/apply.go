package scripts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/keys"
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
// its stream, point by point, with the aggregate keys each point adds to.
// Every point must name the same number of aggregate keys (use an empty Key
// for "none").
type ApplyBatch struct {
	stream, index, geo, backlog string
	keys                        []string // KEYS[3..#KEYS-2]
	expire                      []int64
	pos                         map[string]int // key → index in KEYS (1-based)
	width                       int            // aggregate keys per point, -1 before the first
	rows                        []any
	entries, points             int
	entry                       string // the current entry's id
	kind                        int    // the kind of the current entry's next row; -1: none may follow
	tracks                      tracks
	trackAt                     []int // where rows hold an index into tracks.keys, to be made a KEYS index
}

// NewApplyBatch starts a batch for partition p of s.
func NewApplyBatch(s *keys.Schema, p int) *ApplyBatch {
	return &ApplyBatch{stream: s.Stream(p), index: s.DeviceIndex(p), geo: s.Geo(p), backlog: s.Backlog(p), pos: map[string]int{}, width: -1,
		tracks: tracks{schema: s, part: p}}
}

// SetTracks makes the batch append each point to its device-hour track list,
// kept for retention after the hour (0: no tracks), judged at nowMs. Call it
// before the first AddPoint.
func (b *ApplyBatch) SetTracks(retention time.Duration, nowMs int64) {
	b.tracks.set(retention, nowMs)
}

// Len returns the number of entries added.
func (b *ApplyBatch) Len() int { return b.entries }

// Points returns the number of points added.
func (b *ApplyBatch) Points() int { return b.points }

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

// AddEntry starts stream entry id; packed says it is a packed entry, whose
// points the AddPoint calls up to the next AddEntry are, rather than a
// legacy one-point entry (exactly one AddPoint).
func (b *ApplyBatch) AddEntry(id string, packed bool) error {
	if b.entries >= MaxApplyEntries {
		return fmt.Errorf("apply batch: more than %d entries", MaxApplyEntries)
	}
	b.entries++
	b.entry, b.kind = id, 0
	if packed {
		b.kind = 1
	}
	return nil
}

// AddPoint adds a point of the current entry. deviceKey is the device's
// hash, which keeps its last position; aggs are the aggregates p adds to.
func (b *ApplyBatch) AddPoint(p point.Point, deviceKey string, aggs []AggKey) error {
	if b.entry == "" {
		return errors.New("apply batch: a point before its entry")
	}
	if b.width < 0 {
		b.width = len(aggs)
	} else if len(aggs) != b.width {
		return fmt.Errorf("apply batch: a point of entry %s names %d aggregates, earlier ones %d", b.entry, len(aggs), b.width)
	}
	if b.points >= MaxApplyPoints {
		return fmt.Errorf("apply batch: more than %d points", MaxApplyPoints)
	}
	id, kind := b.entry, b.kind
	switch kind {
	case -1:
		return fmt.Errorf("apply batch: a second point in legacy entry %s", b.entry)
	case 0:
		b.kind = -1
	case 1:
		b.kind = 2 // the entry's further points
	case 2:
		id = "" // apply.lua reads the id of the entry's first row
	}
	v := geo.UnitVector(p.LatE7, p.LonE7)
	b.rows = append(b.rows, id, p.DeviceID, itoa(p.TimeMs), itoa(p.LatE7), itoa(p.LonE7),
		itoa(v.X), itoa(v.Y), itoa(v.Z), b.keyIndex(AggKey{Key: deviceKey}), kind)
	if t := b.tracks.key(&p); t >= 0 {
		b.trackAt = append(b.trackAt, len(b.rows))
		b.rows = append(b.rows, t, record(&p), extras(&p))
	} else {
		b.rows = append(b.rows, 0, "", extras(&p))
	}
	for _, k := range aggs {
		b.rows = append(b.rows, b.keyIndex(k))
	}
	b.points++
	return nil
}

// Add adds a legacy entry: id holding the one point p.
func (b *ApplyBatch) Add(id string, p point.Point, deviceKey string, aggs []AggKey) error {
	if err := b.AddEntry(id, false); err != nil {
		return err
	}
	return b.AddPoint(p, deviceKey, aggs)
}

// ApplyResult is what one Apply call did.
type ApplyResult struct {
	Applied    int64 // points counted now
	Duplicates int64 // points of entries already acknowledged, so not counted again
}

// Run runs the batch for consumer group group. An empty batch does nothing.
func (b *ApplyBatch) Run(ctx context.Context, c redis.Scripter, group string) (ApplyResult, error) {
	if b.points == 0 {
		return ApplyResult{}, nil
	}
	keys := make([]string, 0, len(b.keys)+len(b.tracks.keys)+4)
	keys = append(keys, b.stream, b.index)
	keys = append(keys, b.keys...)
	keys = append(keys, b.tracks.keys...)
	keys = append(keys, b.geo, b.backlog)
	args := make([]any, 0, 3+len(b.expire)+len(b.tracks.expire)+len(b.rows))
	args = append(args, group, len(b.keys))
	for _, e := range b.expire {
		args = append(args, e)
	}
	for _, e := range b.tracks.expire {
		args = append(args, e)
	}
	args = append(args, b.width)
	rows := len(args)
	args = append(args, b.rows...)
	for _, at := range b.trackAt { // track i is KEYS[3+A+i]
		args[rows+at] = args[rows+at].(int) + 3 + len(b.keys)
	}
	res, err := Apply.Run(ctx, c, keys, args...).Int64Slice()
	if err != nil {
		return ApplyResult{}, fmt.Errorf("apply %d entries to %s: %w", b.entries, b.stream, err)
	}
	if len(res) != 2 {
		return ApplyResult{}, fmt.Errorf("apply %s: unexpected reply %v", b.stream, res)
	}
	return ApplyResult{Applied: res[0], Duplicates: res[1]}, nil
}
