package window

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

func mustSet(t *testing.T, spec string) Set {
	t.Helper()
	s, err := Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ms(s string) int64 {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMilli()
}

func TestParse(t *testing.T) {
	s := mustSet(t, DefaultSpec)
	if len(s) != 3 || s[0].Name != "1m" || s[2].Size != 24*time.Hour || s[0].DeviceRetention != 6*time.Hour {
		t.Fatalf("Parse(default) = %+v", s)
	}
	if again := mustSet(t, s.String()); again.String() != s.String() {
		t.Errorf("round trip: %s vs %s", again, s)
	}
	for _, bad := range []string{"", "1m", "1m:0s", "1m:1h,1m:2h", "1m:1h,90s:1h", "500ms:1h", "1x:1h", "1m:1h:-1s", "1.5d:1h"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): want error", bad)
		}
	}
}

func TestStart(t *testing.T) {
	h := Resolution{Name: "1h", Size: time.Hour}
	tests := map[int64]int64{
		ms("2025-01-23T10:17:00Z"): ms("2025-01-23T10:00:00Z"),
		ms("2025-01-23T10:00:00Z"): ms("2025-01-23T10:00:00Z"),
		-1:                         -3_600_000,
	}
	for in, want := range tests {
		if got := h.Start(in); got != want {
			t.Errorf("Start(%d) = %d, want %d", in, got, want)
		}
	}
}

func TestAggKeys(t *testing.T) {
	set := mustSet(t, "1m:1h:10m,1h:24h")
	sc, _ := keys.New("gs", 1)
	now := ms("2025-01-23T12:00:00Z")
	recent := point.Point{DeviceID: "d", TimeMs: ms("2025-01-23T11:55:30Z")}
	got := set.AggKeys(sc, 0, recent, now, nil)
	want := []string{sc.Total(0), sc.Device(0, "d"),
		sc.Bucket(0, "1m", ms("2025-01-23T11:55:00Z")), sc.DeviceBucket(0, "d", "1m", ms("2025-01-23T11:55:00Z")),
		sc.Bucket(0, "1h", ms("2025-01-23T11:00:00Z")), ""} // no device buckets at 1h
	if len(got) != len(want) {
		t.Fatalf("AggKeys = %+v", got)
	}
	for i := range want {
		if got[i].Key != want[i] {
			t.Errorf("key %d = %q, want %q", i, got[i].Key, want[i])
		}
	}
	if at := got[2].ExpireAtMs; at != ms("2025-01-23T12:56:00Z") {
		t.Errorf("1m bucket expires at %s", fmtMs(at))
	}
	// A late point: its 1m buckets are gone, its 1h bucket is still kept.
	late := point.Point{DeviceID: "d", TimeMs: ms("2025-01-23T10:30:00Z")}
	got = set.AggKeys(sc, 0, late, now, got)
	if got[2].Key != "" || got[3].Key != "" || got[4].Key == "" || got[0].Key == "" {
		t.Errorf("late point keys = %+v", got)
	}
}

func TestCover(t *testing.T) {
	set := mustSet(t, "1m:48h:6h,1h:2160h:720h,1d:87600h:8760h")
	now := ms("2025-01-23T14:10:00Z")
	describe := func(bs []Bucket) string {
		var parts []string
		for _, b := range bs {
			parts = append(parts, b.Res.Name+"@"+time.UnixMilli(b.Start).UTC().Format("02T15:04"))
		}
		return strings.Join(parts, " ")
	}
	tests := []struct {
		name     string
		from, to string
		device   bool
		want     string // "" with wantErr
		wantErr  string
	}{
		{"one hour", "2025-01-23T10:00:00Z", "2025-01-23T11:00:00Z", false, "1h@23T10:00", ""},
		{"straddles an hour", "2025-01-23T10:58:00Z", "2025-01-23T11:02:00Z", false,
			"1m@23T10:58 1m@23T10:59 1m@23T11:00 1m@23T11:01", ""},
		{"needs two resolutions", "2025-01-22T23:58:00Z", "2025-01-23T02:00:00Z", false,
			"1m@22T23:58 1m@22T23:59 1h@23T00:00 1h@23T01:00", ""},
		{"whole days", "2025-01-20T00:00:00Z", "2025-01-22T01:00:00Z", false, "1d@20T00:00 1d@21T00:00 1h@22T00:00", ""},
		{"minutes expired", "2025-01-20T10:01:00Z", "2025-01-20T10:03:00Z", false, "", "no longer kept"},
		{"minutes expired: says to ask for hours", "2025-01-20T10:01:00Z", "2025-01-20T10:03:00Z", false, "", "add interval=1h"},
		{"everything expired", "2005-01-20T10:00:00Z", "2005-01-20T11:00:00Z", false, "", "all-time summary"},
		{"device minutes expired", "2025-01-23T07:01:00Z", "2025-01-23T07:02:00Z", true, "", "no longer kept"},
		{"device recent minutes", "2025-01-23T14:00:00Z", "2025-01-23T14:02:00Z", true, "1m@23T14:00 1m@23T14:01", ""},
		{"unaligned", "2025-01-23T10:00:30Z", "2025-01-23T10:02:00Z", false, "", "boundary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := set.Cover(ms(tt.from), ms(tt.to), now, tt.device, DefaultMaxBuckets)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := describe(got); d != tt.want {
				t.Errorf("Cover = %s\nwant    %s", d, tt.want)
			}
		})
	}
	if _, err := set.Cover(ms("2025-01-23T10:00:00Z"), ms("2025-01-23T12:00:00Z"), now, false, 1); err == nil {
		t.Error("past max buckets: want error")
	}
}

