package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/point"
)

// Query parameters of GET /retrieve.
const paramDevice = "device_id"

// laterParams are the design's time-window parameters, not implemented yet:
// they are refused by name rather than ignored, so that a client relying on
// them does not get an all-time answer it takes for a window.
var laterParams = []string{"from", "to", "window", "interval"}

// errCorrupt means an aggregate hash holds something apply.lua never writes.
var errCorrupt = errors.New("aggregate hash is corrupt")

// retrieve handles GET /retrieve: the summary of every point counted so far,
// or of one device's with device_id. It reads the aggregate hashes only, so
// its cost does not depend on how many points are stored.
func (h *handlers) retrieve(c *gin.Context) {
	q, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		abortError(c, http.StatusBadRequest, "the query string does not parse", errorDetail{Message: err.Error()})
		return
	}
	if msg := checkRetrieveParams(q); msg != "" {
		abortError(c, http.StatusBadRequest, msg)
		return
	}
	device, filtered := "", q.Has(paramDevice)
	if filtered {
		device = q.Get(paramDevice)
		if point.ValidDeviceID(device) != nil {
			abortError(c, http.StatusBadRequest, fmt.Sprintf("%s must be 1-%d characters of A-Z a-z 0-9 . _ : -",
				paramDevice, point.MaxDeviceIDLen))
			return
		}
	}

	sums, err := within(c.Request.Context(), h.cfg.RedisTimeout, func(ctx context.Context) (agg.Sums, error) {
		return h.sums(ctx, device, filtered)
	})
	switch {
	case errors.Is(err, errCorrupt):
		h.log.Error("retrieve", "err", err)
		abortError(c, http.StatusInternalServerError, "stored aggregates are corrupt; it has been logged")
		return
	case err != nil:
		h.log.Warn("retrieve", "err", err)
		abortUnavailable(c, msgStorageUnavailable)
		return
	}
	summary, ok := sums.Summary()
	if !ok {
		abortError(c, http.StatusBadRequest, msgNoData) // the seed's answer
		return
	}
	c.JSON(http.StatusOK, summary)
}

// checkRetrieveParams returns what is wrong with the query parameters, ""
// when nothing.
func checkRetrieveParams(q url.Values) string {
	var unknown, later []string
	for name := range q {
		switch {
		case name == paramDevice:
		case slices.Contains(laterParams, name):
			later = append(later, name)
		default:
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	slices.Sort(later)
	switch {
	case len(unknown) > 0:
		return fmt.Sprintf("unknown query parameter %s; /retrieve accepts %s", quoteList(unknown), paramDevice)
	case len(later) > 0:
		return fmt.Sprintf("query parameter %s is not supported yet; /retrieve summarises all points counted so far (optionally of one %s)",
			quoteList(later), paramDevice)
	case len(q[paramDevice]) > 1:
		return paramDevice + " must be given once"
	}
	return ""
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// sums reads the aggregate of one device, or else the sum of every
// partition's total.
func (h *handlers) sums(ctx context.Context, device string, filtered bool) (agg.Sums, error) {
	if filtered {
		return h.readHash(ctx, h.schema.Device(h.schema.PartitionOf(device), device))
	}
	return h.readTotals(ctx)
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
	pipe := h.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, h.schema.Partitions())
	for p := range cmds {
		cmds[p] = pipe.HGetAll(ctx, h.schema.Total(p))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return agg.Sums{}, fmt.Errorf("hgetall totals: %w", err)
	}
	var total agg.Sums
	for p, c := range cmds {
		s, err := agg.FromHash(c.Val())
		if err != nil {
			return agg.Sums{}, fmt.Errorf("%w: %s: %w", errCorrupt, h.schema.Total(p), err)
		}
		total.Merge(s)
	}
	return total, nil
}
