package devproto

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/point"
)

var testNow = time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)

func testOpts() point.DecodeOptions {
	return point.DecodeOptions{Now: func() time.Time { return testNow }, MaxPoints: 100}
}

// want is the expected point in plain units; nil extras are "not sent".
type want struct {
	id                       string
	lat, lon                 float64
	time                     time.Time
	alt, spd, hdg, acc, batt *float64
}

func f(v float64) *float64 { return &v }

func checkPoint(t *testing.T, got point.Point, w want) {
	t.Helper()
	if got.DeviceID != w.id || got.LatE7 != int64(math.Round(w.lat*1e7)) || got.LonE7 != int64(math.Round(w.lon*1e7)) ||
		got.TimeMs != w.time.UnixMilli() {
		t.Errorf("point %s %d,%d at %s; want %s %v,%v at %s", got.DeviceID, got.LatE7, got.LonE7,
			time.UnixMilli(got.TimeMs).UTC().Format(time.RFC3339Nano), w.id, w.lat, w.lon, w.time.Format(time.RFC3339Nano))
	}
	for _, e := range []struct {
		name      string
		got, want *float64
	}{
		{"altitude", got.Extras.Altitude, w.alt}, {"speed", got.Extras.Speed, w.spd}, {"heading", got.Extras.Heading, w.hdg},
		{"accuracy", got.Extras.Accuracy, w.acc}, {"battery", got.Extras.Battery, w.batt},
	} {
		switch {
		case (e.got == nil) != (e.want == nil):
			t.Errorf("%s: got %v, want %v", e.name, e.got, e.want)
		case e.got != nil && math.Abs(*e.got-*e.want) > 1e-9:
			t.Errorf("%s: got %v, want %v", e.name, *e.got, *e.want)
		}
	}
}

// checkProblems checks that err is an *Error whose problems name fields
// (each "index field", index -1 for NoIndex).
func checkProblems(t *testing.T, err error, fields ...string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v, want a *devproto.Error", err)
	}
	var got []string
	for _, p := range e.Problems {
		got = append(got, strings.TrimSpace(itoa(p.Index)+" "+p.Field))
		if p.Message == "" {
			t.Errorf("problem %+v has no message", p)
		}
	}
	if strings.Join(got, ",") != strings.Join(fields, ",") {
		t.Errorf("problems %v (%v), want %v", got, err, fields)
	}
}

func itoa(i int) string {
	if i == NoIndex {
		return "-1"
	}
	return strings.TrimSpace(string(rune('0' + i)))
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1737633600", time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)},
		{"1737633600123", time.Date(2025, 1, 23, 12, 0, 0, 123e6, time.UTC)},
		{"1737633600.5", time.Date(2025, 1, 23, 12, 0, 0, 5e8, time.UTC)},
		{"2025-01-23T12:00:00Z", time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)},
		{"2025-01-23T12:00:00.250Z", time.Date(2025, 1, 23, 12, 0, 0, 25e7, time.UTC)},
		{"2025-01-23T14:00:00+02:00", time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)},
		{"2025-01-23T14:00:00 02:00", time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)}, // '+' unescaped in a URL
		{"2025-01-23T05:00:00-0700", time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)},
		{"2025-01-23T12:00:00", time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)},
		{"2025-01-23 12:00:00", time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)},
	} {
		got, ok := parseTime(tc.in)
		if !ok || !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2025-01-23", "1e9", "NaN"} {
		if got, ok := parseTime(bad); ok {
			t.Errorf("parseTime(%q) = %v, want a failure", bad, got)
		}
	}
}
