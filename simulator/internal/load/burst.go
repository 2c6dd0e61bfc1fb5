package load

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Burst is a periodic change of the send rate, to exercise the API's
// backpressure: in every Period, the first On runs at Factor times the
// base rate. Its text form is "ON:FACTORx/PERIOD", for example "5s:4x/25s"
// (every 25 s, 5 s at four times the rate) or "10s:0x/1m" (every minute, a
// 10 s pause). The zero Burst is no burst.
type Burst struct {
	On     time.Duration
	Factor float64
	Period time.Duration
}

// ParseBurst parses the text form; "" is no burst.
func ParseBurst(s string) (Burst, error) {
	if s == "" {
		return Burst{}, nil
	}
	bad := func(why string) (Burst, error) {
		return Burst{}, fmt.Errorf("burst %q: %s (want ON:FACTORx/PERIOD, e.g. 5s:4x/25s)", s, why)
	}
	on, rest, ok := strings.Cut(s, ":")
	if !ok {
		return bad("missing ':'")
	}
	factor, period, ok := strings.Cut(rest, "/")
	if !ok {
		return bad("missing '/'")
	}
	var b Burst
	var err error
	if b.On, err = time.ParseDuration(on); err != nil {
		return bad("ON is not a duration")
	}
	if b.Period, err = time.ParseDuration(period); err != nil {
		return bad("PERIOD is not a duration")
	}
	f, ok := strings.CutSuffix(factor, "x")
	if !ok {
		return bad("FACTOR must end in x")
	}
	if b.Factor, err = strconv.ParseFloat(f, 64); err != nil || b.Factor < 0 || b.Factor > 1000 || b.Factor != b.Factor {
		return bad("FACTOR must be a number from 0 to 1000")
	}
	if b.On <= 0 || b.Period <= b.On {
		return bad("need 0 < ON < PERIOD")
	}
	return b, nil
}

// Enabled reports whether b changes the rate at all.
func (b Burst) Enabled() bool { return b.Period > 0 }

// String returns the text form, "" for no burst.
func (b Burst) String() string {
	if !b.Enabled() {
		return ""
	}
	return fmt.Sprintf("%v:%vx/%v", b.On, strconv.FormatFloat(b.Factor, 'g', -1, 64), b.Period)
}

// FactorAt returns the rate multiplier at elapsed time since the start, and
// how long it stays in force.
func (b Burst) FactorAt(elapsed time.Duration) (factor float64, remaining time.Duration) {
	if !b.Enabled() {
		return 1, time.Duration(1<<63 - 1)
	}
	in := elapsed % b.Period
	if in < b.On {
		return b.Factor, b.On - in
	}
	return 1, b.Period - in
}
