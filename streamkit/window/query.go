package window

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/geostream/geostream/streamkit/durfmt"
	"github.com/geostream/geostream/streamkit/point"
)

// DefaultMaxBuckets bounds the buckets one query may read (per partition),
// so that every answer costs a bounded number of Redis reads.
const DefaultMaxBuckets = 2000

// DefaultMaxSeries bounds the number of buckets of a series (interval).
const DefaultMaxSeries = 1440

// ErrBadQuery is what every error of ParseQuery and Plan is (errors.Is):
// the client's fault, a 400. Each is a *QueryError.
var ErrBadQuery = errors.New("bad query")

// QueryError is a query the service cannot answer, and why, in words for
// the client.
type QueryError struct {
	Msg string
}

func (e *QueryError) Error() string { return ErrBadQuery.Error() + ": " + e.Msg }

// Is makes every QueryError match ErrBadQuery.
func (e *QueryError) Is(target error) bool { return target == ErrBadQuery }

// Badf returns a *QueryError with the formatted message.
func Badf(format string, a ...any) error {
	return &QueryError{Msg: fmt.Sprintf(format, a...)}
}

// Query is a parsed /retrieve request.
type Query struct {
	// DeviceID restricts the answer to one device; empty means all.
	DeviceID string
	// Ranged is true when a time range was asked for (from/to or window);
	// otherwise the answer is all-time.
	Ranged bool
	// From and To bound the range [From, To) in Unix ms (event time).
	From, To int64
	// Interval is the series step in ms; 0 for no series.
	Interval int64
}

// queryParams are the parameters ParseQuery accepts.
var queryParams = map[string]bool{"device_id": true, "from": true, "to": true, "window": true, "interval": true}

// ParseQuery reads /retrieve's parameters: device_id; from and to (RFC 3339,
// event time; to defaults to the end of the current bucket); or window (a
// duration: the last window up to the end of the current bucket, e.g. 15m);
// and interval (a duration: one summary per interval). Ranges must fall on
// bucket boundaries of the finest resolution (of interval when given), so
// that the answer is exact.
func ParseQuery(v url.Values, now time.Time, set Set) (Query, error) {
	var q Query
	var unknown []string
	for k, vals := range v {
		if !queryParams[k] {
			unknown = append(unknown, k)
		} else if len(vals) > 1 {
			return q, Badf("parameter %s is given %d times", k, len(vals))
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return q, Badf("unknown parameter(s) %s; accepted: device_id, from, to, window, interval", strings.Join(unknown, ", "))
	}
	if id, ok := v["device_id"]; ok {
		if err := point.ValidDeviceID(id[0]); err != nil {
			return q, Badf("%v", err) // err names device_id
		}
		q.DeviceID = id[0]
	}
	unit := set.Finest().Size
	if s := v.Get("interval"); s != "" {
		d, err := parseDuration(s)
		if err != nil || d <= 0 {
			return q, Badf("interval %q: want a positive duration such as 1m, 1h or 1d", s)
		}
		if d%unit != 0 {
			return q, Badf("interval %s: must be a multiple of the finest resolution %s", s, set.Finest().Name)
		}
		q.Interval, unit = d.Milliseconds(), d
	}
	w, from, to := v.Get("window"), v.Get("from"), v.Get("to")
	if w != "" && (from != "" || to != "") {
		return q, Badf("give either window or from/to, not both")
	}
	if to != "" && from == "" {
		return q, Badf("to needs from")
	}
	um := unit.Milliseconds()
	end := floorMs(now.UnixMilli(), um) + um // end of the current bucket
	switch {
	case w != "":
		d, err := parseDuration(w)
		if err != nil || d <= 0 {
			return q, Badf("window %q: want a positive duration such as 15m, 24h or 7d", w)
		}
		if d%unit != 0 {
			return q, Badf("window %s: must be a multiple of %s", w, unit)
		}
		q.Ranged, q.From, q.To = true, end-d.Milliseconds(), end
	case from != "":
		f, err := parseTime("from", from)
		if err != nil {
			return q, err
		}
		t := end
		if to != "" {
			if t, err = parseTime("to", to); err != nil {
				return q, err
			}
		}
		if f >= t {
			return q, Badf("from must be before to")
		}
		if f%set.Finest().Size.Milliseconds() != 0 || t%set.Finest().Size.Milliseconds() != 0 {
			return q, Badf("from and to must fall on whole %s boundaries (the finest resolution kept), so that the answer is exact", set.Finest().Name)
		}
		if q.Interval > 0 && (t-f)%q.Interval != 0 {
			return q, Badf("the range from %s to %s is not a whole number of intervals", from, to)
		}
		q.Ranged, q.From, q.To = true, f, t
	case q.Interval > 0:
		return q, Badf("interval needs a range: give window or from/to")
	}
	if q.Interval > 0 && (q.To-q.From)/q.Interval > DefaultMaxSeries {
		return q, Badf("the series would have %d buckets, more than %d; use a longer interval or a shorter range",
			(q.To-q.From)/q.Interval, DefaultMaxSeries)
	}
	return q, nil
}

func parseTime(name, s string) (int64, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return 0, Badf("%s %q: want an RFC 3339 time such as 2025-01-23T12:00:00Z", name, s)
	}
	return t.UnixMilli(), nil
}

