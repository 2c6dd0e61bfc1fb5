package point

import (
	"fmt"
	"math"
	"time"

	"github.com/geostream/geostream/streamkit/durfmt"
	"github.com/geostream/geostream/streamkit/geo"
)

// The checks every decoder of points shares (the /upload JSON, GeoJSON and
// the device protocols of ingest-svc), so that a value means and is
// refused the same whatever carried it. Each returns what is wrong as a
// message for a Detail, "" when nothing is.

// CheckLatitude converts a latitude in degrees to fixed point.
func CheckLatitude(f float64) (int64, string) {
	e7, err := geo.LatitudeE7(f)
	if err != nil {
		return 0, "must be between -90 and 90, got " + formatFloat(f)
	}
	return e7, ""
}

// CheckLongitude converts a longitude in degrees to fixed point.
func CheckLongitude(f float64) (int64, string) {
	e7, err := geo.LongitudeE7(f)
	if err != nil {
		return 0, "must be between -180 and 180, got " + formatFloat(f)
	}
	return e7, ""
}

// Extra names an optional measurement of Extras.
type Extra int

// The optional measurements, in geostream's units.
const (
	Altitude Extra = iota // metres
	Speed                 // metres per second, ≥ 0
	Heading               // degrees from true north, 0..360
	Accuracy              // metres, ≥ 0
	Battery               // percent, 0..100
)

// extraRules are each measurement's bounds, its unit in messages and its
// field of Extras.
var extraRules = [...]struct {
	min, max float64
	unit     string
	field    func(*Extras) **float64
}{
	Altitude: {math.Inf(-1), math.Inf(1), "metres", func(e *Extras) **float64 { return &e.Altitude }},
	Speed:    {0, math.Inf(1), "metres per second", func(e *Extras) **float64 { return &e.Speed }},
	Heading:  {0, 360, "degrees from true north", func(e *Extras) **float64 { return &e.Heading }},
	Accuracy: {0, math.Inf(1), "metres", func(e *Extras) **float64 { return &e.Accuracy }},
	Battery:  {0, 100, "percent", func(e *Extras) **float64 { return &e.Battery }},
}

// Set validates f as measurement x and stores it in e.
func (e *Extras) Set(x Extra, f float64) string {
	if x < 0 || int(x) >= len(extraRules) {
		return fmt.Sprintf("unknown measurement %d", int(x))
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "must be a finite number"
	}
	if f == 0 {
		f = 0 // -0 → 0, so that the stored text is "0"
	}
	r := extraRules[x]
	switch {
	case f < r.min && math.IsInf(r.max, 1):
		return fmt.Sprintf("must be %s or more (%s), got %s", formatFloat(r.min), r.unit, formatFloat(f))
	case f < r.min || f > r.max:
		return fmt.Sprintf("must be between %s and %s (%s), got %s", formatFloat(r.min), formatFloat(r.max), r.unit, formatFloat(f))
	}
	*r.field(e) = &f
	return ""
}

// Clock is the receive time of one request: the time of points that have
// none, and the bound of how far in the future a point's time may be.
type Clock struct {
	nowMs, maxMs int64
	skew         time.Duration
}

// NewClock reads opts.Now once (time.Now when nil); MaxClockSkew 0 means
// DefaultMaxClockSkew.
func NewClock(opts DecodeOptions) Clock {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	skew := opts.MaxClockSkew
	if skew <= 0 {
		skew = DefaultMaxClockSkew
	}
	t := now()
	return Clock{nowMs: t.UnixMilli(), maxMs: t.Add(skew).UnixMilli(), skew: skew}
}

// NowMs is the receive time in Unix milliseconds.
func (c Clock) NowMs() int64 { return c.nowMs }

// Check returns t in Unix milliseconds (truncated), or why it is refused:
// before 1970, or more than the allowed skew after the receive time. text is
// the value as sent, for the message.
func (c Clock) Check(t time.Time, text string) (int64, string) {
	ms := t.UnixMilli()
	switch {
	case t.Before(time.Unix(0, 0)):
		return 0, "must not be before 1970-01-01T00:00:00Z, got " + quote(text)
	case ms > c.maxMs:
		ahead := "centuries"
		if diff := ms - c.nowMs; diff < math.MaxInt64/int64(time.Millisecond) {
			ahead = durfmt.Human(time.Duration(diff) * time.Millisecond)
		}
		return 0, fmt.Sprintf("is %s ahead of the server's clock, more than the allowed %s, got %s",
			ahead, durfmt.Human(c.skew), quote(text))
	}
	return ms, ""
}

// CheckDeviceID returns what is wrong with a device id, "" when it is valid.
func CheckDeviceID(id string) string {
	if ValidDeviceID(id) != nil {
		return fmt.Sprintf("must be 1-%d characters of A-Z a-z 0-9 . _ : -, got %s", MaxDeviceIDLen, quote(id))
	}
	return ""
}