func TestParseQuery(t *testing.T) {
	set := mustSet(t, DefaultSpec)
	now, _ := time.Parse(time.RFC3339, "2025-01-23T14:10:30Z")
	tests := []struct {
		q       string
		want    string
		wantErr string
	}{
		{"", "all-time", ""},
		{"device_id=truck-1", "all-time truck-1", ""},
		{"window=15m", "2025-01-23T13:56:00Z..2025-01-23T14:11:00Z", ""},
		{"window=24h&interval=1h", "2025-01-22T15:00:00Z..2025-01-23T15:00:00Z every 1h0m0s", ""},
		{"from=2025-01-23T10:00:00Z&to=2025-01-23T12:00:00Z&interval=1h", "2025-01-23T10:00:00Z..2025-01-23T12:00:00Z every 1h0m0s", ""},
		{"from=2025-01-23T14:00:00Z", "2025-01-23T14:00:00Z..2025-01-23T14:11:00Z", ""},
		{"window=15m&from=2025-01-23T10:00:00Z", "", "either window"},
		{"to=2025-01-23T10:00:00Z", "", "to needs from"},
		{"from=yesterday", "", "RFC 3339"},
		{"from=2025-01-23T10:00:30Z&to=2025-01-23T11:00:00Z", "", "boundaries"},
		{"from=2025-01-23T11:00:00Z&to=2025-01-23T10:00:00Z", "", "before"},
		{"window=90s", "", "multiple"},
		{"window=-5m", "", "positive"},
		{"interval=1h", "", "needs a range"},
		{"window=1h&interval=90s", "", "multiple of the finest"},
		{"window=30d&interval=1m", "", "more than 1440"},
		{"from=2025-01-23T10:00:00Z&to=2025-01-23T11:30:00Z&interval=1h", "", "whole number of intervals"},
		{"device_id=a%20b", "", "device_id"},
		{"device=x", "", "unknown parameter"},
		{"window=1h&window=2h", "", "2 times"},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			v, _ := url.ParseQuery(tt.q)
			q, err := ParseQuery(v, now, set)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrBadQuery) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := "all-time"
			if q.Ranged {
				got = fmtMs(q.From) + ".." + fmtMs(q.To)
			}
			if q.Interval > 0 {
				got += fmt.Sprintf(" every %v", time.Duration(q.Interval)*time.Millisecond)
			}
			if q.DeviceID != "" {
				got += " " + q.DeviceID
			}
			if got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "window=15m", "from=2025-01-23T10:00:00Z&to=2025-01-23T11:00:00Z&interval=1m",
		"window=1e400h", "interval=-0s", "from=9999-12-31T23:59:59Z", "window=9223372036854775807ns", "device_id=%ff%fe",
		"window=1d&interval=1d", "from=0000-01-01T00:00:00Z&window="} {
		f.Add(s)
	}
	set, _ := Parse(DefaultSpec)
	now := time.Unix(1737633600, 0)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v, now, set)
		if err != nil {
			if !errors.Is(err, ErrBadQuery) {
				t.Fatalf("error %v does not wrap ErrBadQuery", err)
			}
			return
		}
		if q.Ranged && q.From >= q.To {
			t.Fatalf("accepted empty range %+v", q)
		}
		if q.Interval > 0 && (q.To-q.From)/q.Interval > DefaultMaxSeries {
			t.Fatalf("accepted a series of %d buckets", (q.To-q.From)/q.Interval)
		}
		if q.Ranged {
			set.Cover(q.From, q.To, now.UnixMilli(), q.DeviceID != "", DefaultMaxBuckets) // must not panic or loop
		}
	})
}

// At an exact bucket boundary the current bucket is the one starting now,
// so a point stamped exactly now is inside window=D.
func TestParseQueryWindowAtBoundary(t *testing.T) {
	set := mustSet(t, DefaultSpec)
	now, _ := time.Parse(time.RFC3339, "2025-01-23T12:00:00Z")
	q, err := ParseQuery(url.Values{"window": {"15m"}}, now, set)
	if err != nil {
		t.Fatal(err)
	}
	if fmtMs(q.From) != "2025-01-23T11:46:00Z" || fmtMs(q.To) != "2025-01-23T12:01:00Z" {
		t.Errorf("window=15m at 12:00:00 = %s..%s, want 11:46..12:01", fmtMs(q.From), fmtMs(q.To))
	}
}
