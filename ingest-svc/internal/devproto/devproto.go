// Package devproto turns the requests of phone and tracker apps (OwnTracks,
// the OsmAnd protocol, Traccar Client, Overland) into geostream points. Each
// parser is pure: the wire format in, validated []point.Point or an *Error
// naming the field out, with every value converted to geostream's units
// (docs/devices.md). ingest's handlers store the points the way /upload
// does.
package devproto

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/geostream/geostream/streamkit/point"
)

// Protocol names, as the metrics' protocol label.
const (
	OwnTracks = "owntracks"
	OsmAnd    = "osmand"
	Traccar   = "traccar"
	Overland  = "overland"
)

// Unit conversions to metres per second.
const (
	knot = 1852.0 / 3600.0 // m/s per knot
	kmh  = 1 / 3.6         // m/s per km/h
)

// NoIndex is the Problem.Index of a request that holds one point, or of a
// problem with the request as a whole.
const NoIndex = -1

// Problem is one thing wrong with a request.
type Problem struct {
	// Index is the position of the point among the request's points
	// (Overland's locations, a Traccar batch), NoIndex otherwise.
	Index int
	// Field is the parameter or JSON path at fault, as the app names it.
	Field string
	// Message says what is wrong.
	Message string
}

// String formats the problem as "locations[3]: properties.speed: ...".
func (p Problem) String() string {
	var b strings.Builder
	if p.Index != NoIndex {
		fmt.Fprintf(&b, "item %d: ", p.Index)
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Error is a request that cannot be stored: all or nothing, none of its
// points is.
type Error struct {
	Problems []Problem
	// tooMany: the request holds more points than DecodeOptions.MaxPoints.
	tooMany bool
}

// Unwrap returns point.ErrTooManyPoints when the request holds too many
// points, nil otherwise.
func (e *Error) Unwrap() error {
	if e.tooMany {
		return point.ErrTooManyPoints
	}
	return nil
}

// tooManyError is the error of a request of n points, more than max.
func tooManyError(field string, max int) *Error {
	return &Error{tooMany: true, Problems: []Problem{{Index: NoIndex, Field: field,
		Message: fmt.Sprintf("more than %d points in one request; send fewer per request", max)}}}
}

func (e *Error) Error() string {
	if len(e.Problems) == 0 {
		return "invalid request"
	}
	s := e.Problems[0].String()
	if n := len(e.Problems) - 1; n > 0 {
		s += fmt.Sprintf(" (and %d more)", n)
	}
	return s
}

// maxProblems bounds the problems collected: enough to fix a request.
const maxProblems = 20

// problems collects the problems of one request.
type problems struct{ list []Problem }

func (ps *problems) add(index int, field, format string, args ...any) {
	if len(ps.list) < maxProblems {
		ps.list = append(ps.list, Problem{Index: index, Field: field, Message: fmt.Sprintf(format, args...)})
	}
}

// err returns the collected problems as an *Error, nil when there are none.
func (ps *problems) err() error {
	if len(ps.list) == 0 {
		return nil
	}
	return &Error{Problems: ps.list}
}

// fix builds one point, recording its problems under index.
type fix struct {
	p     point.Point
	index int
	ps    *problems
	clock point.Clock
}

func newFix(ps *problems, index int, clock point.Clock) *fix {
	return &fix{p: point.Point{TimeMs: clock.NowMs()}, index: index, ps: ps, clock: clock}
}

func (f *fix) fail(field, format string, args ...any) { f.ps.add(f.index, field, format, args...) }

func (f *fix) lat(field string, v float64) {
	var msg string
	if f.p.LatE7, msg = point.CheckLatitude(v); msg != "" {
		f.fail(field, "%s", msg)
	}
}

func (f *fix) lon(field string, v float64) {
	var msg string
	if f.p.LonE7, msg = point.CheckLongitude(v); msg != "" {
		f.fail(field, "%s", msg)
	}
}

func (f *fix) extra(field string, x point.Extra, v float64) {
	if msg := f.p.Extras.Set(x, v); msg != "" {
		f.fail(field, "%s", msg)
	}
}

func (f *fix) device(field, id string) {
	if msg := point.CheckDeviceID(id); msg != "" {
		f.fail(field, "%s", msg)
		return
	}
	f.p.DeviceID = id
}

// timeMs sets the point's time from t (the value as sent is text).
func (f *fix) time(field string, t time.Time, text string) {
	ms, msg := f.clock.Check(t, text)
	if msg != "" {
		f.fail(field, "%s", msg)
		return
	}
	f.p.TimeMs = ms
}

// number parses a decimal parameter; NaN and infinities are refused.
func number(s string) (float64, bool) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	return v, true
}

// epoch converts a Unix time in seconds, or in milliseconds when it is at
// least 2^31 (Traccar's rule: seconds end in 2038), to a time.
func epoch(v float64) time.Time {
	if math.Abs(v) >= math.MaxInt32 {
		return time.UnixMilli(int64(v))
	}
	sec, frac := math.Modf(v)
	return time.Unix(int64(sec), int64(math.Round(frac*1e3))*int64(time.Millisecond))
}

// isoLayouts are the ISO 8601 forms the apps send; a time without an
// offset is UTC.
var isoLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700", // Overland's older form: -0700
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999", // OsmAnd's yyyy-MM-dd HH:mm:ss
	"2006-01-02 15:04:05.999999999Z07:00",
}

// parseTime reads a timestamp as epoch seconds or milliseconds, ISO 8601,
// or yyyy-MM-dd HH:mm:ss (UTC).
func parseTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if v, ok := number(s); ok && !strings.ContainsAny(s, "eE") {
		return epoch(v), true
	}
	if i := strings.LastIndexByte(s, ' '); i > 10 && strings.IndexByte(s, 'T') == 10 {
		// A '+' of an offset sent unescaped in a URL arrives as a space.
		s = s[:i] + "+" + s[i+1:]
	}
	for _, l := range isoLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// timeFormats names what parseTime accepts, for messages.
const timeFormats = "epoch seconds, epoch milliseconds, ISO 8601 (2025-01-23T12:00:00Z) or yyyy-MM-dd HH:mm:ss (UTC)"
