package ingest

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/window"
)

// ExpiryMargin is how close to its expiry a time bucket may be and still
// be used. Redis expires a bucket by its own clock; a bucket this service
// believes retained could vanish between the check and the read (or be
// gone already when the clocks differ), and the answer would silently
// miss its points. Treating buckets within the margin as gone turns that
// into a 400 that names the retention.
const ExpiryMargin = time.Minute

// rangeAnswer is the body of a /retrieve with a time range: the summary
// of the range (the same fields as the all-time answer), the exact range
// answered, and with interval one entry per interval.
type rangeAnswer struct {
	agg.Summary
	From   string       `json:"from"`
	To     string       `json:"to"`
	Series []slotAnswer `json:"series,omitempty"`
}

// slotAnswer is one interval of a series: its bounds, then the summary
// fields, or only "data_count": 0 when no point falls in it.
type slotAnswer struct {
	From, To string
	Summary  *agg.Summary // nil when empty
}

// MarshalJSON writes {"from", "to", <summary fields>} or, for an empty
// slot, {"from", "to", "data_count": 0}: there are no averages of nothing.
func (s slotAnswer) MarshalJSON() ([]byte, error) {
	if s.Summary == nil {
		return json.Marshal(struct {
			From      string `json:"from"`
			To        string `json:"to"`
			DataCount int64  `json:"data_count"`
		}{s.From, s.To, 0})
	}
	return json.Marshal(struct {
		From string `json:"from"`
		To   string `json:"to"`
		agg.Summary
	}{s.From, s.To, *s.Summary})
}

// slot is one interval of a ranged query (the whole range without
// interval) and the keys it reads: keys[lo:hi] of its plan.
type slot struct {
	from, to int64
	lo, hi   int
}

// planRange cuts the query's range into slots and each slot into the
// fewest retained buckets (window.Set.Cover), and lists the hashes to
// read: a device's buckets in its partition, or every partition's bucket
// for all devices. It fails with window.ErrBadQuery when the range cannot
// be answered exactly or needs more than MaxRangeBuckets buckets.
func (h *handlers) planRange(q window.Query, now time.Time) ([]slot, []string, error) {
	step := q.To - q.From
	if q.Interval > 0 {
		step = q.Interval
	}
	device := q.DeviceID != ""
	parts := []int{}
	if device {
		parts = append(parts, h.schema.PartitionOf(q.DeviceID))
	} else {
		for p := range h.schema.Partitions() {
			parts = append(parts, p)
		}
	}
	checkAt := now.Add(ExpiryMargin).UnixMilli()
	var slots []slot
	var keys []string
	buckets := 0
	for from := q.From; from < q.To; from += step {
		bs, err := h.wins.Cover(from, from+step, checkAt, device, h.cfg.MaxRangeBuckets)
		if err != nil {
			return nil, nil, err
		}
		if buckets += len(bs); buckets > h.cfg.MaxRangeBuckets {
			return nil, nil, window.Badf("the range needs more than %d bucket reads; put from, to and the interval on whole hours or days, or ask for a shorter range",
				h.cfg.MaxRangeBuckets)
		}
		s := slot{from: from, to: from + step, lo: len(keys)}
		for _, b := range bs {
			for _, p := range parts {
				if device {
					keys = append(keys, h.schema.DeviceBucket(p, q.DeviceID, b.Res.Name, b.Start))
				} else {
					keys = append(keys, h.schema.Bucket(p, b.Res.Name, b.Start))
				}
			}
		}
		s.hi = len(keys)
		slots = append(slots, s)
	}
	return slots, keys, nil
}

// retrieveRange answers a /retrieve with from/to or window: it reads every
// bucket hash the range needs in one pipeline (buckets × partitions reads,
// however many points they hold) and merges them.
func (h *handlers) retrieveRange(c *gin.Context, q window.Query) {
	slots, keys, err := h.planRange(q, h.now())
	if err != nil {
		abortError(c, http.StatusBadRequest, badQueryMessage(err))
		return
	}
	sums, err := within(c.Request.Context(), h.cfg.RedisTimeout, func(ctx context.Context) ([]agg.Sums, error) {
		return h.readHashes(ctx, keys)
	})
	if err != nil {
		h.abortRead(c, "retrieve range", err)
		return
	}
	var total agg.Sums
	series := make([]slotAnswer, len(slots))
	for i, s := range slots {
		var slotSums agg.Sums
		for _, b := range sums[s.lo:s.hi] {
			slotSums.Merge(b)
		}
		total.Merge(slotSums)
		series[i] = slotAnswer{From: agg.FormatTime(s.from), To: agg.FormatTime(s.to)}
		if sum, ok := slotSums.Summary(); ok {
			series[i].Summary = &sum
		}
	}
	summary, ok := total.Summary()
	if !ok {
		abortError(c, http.StatusBadRequest, msgNoData) // the seed's answer, for a range too
		return
	}
	ans := rangeAnswer{Summary: summary, From: agg.FormatTime(q.From), To: agg.FormatTime(q.To)}
	if q.Interval > 0 {
		ans.Series = series
	}
	c.JSON(http.StatusOK, ans)
}
