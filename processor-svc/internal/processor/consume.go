package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/scripts"
)

// Backoff between attempts of a failed Redis call: doubling from retryMin,
// capped at retryMax.
const (
	retryMin = 50 * time.Millisecond
	retryMax = 5 * time.Second
)

// partition is the consumer of one partition stream.
type partition struct {
	p      *Processor
	n      int
	stream string
	log    *slog.Logger
	// deltaCalls is how many more calls skip reading their hashes first
	// (all in delta mode): set to conflictBackoff when a call conflicted
	// twice, i.e. another processor wrote its hashes between the read and
	// the call, and again before it was sent again.
	deltaCalls int
}

// conflictBackoff is how many calls of a partition skip the read ahead
// (SumBatch.Prepare) after one that conflicted twice. One conflict costs
// a second call with the hashes written meanwhile in delta mode (in a
// test with two processors on every partition, 15 % of calls had one);
// two in a row cost a third call with all in delta mode, so
// the partition then counts with increments for a while, and tries again.
const conflictBackoff = 16

func (p *Processor) newPartition(n int) *partition {
	s := p.schema.Stream(n)
	return &partition{
		p: p, n: n, stream: s,
		log: p.log.With("stream", s, "group", keys.Group, "consumer", p.cfg.Consumer),
	}
}

// run consumes the partition until ctx is done. Work that must complete
// once started (a read and the apply of what it returned) uses finish,
// which outlives ctx by the shutdown grace; see Processor.Run.
func (w *partition) run(ctx, finish context.Context) error {
	if err := w.drainOwn(ctx, finish); err != nil {
		return err
	}
	nextClaim := time.Now() // claim once at start: a dead consumer's entries may be waiting
	delay := retryMin
	reread := false
	for ctx.Err() == nil {
		if !time.Now().Before(nextClaim) {
			if err := w.claim(ctx, finish); err != nil {
				return err
			}
			nextClaim = time.Now().Add(w.p.cfg.ClaimInterval)
		}
		if reread {
			// A read failed (failover.go, mustReread): count what it may
			// have delivered before reading new entries.
			if err := w.drainOwn(ctx, finish); err != nil {
				return err
			}
			reread = false
		}
		// The read uses finish, not ctx: a blocked XREADGROUP cancelled at
		// shutdown could lose its reply while Redis delivers entries to us,
		// which would stay pending until a restart or a claim. (go-redis
		// ignores cancellation during a command unless
		// ContextTimeoutEnabled is set; this does not rely on that.) Block
		// is finite, so a shutdown waits at most Block for the read, then
		// applies what it returned.
		msgs, err := w.read(finish, ">", w.p.cfg.Block)
		if err != nil {
			w.log.Warn("read failed, retrying", "retry_in", delay, "err", err)
			if !sleep(ctx, delay) {
				break
			}
			delay = min(2*delay, retryMax)
			reread = reread || mustReread(err)
			continue
		}
		delay = retryMin
		if err := w.apply(finish, msgs, true); err != nil {
			return err
		}
		// A read short of a batch: wait a little before the next one, so
		// that it finds more of each device's points to add up in one
		// write per hash. Reading eagerly whatever arrived costs Redis
		// several times more per point (each point writes its own four
		// device hashes) exactly when the load is high enough to matter.
		if len(msgs) > 0 && len(msgs) < w.p.cfg.BatchSize && w.p.cfg.Linger > 0 {
			sleep(ctx, w.p.cfg.Linger)
		}
	}
	w.log.Debug("partition stopped")
	return nil
}

// drainOwn re-reads and applies the entries pending under this consumer's
// name: after a restart with the same name, these were delivered to the
// previous process but not applied (or applied without the process learning
// it; apply.lua then counts them as duplicates).
func (w *partition) drainOwn(ctx, finish context.Context) error {
	cursor, total := "0", 0
	delay := retryMin
	for ctx.Err() == nil {
		msgs, err := w.read(finish, cursor, -1)
		if err != nil {
			w.log.Warn("read of own pending entries failed, retrying", "retry_in", delay, "err", err)
			if !sleep(ctx, delay) {
				break
			}
			delay = min(2*delay, retryMax)
			continue
		}
		if len(msgs) == 0 {
			break
		}
		if err := w.apply(finish, msgs, false); err != nil {
			return err
		}
		total += len(msgs)
		cursor = msgs[len(msgs)-1].ID
	}
	if total > 0 {
		w.log.Info("re-read entries left pending by a previous run", "entries", total)
	}
	return nil
}

