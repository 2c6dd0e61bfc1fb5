package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/track"
)

// Limits of GET /devices/{id}/track.
const (
	// DefaultTrackLimit is the page size without limit.
	DefaultTrackLimit = 10_000
	// MaxTrackLimit bounds a page, and so the memory of one answer.
	MaxTrackLimit = 100_000
	// DefaultTrackSpan is the range without from: the day before to.
	DefaultTrackSpan = 24 * time.Hour
	// MaxTrackSpan bounds to - from: a page may read every hour list of it.
	MaxTrackSpan = 31 * 24 * time.Hour
)

// trackFormats are the values of format=; the first is the default.
var trackFormats = []string{"geojson", "linestring", "gpx", "ndjson"}

// trackQuery is a parsed track request.
type trackQuery struct {
	from, to int64 // Unix ms, to exclusive
	format   string
	limit    int
	cursor   track.Cursor
}

// getTrack handles GET /devices/{id}/track?from&to&format&limit&cursor: the
// device's stored points with from <= time < to in event-time order, at
// most limit, with a Link rel="next" header when more follow
// (docs/architecture.md, "Tracks").
func (h *handlers) getTrack(c *gin.Context) {
	id, v, ok := h.deviceRequest(c)
	if !ok {
		return
	}
	q, msg := h.parseTrackQuery(v)
	if msg != "" {
		abortError(c, http.StatusBadRequest, msg)
		return
	}
	page, err := within(c.Request.Context(), h.cfg.RedisTimeout, func(ctx context.Context) (track.Page, error) {
		pg, err := track.Read(ctx, h.rdb, h.schema, id, q.from, q.to, q.cursor, q.limit)
		if errors.Is(err, point.ErrBadTrackRecord) {
			err = fmt.Errorf("%w: %w", errCorrupt, err)
		}
		return pg, err
	})
	if err != nil {
		h.abortRead(c, "read track", err)
		return
	}
	if page.Next != nil {
		next := url.Values{}
		for k, vals := range v {
			next[k] = vals
		}
		next.Set("cursor", page.Next.String())
		c.Header("Link", "<"+c.Request.URL.Path+"?"+next.Encode()+`>; rel="next"`)
	}
	writeTrack(c, id, q.format, page.Points)
}

// parseTrackQuery reads the parameters of a track request; it returns the
// message of a 400 when one is wrong.
func (h *handlers) parseTrackQuery(v url.Values) (trackQuery, string) {
	if msg := checkParams(v, "from", "to", "format", "limit", "cursor"); msg != "" {
		return trackQuery{}, msg
	}
	now := h.now()
	to := now.Add(h.cfg.MaxClockSkew + time.Millisecond) // every stored point
	if s := v.Get("to"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return trackQuery{}, fmt.Sprintf("to must be an RFC 3339 time such as 2025-01-23T12:00:00Z, got %q", s)
		}
		to = t
	}
	from := to.Add(-DefaultTrackSpan)
	if s := v.Get("from"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return trackQuery{}, fmt.Sprintf("from must be an RFC 3339 time such as 2025-01-23T12:00:00Z, got %q", s)
		}
		from = t
	}
	if !from.Before(to) {
		return trackQuery{}, "from must be before to"
	}
	if to.Sub(from) > MaxTrackSpan {
		return trackQuery{}, fmt.Sprintf("to - from must be at most %v (31 days); page through longer ranges", MaxTrackSpan)
	}
	q := trackQuery{from: from.UnixMilli(), to: to.UnixMilli(), format: trackFormats[0]}
	q.cursor = track.Cursor{T: q.from}
	if s := v.Get("format"); s != "" {
		q.format = ""
		for _, f := range trackFormats {
			if s == f {
				q.format = f
			}
		}
		if q.format == "" {
			return trackQuery{}, fmt.Sprintf("format must be one of geojson, linestring, gpx, ndjson; got %q", s)
		}
	}
	limit, msg := parseLimit(v, DefaultTrackLimit, MaxTrackLimit)
	if msg != "" {
		return trackQuery{}, msg
	}
	q.limit = limit
	if s := v.Get("cursor"); s != "" {
		cur, err := track.ParseCursor(s)
		if err != nil || cur.T < q.from || cur.T >= q.to {
			return trackQuery{}, "cursor must be as the Link rel=\"next\" header of a previous page gave it, with the same from and to"
		}
		q.cursor = cur
	}
	return q, ""
}
