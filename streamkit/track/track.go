// Package track reads a device's track: its points kept by event time in
// one Redis list per device-hour (docs/architecture.md, "Tracks"), written
// by the apply scripts in the call that counts them.
package track

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

// HoursPerRead is how many hour lists one pipelined read fetches: a page
// holds at most its limit plus that many hours of points.
const HoursPerRead = 6

// Cursor is where a page starts: the points at time T after the first
// Skip of them, then the later ones.
type Cursor struct {
	T    int64
	Skip int
}

// String encodes c for a URL ("T.Skip").
func (c Cursor) String() string {
	return strconv.FormatInt(c.T, 10) + "." + strconv.Itoa(c.Skip)
}

// ErrBadCursor is returned by ParseCursor.
var ErrBadCursor = errors.New("cursor must be as a previous page's next link gave it")

// ParseCursor decodes Cursor.String.
func ParseCursor(s string) (Cursor, error) {
	a, b, ok := strings.Cut(s, ".")
	t, err1 := strconv.ParseInt(a, 10, 64)
	k, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || k < 0 {
		return Cursor{}, ErrBadCursor
	}
	return Cursor{T: t, Skip: k}, nil
}

// Page is one page of a track.
type Page struct {
	Points []point.Point
	// Next is where the next page starts; nil when the range is done.
	Next *Cursor
}

// Read returns up to limit points of device id with from <= time < to,
// starting at start (Cursor{T: from} for the first page), in time order;
// points with the same time keep the order they were stored in.
func Read(ctx context.Context, c redis.Cmdable, s *keys.Schema, id string, from, to int64, start Cursor, limit int) (Page, error) {
	if limit < 1 {
		return Page{}, fmt.Errorf("track: limit %d", limit)
	}
	p := s.PartitionOf(id)
	from = max(from, start.T)
	var out []point.Point
	skip := 0 // points at start.T passed over so far
	for h := point.HourStart(from); h < to; h += HoursPerRead * point.HourMs {
		pipe := c.Pipeline()
		var cmds []*redis.StringSliceCmd
		var hours []int64
		for k := int64(0); k < HoursPerRead && h+k*point.HourMs < to; k++ {
			hours = append(hours, h+k*point.HourMs)
			cmds = append(cmds, pipe.LRange(ctx, s.Track(p, h+k*point.HourMs, id), 0, -1))
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return Page{}, fmt.Errorf("read track of %s: %w", id, err)
		}
		for i, cmd := range cmds {
			hour, elems := hours[i], cmd.Val()
			var all, pts []point.Point
			for _, el := range elems {
				var err error
				if all, err = point.DecodeTrackRecords([]byte(el), hour, id, all[:0]); err != nil {
					return Page{}, fmt.Errorf("track of %s, hour %d: %w", id, hour, err)
				}
				pts = slices.Grow(pts, len(all))
				for _, q := range all {
					if q.TimeMs < from || q.TimeMs >= to {
						continue
					}
					if q.TimeMs == start.T && skip < start.Skip {
						skip++
						continue
					}
					pts = append(pts, q)
				}
			}
			// Late points sit at the tail of their hour's list: sort, stably.
			slices.SortStableFunc(pts, func(a, b point.Point) int { return cmpInt(a.TimeMs, b.TimeMs) })
			out = append(out, pts...)
			if len(out) > limit {
				return Page{Points: out[:limit], Next: next(out[:limit], start)}, nil
			}
		}
	}
	return Page{Points: out}, nil
}

// next is the cursor after page, which started at start.
func next(page []point.Point, start Cursor) *Cursor {
	t := page[len(page)-1].TimeMs
	n := 0
	for i := len(page) - 1; i >= 0 && page[i].TimeMs == t; i-- {
		n++
	}
	if t == start.T {
		n += start.Skip
	}
	return &Cursor{T: t, Skip: n}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