// read reads up to BatchSize entries with XREADGROUP from id: ">" for new
// entries (blocking up to block), or an ID for this consumer's pending
// entries after it (block < 0: no BLOCK argument).
func (w *partition) read(ctx context.Context, id string, block time.Duration) ([]redis.XMessage, error) {
	res, err := w.p.client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    keys.Group,
		Consumer: w.p.cfg.Consumer,
		Streams:  []string{w.stream, id},
		Count:    int64(w.p.cfg.BatchSize),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		if strings.HasPrefix(err.Error(), "NOGROUP") {
			// The stream or its group was deleted (FLUSHALL, an operator):
			// create them again so that new points are counted.
			if cerr := w.p.createGroup(ctx, w.stream); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
		return nil, fmt.Errorf("xreadgroup %s %s %s: %w", w.stream, keys.Group, id, err)
	}
	var out []redis.XMessage
	for _, s := range res {
		out = append(out, s.Messages...)
	}
	return out, nil
}

// apply counts msgs, read from this partition's stream, in batches of at
// most BatchSize (miniredis ignores COUNT when re-reading pending entries).
// A read of at most an eighth of BatchSize means the processor is keeping
// up with room to spare: it is then cut into calls of at most MaxCallKeys
// aggregate keys (see DefaultMaxCallKeys). A larger read goes in one call:
// cut calls cost Redis more per entry (an XPENDING per entry, and the
// partition's own hashes written once per call), which a processor that is
// behind cannot spare.
//
// fresh says msgs are one XREADGROUP ">" read: a batch that is all of it
// can then be proved pending cheaply (scripts.SumBatch.Fresh).
func (w *partition) apply(finish context.Context, msgs []redis.XMessage, fresh bool) error {
	bounded := w.p.cfg.MaxCallKeys > 0 && len(msgs) <= w.p.cfg.BatchSize/8
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

// applyBatch counts one batch: each call acknowledges its entries and adds
// each only if it was still pending (see applyCall).
//
// An entry that does not decode as a point (written by something other
// than ingest-svc, or deleted from the stream while pending, which Redis
// returns without fields) can never be counted: it is logged and
// acknowledged on its own, without counting, so that it cannot wedge the
// partition by being redelivered for ever.
//
// With bounded, the batch's devices are dealt into calls of at most
// MaxCallKeys keys, all of a device's entries in the same call, so that
// each of its hashes is still written once per batch; such calls prove
// their entries pending one by one (applysums.lua, proof "each"). Without,
// the batch is one call, a run of consecutive entries (proof "run"), or,
// with fresh, a whole ">" read (proof "fresh", from XPENDING's summary).
func (w *partition) applyBatch(finish context.Context, msgs []redis.XMessage, bounded, fresh bool) error {
	defer prometheus.NewTimer(w.p.batchDuration).ObserveDuration()
	schema := w.p.schema
	var good []redis.XMessage
	var pts []point.Point
	var bad []string
	misplaced := 0
	for _, m := range msgs {
		pt, err := point.FromValues(m.Values)
		if err != nil {
			w.log.Warn("undecodable entry acknowledged without counting it", "id", m.ID, "err", err)
			bad = append(bad, m.ID)
			continue
		}
		if schema.PartitionOf(pt.DeviceID) != w.n {
			misplaced++
		}
		good = append(good, m)
		pts = append(pts, pt)
	}
	if misplaced > 0 {
		w.log.Warn("entries of devices that belong to another partition, counted in this one", "entries", misplaced)
	}
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
	order := make([]int, len(good)) // the entries, in the order they go into calls
	for i := range order {
		order[i] = i
	}
	if bounded {
		// Group by device (stable: a device's entries stay in id order),
		// devices in the order of their first entry.
		first := map[string]int{}
		for i, pt := range pts {
			if _, ok := first[pt.DeviceID]; !ok {
				first[pt.DeviceID] = i
			}
		}
		sort.SliceStable(order, func(a, b int) bool {
			return first[pts[order[a]].DeviceID] < first[pts[order[b]].DeviceID]
		})
	}
	var calls []*call
	cur := w.newCall()
	names := map[string]*deviceKeyNames{}
	for j, i := range order {
		pt := pts[i]
		newDevice := j == 0 || pts[order[j-1]].DeviceID != pt.DeviceID
		if bounded && newDevice && cur.sums.Len() > 0 &&
			cur.sums.Keys()+w.deviceKeys(names, cur.sums, pts, order[j:], nowMs) > w.p.cfg.MaxCallKeys {
			calls = append(calls, cur)
			cur = w.newCall()
		}
		// The partition total, the device, and its time buckets at every
		// resolution (those already expired left out). After deviceKeys,
		// which names the same keys through the same cache (keysOf reuses
		// a device's slice).
		dev, aggs := w.keysOf(names, pt, nowMs)
		if err := cur.sums.Add(good[i].ID, pt, dev, aggs); err != nil {
			return fmt.Errorf("partition %d: %w", w.n, err)
		}
		cur.msgs = append(cur.msgs, good[i])
		cur.pts = append(cur.pts, pt)
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

// deviceKeys returns how many keys the entries of the device at the head
// of rest (indexes into pts, grouped by device) would add to b, naming them
// through names as the main loop does.
func (w *partition) deviceKeys(names map[string]*deviceKeyNames, b *scripts.SumBatch, pts []point.Point, rest []int, nowMs int64) int {
	dev := pts[rest[0]].DeviceID
	seen := map[string]bool{}
	add := func(k string) {
		if k != "" && !seen[k] && !b.Has(k) {
			seen[k] = true
		}
	}
	for _, i := range rest {
		if pts[i].DeviceID != dev {
			break
		}
		devKey, aggs := w.keysOf(names, pts[i], nowMs)
		add(devKey)
		for _, k := range aggs {
			add(k.Key)
		}
	}
	return len(seen)
}

// call is the entries of one Lua call.
type call struct {
	sums *scripts.SumBatch
	msgs []redis.XMessage
	pts  []point.Point
}

func (w *partition) newCall() *call {
	return &call{sums: scripts.NewSumBatch(w.p.schema.Stream(w.n), w.p.schema.DeviceIndex(w.n), w.p.schema.Geo(w.n))}
}

// applyCall counts the entries of c with applysums.lua and, when some entry
// was no longer pending, entry by entry with apply.lua, which acknowledges
// each entry and adds it only if that acknowledgement took it off the
// pending list.
func (w *partition) applyCall(finish context.Context, c *call, nowMs int64) error {
	schema := w.p.schema
	good := c.msgs
	// The fast path: when every entry is still pending (the normal case),
	// applysums.lua acknowledges them all and adds the sums computed above.
	var applied int64
	var allPending bool
	// Prepare reads the device hashes first, so that the call writes each
	// with one HSET (scripts.SumBatch.Prepare); the script checks that
	// nothing wrote them in between.
	prepare := w.deltaCalls == 0
	if !prepare {
		w.deltaCalls--
	}
	err := w.retry(finish, "apply batch sums", func(ctx context.Context) error {
		if prepare {
			if err := c.sums.Prepare(ctx, w.p.client); err != nil {
				return err
			}
		}
		var err error
		applied, allPending, err = c.sums.Run(ctx, w.p.client, keys.Group, w.p.cfg.Consumer)
		return err
	})
	if err != nil {
		return err
	}
	w.p.calls.Add(1)
	if c.sums.Conflicts > 0 {
		w.p.conflicts.Add(int64(c.sums.Conflicts))
		if c.sums.Conflicts > 1 {
			w.deltaCalls = conflictBackoff
		}
	}
	if allPending {
		w.p.applied.Add(applied)
		w.log.Debug("applied batch", "entries", len(good), "applied", applied,
			"first", good[0].ID, "last", good[len(good)-1].ID)
		return nil
	}

	// Some entry was already counted (a redelivery, a claim racing a slow
	// consumer, a replay after a lost reply): count entry by entry, each
	// only if its own XACK takes it off the pending list.
	b := scripts.NewApplyBatch(schema.Stream(w.n), schema.DeviceIndex(w.n), schema.Geo(w.n))
	var aggs []scripts.AggKey
	for i, m := range good {
		aggs = w.p.wins.AggKeys(schema, w.n, c.pts[i], nowMs, aggs)
		if err := b.Add(m.ID, c.pts[i], schema.Device(w.n, c.pts[i].DeviceID), aggs); err != nil {
			return fmt.Errorf("partition %d: %w", w.n, err)
		}
	}
	var res scripts.ApplyResult
	failedInRedis := false
	err = w.retry(finish, "apply batch", func(ctx context.Context) error {
		var err error
		res, err = b.Run(ctx, w.p.client, keys.Group)
		var rerr redis.Error
		if errors.As(err, &rerr) && !notRun(err) {
			failedInRedis = true
		}
		return err
	})
	if err != nil {
		return err
	}
	if failedInRedis && res.Duplicates > 0 {
		// Redis does not roll back a script that fails part-way. apply.lua
		// checks ids and key types before its first XACK, so only an
		// overflowing HINCRBY (more than agg.MaxPointsPerKey points in one
		// hash) can fail after one; it would leave those entries
		// acknowledged but not counted, and the retry then sees them as
		// duplicates. Say so loudly.
		w.log.Error("an apply call failed inside Redis and a retry found entries already acknowledged: their points may be missing from the aggregates",
			"duplicates", res.Duplicates, "first", good[0].ID, "last", good[len(good)-1].ID)
	}
	w.p.applied.Add(res.Applied)
	w.p.duplicates.Add(res.Duplicates)
	w.log.Debug("applied batch entry by entry", "entries", len(good), "applied", res.Applied, "duplicates", res.Duplicates,
		"first", good[0].ID, "last", good[len(good)-1].ID)
	return nil
}

// retry runs op until it succeeds, backing off from retryMin doubling to
// retryMax between attempts.
//
// Retrying is safe because every operation retried here is idempotent per
// entry: apply.lua adds an entry only when its XACK returns 1, which happens
// once, so an attempt that did run in Redis but whose reply was lost (a
// timeout, a dropped connection) makes the next attempt count that entry as
// a duplicate, never twice; XACK alone is idempotent. (An attempt that fails
// inside the script after its first XACK is the exception; applyBatch logs
// it.)
//
// The bound: while the processor runs there is none. A Redis outage pauses
// the partition (logged at every attempt) instead of skipping entries, which
// would lose them from the counts. Once shutdown begins, attempts continue
// until finish ends, ShutdownGrace later; then retry gives up and returns
// the error. The batch's entries stay pending under this consumer's name
// and are counted by the next run (drainOwn) or by another processor
// (claim), so giving up loses nothing.
func (w *partition) retry(finish context.Context, what string, op func(context.Context) error) error {
	delay := retryMin
	for attempt := 1; ; attempt++ {
		err := op(finish)
		if err == nil {
			if attempt > 1 {
				w.log.Info(what+" succeeded after retries", "attempts", attempt)
			}
			return nil
		}
		if finish.Err() != nil {
			return fmt.Errorf("%s on %s: gave up after %d attempts at the end of the shutdown grace; the entries stay pending: %w",
				what, w.stream, attempt, err)
		}
		w.log.Warn(what+" failed, retrying", "attempt", attempt, "retry_in", delay, "err", err)
		sleep(finish, delay)
		delay = min(2*delay, retryMax)
	}
}

// sleep waits for d or until ctx is done; it reports whether ctx is still
// live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
