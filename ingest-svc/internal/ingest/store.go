package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// store appends pts to their partitions' streams: one batch per
// partition, each sent through the partition's committer (group commit,
// commit.go), which puts it in an append.lua call, possibly with other
// requests' batches. Each batch is all or nothing for its partition
// (append.lua, invariant 1); the request succeeds only when every batch
// did. With an idempotency key each batch also writes its partition's
// marker, so a retry of a request that failed half-way stores only the
// partitions that failed (append.lua, invariant 2).
//
// store waits at most RedisTimeout: a batch still queued then is never sent
// (committer, invariant 3), one already sent may have been stored, which the
// 503 of a timed-out upload says.
func (h *handlers) store(ctx context.Context, pts []point.Point, idem *idempotency) (storeResult, error) {
	batches := make([]*scripts.AppendBatch, h.schema.Partitions())
	var order []int // partitions touched, in first-seen order
	for i := range pts {
		p := h.schema.PartitionOf(pts[i].DeviceID)
		b := batches[p]
		if b == nil {
			b = &scripts.AppendBatch{Stream: h.schema.Stream(p), Backlog: h.schema.Backlog(p), BacklogLimit: h.cfg.BacklogLimit}
			if idem != nil {
				b.Key = h.markers[p].Key(idem.Key)
				b.Fingerprint = idem.Fingerprint
			}
			batches[p] = b
			order = append(order, p)
		}
		b.Add(&pts[i])
	}
	for _, p := range order {
		batches[p].Seal()
	}
	// One timer bounds the whole wait (a context.WithTimeout per request
	// cost 5 % of ingest's CPU at 25k single-point uploads/s).
	deadline := time.Now().Add(h.cfg.RedisTimeout)
	timer := time.NewTimer(h.cfg.RedisTimeout)
	defer timer.Stop()
	if idem != nil {
		reused, err := within(ctx, h.cfg.RedisTimeout, func(ctx context.Context) (p int, err error) {
			err = retryRead(ctx, func(ctx context.Context) error {
				p, err = h.checkKey(ctx, idem)
				return err
			})
			return p, err
		})
		if err != nil {
			return storeResult{}, err
		}
		if reused >= 0 {
			return storeResult{}, fmt.Errorf("partition %d: %w", reused, errKeyReused)
		}
	}

	pending := make([]*pendingAppend, len(order))
	for i, p := range order {
		pending[i] = h.commit.submit(ctx, deadline, p, batches[p])
	}
	res := storeResult{Replayed: idem != nil}
	var errs []error
	for i, p := range order {
		pa := pending[i]
		select {
		case <-pa.done:
		case <-timer.C:
			return storeResult{}, context.DeadlineExceeded
		case <-ctx.Done():
			return storeResult{}, ctx.Err()
		}
		r, err := pa.res, pa.err
		switch {
		case err != nil:
			errs = append(errs, err)
			res.Replayed = false
			continue
		case r.OtherContent:
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

// checkKey returns the first partition that holds a marker of idem's key
// with another fingerprint, -1 when none does. Checking every partition
// before writing anything keeps a reused key from storing the partitions
// that the first request did not touch.
func (h *handlers) checkKey(ctx context.Context, idem *idempotency) (int, error) {
	ks := make([]*scripts.MarkerKey, len(h.markers))
	for p, m := range h.markers {
		ks[p] = m.Key(idem.Key)
	}
	return scripts.CheckKeys(ctx, h.rdb, ks, idem.Fingerprint)
}
