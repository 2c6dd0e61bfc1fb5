package scripts

import (
	"context"
	_ "embed"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/point"
)

//go:embed applysums.lua
var applySumsSrc string

// ApplySums is the fast path of Apply (see applysums.lua): it counts a batch
// whose entries are all still pending from per-key sums computed in Go, so
// Redis does one XCLAIM, one XACK and a few commands per aggregate key
// instead of walking every entry in Lua. Build its arguments with SumBatch.
var ApplySums = redis.NewScript(applySumsSrc)

// SumBatch lays out one ApplySums call. It takes the same Add calls as
// ApplyBatch.
type SumBatch struct {
	stream, index string
	// Scattered says the ids are not one run of consecutive entries of a
	// read (some entries between the first and the last belong to other
	// calls): the script then proves each pending on its own.
	Scattered bool
	// Fresh says the ids are every entry of one XREADGROUP ">" read (less
	// any acknowledged without counting): the script may then prove them
	// pending from XPENDING's summary (applysums.lua, proof "fresh").
	// Never set it for re-read or claimed entries.
	Fresh  bool
	ids    []string
	keys   []string
	pos    map[string]int // key → index into keys/sums
	sums   []agg.Sums
	expire []int64
	devs   map[int]devLast // index into keys → latest position
}

type devLast struct {
	id          string
	t, lat, lon int64
}

// NewSumBatch starts a batch for a partition's stream and device index.
func NewSumBatch(stream, deviceIndex string) *SumBatch {
	return &SumBatch{stream: stream, index: deviceIndex, pos: map[string]int{}, devs: map[int]devLast{}}
}

// Len returns the number of entries added.
func (b *SumBatch) Len() int { return len(b.ids) }

// Keys returns the number of distinct aggregate keys the batch touches.
func (b *SumBatch) Keys() int { return len(b.keys) }

// Has reports whether the batch already touches key.
func (b *SumBatch) Has(key string) bool {
	_, ok := b.pos[key]
	return ok
}

func (b *SumBatch) key(k string, expireAt int64) int {
	i, ok := b.pos[k]
	if !ok {
		i = len(b.keys)
		b.pos[k] = i
		b.keys = append(b.keys, k)
		b.sums = append(b.sums, agg.Sums{})
		b.expire = append(b.expire, expireAt)
	}
	return i
}

// Add adds stream entry id holding p, like ApplyBatch.Add: deviceKey keeps
// the device's last position, aggs are the aggregates p adds to (empty Keys
// are skipped).
func (b *SumBatch) Add(id string, p point.Point, deviceKey string, aggs []AggKey) error {
	if len(b.ids) >= MaxApplyEntries {
		return fmt.Errorf("sum batch: more than %d entries", MaxApplyEntries)
	}
	b.ids = append(b.ids, id)
	one := agg.Of(p)
	for _, k := range aggs {
		if k.Key == "" {
			continue
		}
		i := b.key(k.Key, k.ExpireAtMs)
		b.sums[i].Merge(one)
	}
	if deviceKey != "" {
		i := b.key(deviceKey, 0)
		d, ok := b.devs[i]
		if !ok || later(p.TimeMs, p.LatE7, p.LonE7, d.t, d.lat, d.lon) {
			b.devs[i] = devLast{id: p.DeviceID, t: p.TimeMs, lat: p.LatE7, lon: p.LonE7}
		}
	}
	return nil
}

// later orders positions as applysums.lua and apply.lua do.
func later(t, lat, lon, t0, lat0, lon0 int64) bool {
	if t != t0 {
		return t > t0
	}
	if lat != lat0 {
		return lat > lat0
	}
	return lon > lon0
}

// Run runs the batch as consumer of group. allPending is false when some
// entry was no longer pending (acknowledged by another call): then nothing
// was applied or acknowledged, and the caller must count the batch entry by
// entry with ApplyBatch.
func (b *SumBatch) Run(ctx context.Context, c redis.Scripter, group, consumer string) (applied int64, allPending bool, err error) {
	if len(b.ids) == 0 {
		return 0, true, nil
	}
	keys, args := b.Layout(group, consumer)
	res, err := ApplySums.Run(ctx, c, keys, args...).Int64Slice()
	if err != nil {
		return 0, false, fmt.Errorf("apply sums of %d entries to %s: %w", len(b.ids), b.stream, err)
	}
	if len(res) != 2 {
		return 0, false, fmt.Errorf("apply sums %s: unexpected reply %v", b.stream, res)
	}
	if res[0] < 0 {
		return 0, false, nil
	}
	return res[0], true, nil
}

// Layout returns the keys and arguments of the batch's ApplySums call.
func (b *SumBatch) Layout(group, consumer string) (keyNames []string, args []any) {
	keys := make([]string, 0, len(b.keys)+2)
	keys = append(keys, b.stream, b.index)
	keys = append(keys, b.keys...)
	args = make([]any, 0, 4+len(b.ids)+13*len(b.keys)+5*len(b.devs))
	proof := "run"
	switch {
	case b.Scattered:
		proof = "each"
	case b.Fresh:
		proof = "fresh"
	}
	args = append(args, group, consumer, proof, len(b.ids))
	for _, id := range b.ids {
		args = append(args, id)
	}
	for i, s := range b.sums {
		// A key with no points (a device hash kept only for the last
		// position) has n = 0: the script then leaves its sums alone.
		args = append(args, b.expire[i], s.Count, s.SumLat, s.SumLon, s.SumX, s.SumY, s.SumZ,
			s.LatMin, s.LatMax, s.LonMin, s.LonMax, s.TMin, s.TMax)
	}
	for i, d := range b.devs {
		args = append(args, i+3, d.id, strconv.FormatInt(d.t, 10), d.lat, d.lon)
	}
	return keys, args
}
