package verify

import (
	"math"
	"net/url"
	"time"

	"github.com/geostream/geostream/streamkit/point"
)

// DefaultWindowStep is the bucket size the windowed checks align to: the
// finest resolution the processors keep by default (window.DefaultSpec).
// The API answers a range only on whole buckets of it.
const DefaultWindowStep = time.Minute

// Window returns the range [from, to) the windowed checks ask for, for a
// data set whose event times start at start and span about span: whole
// steps (aligned to the Unix epoch, as the API's buckets are) cutting off
// the first and the last step of the data when it covers three or more,
// its last step when it covers two, and all of it when it fits in one.
// So the answer must leave out points on both sides when it can, and a
// point on the boundary belongs to the step it starts.
func Window(start time.Time, span, step time.Duration) (from, to time.Time) {
	s := step.Milliseconds()
	lo := floorMs(start.UnixMilli(), s)
	hi := floorMs(start.Add(span).UnixMilli(), s) + s
	switch n := (hi - lo) / s; {
	case n >= 3:
		lo, hi = lo+s, hi-s
	case n == 2:
		hi = lo + s
	}
	return time.UnixMilli(lo).UTC(), time.UnixMilli(hi).UTC()
}

func floorMs(ms, unit int64) int64 {
	r := ms % unit
	if r < 0 {
		r += unit
	}
	return ms - r
}

// dataSpan estimates the event time a data set covers: the nominal fixes
// per device times the interval (gen adds ±10% jitter and silences, so the
// data may run a little longer, which Window does not depend on).
func dataSpan(count int64, devices int, interval time.Duration) time.Duration {
	perDevice := math.Ceil(float64(count) / float64(max(1, devices)))
	return time.Duration(perDevice * float64(interval))
}

// WindowScopes returns the scopes of the points with event time in
// [from, to): when global is true first all devices', then one per device
// id. Their queries carry from and to, so the API answers them from its
// time buckets.
func WindowScopes(ids []string, global bool, from, to time.Time) ScopeSet {
	span := from.Format(time.RFC3339Nano) + "/" + to.Format(time.RFC3339Nano)
	q := func(kv ...string) url.Values {
		v := url.Values{"from": {from.Format(time.RFC3339Nano)}, "to": {to.Format(time.RFC3339Nano)}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	s := &windowScopes{from: from.UnixMilli(), to: to.UnixMilli(), index: make(map[string]int, len(ids))}
	if global {
		s.scopes = append(s.scopes, Scope{Name: "global " + span, Query: q()})
		s.global = true
	}
	for _, id := range ids {
		s.index[id] = len(s.scopes)
		s.scopes = append(s.scopes, Scope{Name: "device " + id + " " + span, Query: q("device_id", id)})
	}
	return s
}

type windowScopes struct {
	from, to int64 // Unix ms, [from, to)
	scopes   []Scope
	index    map[string]int
	global   bool
}

func (s *windowScopes) Scopes() []Scope { return s.scopes }

func (s *windowScopes) Of(dst []int, p *point.Point) []int {
	if p.TimeMs < s.from || p.TimeMs >= s.to {
		return dst
	}
	if s.global {
		dst = append(dst, 0)
	}
	if i, ok := s.index[p.DeviceID]; ok {
		dst = append(dst, i)
	}
	return dst
}

// JoinScopes returns the scopes of every set, in order, as one set.
func JoinScopes(sets ...ScopeSet) ScopeSet {
	j := &joined{sets: sets}
	for _, s := range sets {
		j.offsets = append(j.offsets, len(j.scopes))
		j.scopes = append(j.scopes, s.Scopes()...)
	}
	return j
}

type joined struct {
	sets    []ScopeSet
	offsets []int
	scopes  []Scope
}

func (j *joined) Scopes() []Scope { return j.scopes }

func (j *joined) Of(dst []int, p *point.Point) []int {
	for k, s := range j.sets {
		n := len(dst)
		dst = s.Of(dst, p)
		for i := n; i < len(dst); i++ {
			dst[i] += j.offsets[k]
		}
	}
	return dst
}
