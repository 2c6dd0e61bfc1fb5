package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/window"
)

// errCorrupt means an aggregate hash holds something apply.lua never writes.
var errCorrupt = errors.New("aggregate hash is corrupt")

// retrieve handles GET /retrieve: the summary of every point counted so far,
// of one device's with device_id, and of a time range with from/to or
// window (plus a series with interval; see ranged.go). It reads aggregate
// hashes only, so its cost does not depend on how many points are stored.
func (h *handlers) retrieve(c *gin.Context) {
	v, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		abortError(c, http.StatusBadRequest, "the query string does not parse", errorDetail{Message: err.Error()})
		return
	}
	q, err := window.ParseQuery(v, h.now(), h.wins)
	if err != nil {
		abortError(c, http.StatusBadRequest, badQueryMessage(err))
		return
	}
	if q.DeviceID != "" && !h.allowDevice(c, q.DeviceID, "read") || q.DeviceID == "" && !h.allowAllDevices(c) {
		return
	}
	if q.Ranged {
		h.retrieveRange(c, q)
		return
	}

	// All time: the seed-compatible answer, one hash of the device or the
	// partitions' totals.
	sums, err := within(c.Request.Context(), h.cfg.RedisTimeout, func(ctx context.Context) (agg.Sums, error) {
		if q.DeviceID != "" {
			return h.readHash(ctx, h.schema.Device(h.schema.PartitionOf(q.DeviceID), q.DeviceID))
		}
		return h.readTotals(ctx)
	})
	if err != nil {
		h.abortRead(c, "retrieve", err)
		return
	}
	summary, ok := sums.Summary()
	if !ok {
		abortError(c, http.StatusBadRequest, msgNoData) // the seed's answer
		return
	}
	c.JSON(http.StatusOK, summary)
}

// badQueryMessage is the client-facing text of a window.QueryError, without
// the sentinel's own prefix.
func badQueryMessage(err error) string {
	if qe, ok := errors.AsType[*window.QueryError](err); ok {
		return qe.Msg
	}
	return err.Error()
}

// abortRead answers a failed read of the aggregates: 500 for a corrupt
// hash (logged as an error), 503 with Retry-After for Redis trouble.
func (h *handlers) abortRead(c *gin.Context, op string, err error) {
	if errors.Is(err, errCorrupt) {
		h.log.Error(op, "err", err)
		abortError(c, http.StatusInternalServerError, "stored aggregates are corrupt; it has been logged")
		return
	}
	h.log.Warn(op, "err", err)
	abortUnavailable(c, msgStorageUnavailable)
}

func (h *handlers) readHash(ctx context.Context, key string) (agg.Sums, error) {
	m, err := h.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return agg.Sums{}, fmt.Errorf("hgetall %s: %w", key, err)
	}
	s, err := agg.FromHash(m)
	if err != nil {
		return agg.Sums{}, fmt.Errorf("%w: %s: %w", errCorrupt, key, err)
	}
	return s, nil
}

// readTotals sums the total hashes of every partition, read in one pipeline.
func (h *handlers) readTotals(ctx context.Context) (agg.Sums, error) {
	keys := make([]string, h.schema.Partitions())
	for p := range keys {
		keys[p] = h.schema.Total(p)
	}
	sums, err := h.readHashes(ctx, keys)
	if err != nil {
		return agg.Sums{}, err
	}
	var total agg.Sums
	for _, s := range sums {
		total.Merge(s)
	}
	return total, nil
}

// readHashes reads aggregate hashes with HGETALL in one pipeline; a
// missing hash is the empty aggregate.
func (h *handlers) readHashes(ctx context.Context, keys []string) ([]agg.Sums, error) {
	pipe := h.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("hgetall %d aggregates: %w", len(keys), err)
	}
	out := make([]agg.Sums, len(keys))
	for i, c := range cmds {
		s, err := agg.FromHash(c.Val())
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", errCorrupt, keys[i], err)
		}
		out[i] = s
	}
	return out, nil
}