// floorMs rounds ms down to a multiple of unit (towards minus infinity).
func floorMs(ms, unit int64) int64 {
	r := ms % unit
	if r < 0 {
		r += unit
	}
	return ms - r
}

// Bucket is one bucket a query reads.
type Bucket struct {
	Res   Resolution
	Start int64 // Unix ms
}

// Cover cuts [from, to) into the fewest buckets that still exist at nowMs
// (coarsest first at each step); device selects per-device buckets. It fails
// with ErrBadQuery when some part of the range is not held at any retained
// resolution aligned to it: the range cannot be answered exactly.
func (s Set) Cover(from, to, nowMs int64, device bool, max int) ([]Bucket, error) {
	var out []Bucket
	for pos := from; pos < to; {
		found := false
		for i := len(s) - 1; i >= 0; i-- {
			r := s[i]
			size := r.Size.Milliseconds()
			if r.Start(pos) != pos || pos+size > to || !r.Retained(pos, nowMs, device) {
				continue
			}
			out = append(out, Bucket{Res: r, Start: pos})
			pos += size
			found = true
			break
		}
		if !found {
			f := s.Finest()
			if f.Start(pos) != pos {
				return nil, Badf("%s is not on a whole %s boundary", fmtMs(pos), f.Name)
			}
			return nil, Badf("buckets at %s that fit the range are no longer kept (retention per resolution: %s); %s",
				fmtMs(pos), s.retentionText(device), s.coarserHint(pos, nowMs, device))
		}
		if len(out) > max {
			return nil, Badf("the range needs more than %d bucket reads; use a coarser interval or a shorter range", max)
		}
	}
	return out, nil
}

// coarserHint says what to ask instead when pos is past the retention of the
// buckets that fit the range: the finest resolution still kept there.
func (s Set) coarserHint(pos, nowMs int64, device bool) string {
	for _, r := range s {
		if r.Retained(r.Start(pos), nowMs, device) {
			return fmt.Sprintf("that far back ask for whole %s buckets: add interval=%s (a window then starts on a whole %s), or give from and to on whole %s",
				r.Name, r.Name, r.Name, r.Name)
		}
	}
	return "nothing is kept for that time but the all-time summary (/retrieve without a range)"
}

func (s Set) retentionText(device bool) string {
	var parts []string
	for _, r := range s {
		ret := r.Retention
		if device {
			ret = r.DeviceRetention
		}
		parts = append(parts, r.Name+" "+durfmt.Human(ret))
	}
	return strings.Join(parts, ", ")
}

func fmtMs(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
