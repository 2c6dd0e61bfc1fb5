package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/geo"
)

// checkTracks reads every device's track from GET /devices/{id}/track
// (NDJSON, following the Link header in pages of 300) and checks that
// it holds exactly the points sent, each once, in event-time order.
func checkTracks(t *testing.T, base string, sent []wirePoint) {
	t.Helper()
	want := map[string][]string{}
	minT, maxT := int64(1<<62), int64(0)
	for _, w := range sent {
		p := w.point(t)
		want[p.DeviceID] = append(want[p.DeviceID], fmt.Sprint(p.TimeMs, p.LatE7, p.LonE7))
		minT, maxT = min(minT, p.TimeMs), max(maxT, p.TimeMs)
	}
	q := url.Values{"format": {"ndjson"}, "limit": {"300"},
		"from": {time.UnixMilli(minT).UTC().Format(time.RFC3339Nano)}, "to": {time.UnixMilli(maxT + 1).UTC().Format(time.RFC3339Nano)}}
	bad := 0
	for dev, w := range want {
		var got []string
		last := int64(0)
		next := base + "/devices/" + dev + "/track?" + q.Encode()
		for next != "" {
			resp, err := http.Get(next)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("GET %s: %v %v", next, resp, err)
			}
			next = ""
			if l := resp.Header.Get("Link"); l != "" {
				var u string
				if _, err := fmt.Sscanf(l, "<%s", &u); err != nil || len(u) < 3 {
					t.Fatalf("Link %q", l)
				}
				next = base + u[:len(u)-2] // "...>;"
			}
			sc := bufio.NewScanner(resp.Body)
			for sc.Scan() {
				var p struct {
					Timestamp           time.Time
					Latitude, Longitude float64
				}
				if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
					t.Fatal(err)
				}
				ms := p.Timestamp.UnixMilli()
				if ms < last {
					t.Errorf("track of %s: %d after %d, not in event-time order", dev, ms, last)
				}
				last = ms
				got = append(got, fmt.Sprint(ms, geo.ToFixed(p.Latitude), geo.ToFixed(p.Longitude)))
			}
			resp.Body.Close()
		}
		slices.Sort(got)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			bad++
			t.Errorf("track of %s: %d points, sent %d (want each once)", dev, len(got), len(w))
		}
	}
	t.Logf("tracks of %d devices checked: %d wrong", len(want), bad)
}
