package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/scripts"
)

// errKeyReused means an Idempotency-Key was first used for other content.
var errKeyReused = errors.New("idempotency key reused for other content")

// storeResult is what storing one request's points did.
type storeResult struct {
	// Accepted is the number of points of the request in the streams, stored
	// now or by an earlier attempt with the same idempotency key.
	Accepted int64
	// Replayed is true when every partition had been stored by an earlier
	// attempt with the same key, so that this one stored nothing.
	Replayed bool
	// Stored is the number of points stored by partitions that succeeded,
	// even when another failed; it tells a client what a retry repeats.
	Stored int64
}

// idempotency is the Idempotency-Key of a request and its fingerprint.
type idempotency struct {
	Key         string
	Fingerprint string
}

// store appends pts to their partitions' streams: one append.lua call per
// partition, all in one pipeline. Each call is all or nothing for its
// partition (append.lua, invariant 1); the request succeeds only when every
// call did. With an idempotency key each call also writes its partition's
// marker, so a retry of a request that failed half-way stores only the
// partitions that failed (append.lua, invariant 2).
func (h *handlers) store(ctx context.Context, pts []point.Point, idem *idempotency) (storeResult, error) {
	batches := make([]*scripts.AppendBatch, h.schema.Partitions())
	var order []int // partitions touched, in first-seen order
	for i := range pts {
		p := h.schema.PartitionOf(pts[i].DeviceID)
		b := batches[p]
		if b == nil {
			b = &scripts.AppendBatch{Stream: h.schema.Stream(p), BacklogLimit: h.cfg.BacklogLimit}
			if idem != nil {
				b.Marker = h.schema.Idempotency(p, idem.Key)
				b.MarkerTTLMs = h.cfg.IdempotencyTTL.Milliseconds()
				b.Fingerprint = idem.Fingerprint
			}
			batches[p] = b
			order = append(order, p)
		}
		b.Add(&pts[i])
	}
	if idem != nil {
		if err := h.checkKey(ctx, idem); err != nil {
			return storeResult{}, err
		}
	}

	cmds := h.runAppends(ctx, batches, order)
	res := storeResult{Replayed: idem != nil}
	var errs []error
	for i, p := range order {
		r, err := scripts.ParseAppend(cmds[i], batches[p].Stream)
		switch {
		case err != nil:
			errs = append(errs, err)
			res.Replayed = false
			continue
		case r.Replayed && idem != nil && r.Fingerprint != idem.Fingerprint:
			// Another request with this key got here between checkKey and
			// the append.
			errs = append(errs, fmt.Errorf("partition %d: %w", p, errKeyReused))
		}
		res.Accepted += r.Stored
		res.Stored += r.Stored
		res.Replayed = res.Replayed && r.Replayed
	}
	if len(errs) > 0 {
		return res, errors.Join(errs...)
	}
	return res, nil
}

// checkKey fails with errKeyReused when any partition holds a marker of
// idem's key with another fingerprint. Checking every partition before
// writing anything keeps a reused key from storing the partitions that
// the first request did not touch.
func (h *handlers) checkKey(ctx context.Context, idem *idempotency) error {
	pipe := h.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, h.schema.Partitions())
	for p := range cmds {
		cmds[p] = pipe.HGet(ctx, h.schema.Idempotency(p, idem.Key), "fp")
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("check idempotency key: %w", err)
	}
	for p, c := range cmds {
		if fp, err := c.Result(); err == nil && fp != idem.Fingerprint {
			return fmt.Errorf("partition %d: %w", p, errKeyReused)
		}
	}
	return nil
}

// runAppends sends the append calls of the partitions in order as EVALSHA in
// one pipeline. Calls answered NOSCRIPT (Redis restarted or its script cache
// was flushed since start-up) did not run, so they are sent again as EVAL,
// which loads the script. Nothing else is retried: a call that may have run
// must not run twice.
func (h *handlers) runAppends(ctx context.Context, batches []*scripts.AppendBatch, order []int) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(order))
	pipe := h.rdb.Pipeline()
	for i, p := range order {
		keys, args := batches[p].Args()
		cmds[i] = scripts.Append.EvalSha(ctx, pipe, keys, args...)
	}
	// Exec's error is the first failed command's: each command carries its
	// own, read by the caller.
	_, _ = pipe.Exec(ctx)
	var retry []int
	for i, c := range cmds {
		if redis.HasErrorPrefix(c.Err(), "NOSCRIPT") {
			retry = append(retry, i)
		}
	}
	if len(retry) == 0 {
		return cmds
	}
	pipe = h.rdb.Pipeline()
	for _, i := range retry {
		keys, args := batches[order[i]].Args()
		cmds[i] = scripts.Append.Eval(ctx, pipe, keys, args...)
	}
	_, _ = pipe.Exec(ctx)
	return cmds
}
