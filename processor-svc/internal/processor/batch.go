package processor

import (
	"context"
	"fmt"
	"slices"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/scripts"
)

// entry is a stream entry, decoded once to check it (docs/architecture.md,
// "Stream entry format"). Its points are decoded again when they are added
// (partition.points), into one buffer reused for every entry: a read of a
// backlog holds up to ~100k points, which kept decoded took 80 bytes each.
type entry struct {
	id     string
	packed bool
	values map[string]any
	n      int           // points
	first  string        // the first point's device
	pts    []point.Point // kept only for bounded reads (few entries)
}

// apply counts msgs, read from this partition's stream, in batches of at
// most BatchSize entries (miniredis ignores COUNT when re-reading pending
// entries). A read of at most an eighth of what a read of such entries
// asks for (w.count, readsize.go) means the processor is keeping up with
// room to spare: it is then cut into calls of at most
// MaxCallKeys aggregate keys (see DefaultMaxCallKeys). A larger read goes
// in one call: cut calls cost Redis more per entry (an XPENDING per entry,
// and the partition's own hashes written once per call), which a processor
// that is behind cannot spare.
//
// fresh says msgs are one XREADGROUP ">" read: a batch that is all of it
// can then be proved pending cheaply (scripts.SumBatch.Fresh).
func (w *partition) apply(finish context.Context, msgs []redis.XMessage, fresh bool) error {
	bounded := w.p.cfg.MaxCallKeys > 0 && len(msgs) <= w.count/8
	fresh = fresh && len(msgs) <= w.p.cfg.BatchSize // one batch: the whole read
	for len(msgs) > 0 {
		n := min(len(msgs), w.p.cfg.BatchSize)
		if err := w.applyBatch(finish, msgs[:n], bounded, fresh); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

// decode decodes msgs. An entry that does not decode (written by something
// other than ingest-svc, or deleted from the stream while pending, which
// Redis returns without fields) can never be counted: it is logged and
// returned in bad, to be acknowledged without counting, so that it cannot
// wedge the partition by being redelivered for ever.
func (w *partition) decode(msgs []redis.XMessage, keep bool) (good []entry, bad []string) {
	misplaced := 0
	for _, m := range msgs {
		pts, packed, err := w.dec.Decode(m.Values, w.buf[:0])
		w.buf = pts
		if err != nil {
			w.log.Warn("undecodable entry acknowledged without counting it", "id", m.ID, "err", err)
			bad = append(bad, m.ID)
			continue
		}
		for i := range pts {
			if w.p.schema.PartitionOf(pts[i].DeviceID) != w.n {
				misplaced++
			}
		}
		e := entry{id: m.ID, packed: packed, values: m.Values, n: len(pts), first: pts[0].DeviceID}
		if keep {
			e.pts = slices.Clone(pts)
		}
		good = append(good, e)
	}
	if misplaced > 0 {
		w.log.Warn("points of devices that belong to another partition, counted in this one", "points", misplaced)
	}
	return good, bad
}

// points returns e's points: those kept, or decoded again into the
// partition's buffer, valid until the next call.
func (w *partition) points(e entry) ([]point.Point, error) {
	if e.pts != nil {
		return e.pts, nil
	}
	pts, _, err := w.dec.Decode(e.values, w.buf[:0])
	w.buf = pts
	if err != nil {
		return nil, fmt.Errorf("partition %d: entry %s: %w", w.n, e.id, err)
	}
	return pts, nil
}

// applyBatch counts one batch: each call acknowledges its entries and adds
// their points only if they were still pending (see applyCall).
//
// With bounded, the batch's entries are dealt into calls of at most
// MaxCallKeys keys (an entry whose keys alone exceed it gets a call of its
// own), grouped by the device of their first point so that a device's
// hashes are mostly written once per batch; such calls prove their entries
// pending one by one (applysums.lua, proof "each"). Without, the batch is
// one call, a run of consecutive entries (proof "run"), or, with fresh, a
// whole ">" read (proof "fresh", from XPENDING's summary).
func (w *partition) applyBatch(finish context.Context, msgs []redis.XMessage, bounded, fresh bool) error {
	defer prometheus.NewTimer(w.p.batchDuration).ObserveDuration()
	good, bad := w.decode(msgs, bounded)
	if len(bad) > 0 {
		err := w.retry(finish, "xack undecodable entries", func(ctx context.Context) error {
			n, err := w.p.client.XAck(ctx, w.stream, keys.Group, bad...).Result()
			if err != nil {
				return fmt.Errorf("xack %s: %w", w.stream, err)
			}
			w.p.undecodable.Add(n)
			return nil
		})
		if err != nil {
			return err
		}
	}
	if len(good) == 0 {
		return nil
	}

	nowMs := w.p.now().UnixMilli()
	if bounded {
		// Stable: a device's entries stay in id order.
		first := map[string]int{}
		for i, e := range good {
			if _, ok := first[e.first]; !ok {
				first[e.first] = i
			}
		}
		sort.SliceStable(good, func(a, b int) bool {
			return first[good[a].first] < first[good[b].first]
		})
	}
	var calls []*call
	cur := w.newCall(nowMs)
	names := map[string]*deviceKeyNames{}
	for _, e := range good {
		if bounded && cur.sums.Len() > 0 && cur.sums.Keys()+w.entryKeys(names, cur.sums, e, nowMs) > w.p.cfg.MaxCallKeys {
			calls = append(calls, cur)
			cur = w.newCall(nowMs)
		}
		if err := cur.sums.AddEntry(e.id, e.packed); err != nil {
			return fmt.Errorf("partition %d: %w", w.n, err)
		}
		pts, err := w.points(e)
		if err != nil {
			return err
		}
		for _, pt := range pts {
			// The partition total, the device, and its time buckets at
			// every resolution (those already expired left out).
			dev, aggs := w.keysOf(names, pt, nowMs)
			if err := cur.sums.AddPoint(pt, dev, aggs); err != nil {
				return fmt.Errorf("partition %d: %w", w.n, err)
			}
		}
		cur.entries = append(cur.entries, e)
	}
	calls = append(calls, cur)
	for _, c := range calls {
		c.sums.Scattered = len(calls) > 1
		c.sums.Fresh = fresh && len(calls) == 1
		if err := w.applyCall(finish, c, nowMs); err != nil {
			return err
		}
	}
	return nil
}

// deviceKeyNames are the aggregate keys of one device's latest point in a
// batch, and the bucket starts they were named for.
type deviceKeyNames struct {
	starts []int64
	dev    string
	aggs   []scripts.AggKey
}

// keysOf returns pt's device key and aggregate keys, named once per device
// and bucket combination within a batch (names): a device's points in one
// read mostly share their buckets, and formatting eight key names a point
// was a quarter of the processor's CPU. The keys depend only on the device,
// the bucket starts and nowMs, which is fixed for the batch.
func (w *partition) keysOf(names map[string]*deviceKeyNames, pt point.Point, nowMs int64) (string, []scripts.AggKey) {
	e := names[pt.DeviceID]
	if e == nil {
		e = &deviceKeyNames{dev: w.p.schema.Device(w.n, pt.DeviceID), starts: make([]int64, len(w.p.wins))}
		names[pt.DeviceID] = e
	} else {
		same := true
		for k, r := range w.p.wins {
			if r.Start(pt.TimeMs) != e.starts[k] {
				same = false
				break
			}
		}
		if same {
			return e.dev, e.aggs
		}
	}
	for k, r := range w.p.wins {
		e.starts[k] = r.Start(pt.TimeMs)
	}
	e.aggs = w.p.wins.AggKeys(w.p.schema, w.n, pt, nowMs, e.aggs)
	return e.dev, e.aggs
}

// entryKeys returns how many keys the points of e would add to b, naming
// them through names as applyBatch does.
func (w *partition) entryKeys(names map[string]*deviceKeyNames, b *scripts.SumBatch, e entry, nowMs int64) int {
	seen := map[string]bool{}
	add := func(k string) {
		if k != "" && !seen[k] && !b.Has(k) {
			seen[k] = true
		}
	}
	for _, pt := range e.pts {
		devKey, aggs := w.keysOf(names, pt, nowMs)
		add(devKey)
		for _, k := range aggs {
			add(k.Key)
		}
	}
	return len(seen)
}

// call is the entries of one Lua call.
type call struct {
	sums    *scripts.SumBatch
	entries []entry
}

func (w *partition) newCall(nowMs int64) *call {
	b := scripts.NewSumBatch(w.p.schema, w.n)
	b.SetTracks(w.p.cfg.TrackRetention, nowMs)
	return &call{sums: b}
}
