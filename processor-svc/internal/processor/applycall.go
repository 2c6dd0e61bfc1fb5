package processor

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/backoff"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/scripts"
)

// applyCall counts the entries of c with applysums.lua and, when some entry
// was no longer pending, entry by entry with apply.lua, which acknowledges
// each entry and adds it only if that acknowledgement took it off the
// pending list.
func (w *partition) applyCall(finish context.Context, c *call, nowMs int64) error {
	first, last := c.entries[0].id, c.entries[len(c.entries)-1].id
	// The fast path: when every entry is still pending (the normal case),
	// applysums.lua acknowledges them all and adds the sums computed above.
	var applied int64
	var allPending bool
	// Prepare reads the device hashes first (or takes what this partition
	// last wrote to them from w.written), so that the call writes each
	// with one HSET (scripts.SumBatch.Prepare, WriteCache); the script
	// checks that nothing wrote them in between.
	prepare := w.deltaCalls == 0
	if !prepare {
		w.deltaCalls--
	}
	err := w.retry(finish, "apply batch sums", func(ctx context.Context) error {
		if prepare {
			if err := c.sums.PrepareCached(ctx, w.p.client, w.written, nowMs); err != nil {
				return err
			}
		}
		var err error
		applied, allPending, err = c.sums.Run(ctx, w.p.client, keys.Group, w.p.cfg.Consumer)
		if err != nil || !allPending {
			c.sums.Forget(w.written) // written or not, or next by apply.lua
		}
		return err
	})
	if err != nil {
		return err
	}
	if allPending {
		c.sums.Remember(w.written)
	}
	w.p.calls.Add(1)
	if c.sums.Conflicts > 0 {
		w.p.conflicts.Add(int64(c.sums.Conflicts))
		if c.sums.Conflicts > 1 {
			w.deltaCalls = conflictBackoff
		}
	}
	if allPending {
		w.p.applied.Add(int64(c.sums.Points()))
		w.log.Debug("applied batch", "entries", applied, "points", c.sums.Points(), "first", first, "last", last)
		return nil
	}

	// Some entry was already counted (a redelivery, a claim racing a slow
	// consumer, a replay after a lost reply): count entry by entry, each
	// only if its own XACK takes it off the pending list.
	batches, err := w.applyBatches(c.entries, nowMs)
	if err != nil {
		return err
	}
	for _, b := range batches {
		if err := w.applyEach(finish, b); err != nil {
			return err
		}
	}
	return nil
}

// applyBatches lays out entries for apply.lua, in calls of at most
// scripts.MaxApplyPoints points (an entry is never split).
func (w *partition) applyBatches(entries []entry, nowMs int64) ([]*scripts.ApplyBatch, error) {
	schema := w.p.schema
	b := scripts.NewApplyBatch(schema, w.n)
	b.SetTracks(w.p.cfg.TrackRetention, nowMs)
	out := []*scripts.ApplyBatch{b}
	var aggs []scripts.AggKey
	for _, e := range entries {
		if b.Points() > 0 && b.Points()+e.n > scripts.MaxApplyPoints {
			b = scripts.NewApplyBatch(schema, w.n)
			b.SetTracks(w.p.cfg.TrackRetention, nowMs)
			out = append(out, b)
		}
		if err := b.AddEntry(e.id, e.packed); err != nil {
			return nil, fmt.Errorf("partition %d: %w", w.n, err)
		}
		pts, err := w.points(e)
		if err != nil {
			return nil, err
		}
		for _, pt := range pts {
			aggs = w.p.wins.AggKeys(schema, w.n, pt, nowMs, aggs)
			if err := b.AddPoint(pt, schema.Device(w.n, pt.DeviceID), aggs); err != nil {
				return nil, fmt.Errorf("partition %d: %w", w.n, err)
			}
		}
	}
	return out, nil
}

// applyEach runs one apply.lua call, which counts each entry only if its
// own XACK takes it off the pending list.
func (w *partition) applyEach(finish context.Context, b *scripts.ApplyBatch) error {
	var res scripts.ApplyResult
	failedInRedis := false
	err := w.retry(finish, "apply batch", func(ctx context.Context) error {
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
			"duplicate_points", res.Duplicates, "entries", b.Len())
	}
	w.p.applied.Add(res.Applied)
	w.p.duplicates.Add(res.Duplicates)
	w.log.Debug("applied batch entry by entry", "entries", b.Len(), "applied", res.Applied, "duplicates", res.Duplicates)
	return nil
}

// retry runs op until it succeeds, backing off per retryPolicy between
// attempts.
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
	bo := backoff.Retry{Policy: retryPolicy}
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
		d := bo.Next()
		w.log.Warn(what+" failed, retrying", "attempt", attempt, "retry_in", d, "err", err)
		_ = backoff.Sleep(finish, d) // a done finish ends the loop above
	}
}
