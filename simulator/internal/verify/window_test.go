package verify

import (
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/point"
)

func TestWindow(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tt := range []struct {
		start      string
		span, step time.Duration
		from, to   string
	}{
		// One step: all of it.
		{"2025-01-23T12:00:00Z", 40 * time.Second, time.Minute, "2025-01-23T12:00:00Z", "2025-01-23T12:01:00Z"},
		{"2025-01-23T12:00:30Z", 20 * time.Second, time.Minute, "2025-01-23T12:00:00Z", "2025-01-23T12:01:00Z"},
		// Two steps: the first.
		{"2025-01-23T12:00:30Z", 40 * time.Second, time.Minute, "2025-01-23T12:00:00Z", "2025-01-23T12:01:00Z"},
		// Three or more: without the first and last.
		{"2025-01-23T12:00:30Z", 150 * time.Second, time.Minute, "2025-01-23T12:01:00Z", "2025-01-23T12:03:00Z"},
		{"2025-01-23T23:10:00Z", 3 * time.Hour, time.Hour, "2025-01-24T00:00:00Z", "2025-01-24T02:00:00Z"},
		{"1969-12-31T23:59:30Z", 2 * time.Minute, time.Minute, "1970-01-01T00:00:00Z", "1970-01-01T00:01:00Z"},
	} {
		from, to := Window(at(tt.start), tt.span, tt.step)
		if !from.Equal(at(tt.from)) || !to.Equal(at(tt.to)) {
			t.Errorf("Window(%s, %v, %v) = %s .. %s, want %s .. %s", tt.start, tt.span, tt.step, from, to, tt.from, tt.to)
		}
	}
}

func TestWindowScopes(t *testing.T) {
	from := time.Date(2025, 1, 23, 12, 1, 0, 0, time.UTC)
	w := WindowScopes([]string{"a", "b"}, true, from, from.Add(time.Minute))
	set := JoinScopes(DeviceScopes([]string{"a", "b"}, true), w)
	names := []string{"global", "device a", "device b",
		"global 2025-01-23T12:01:00Z/2025-01-23T12:02:00Z",
		"device a 2025-01-23T12:01:00Z/2025-01-23T12:02:00Z",
		"device b 2025-01-23T12:01:00Z/2025-01-23T12:02:00Z"}
	for i, sc := range set.Scopes() {
		if sc.Name != names[i] {
			t.Errorf("scope %d: %q, want %q", i, sc.Name, names[i])
		}
	}
	if q := set.Scopes()[5].Query; !reflect.DeepEqual(q, url.Values{
		"device_id": {"b"}, "from": {"2025-01-23T12:01:00Z"}, "to": {"2025-01-23T12:02:00Z"}}) {
		t.Errorf("query %v", q)
	}
	ms := from.UnixMilli()
	for _, tt := range []struct {
		dev  string
		t    int64
		want []int
	}{
		{"a", ms - 1, []int{0, 1}},
		{"a", ms, []int{0, 1, 3, 4}},
		{"b", ms + 59_999, []int{0, 2, 3, 5}},
		{"b", ms + 60_000, []int{0, 2}},
		{"c", ms, []int{0, 3}},
	} {
		got := set.Of(nil, &point.Point{DeviceID: tt.dev, TimeMs: tt.t})
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Of(%s at %+d ms) = %v, want %v", tt.dev, tt.t-ms, got, tt.want)
		}
	}
}
