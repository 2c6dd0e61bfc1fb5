package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/redistest"
)

// The web UI tests drive the page ingest-svc serves at / in headless
// Chromium, against the real binaries and a redis-server, and compare what
// the page shows with what the API answers.

// apiGet decodes GET base+path (with key, "" for none) into v and returns
// the status.
func apiGet(t *testing.T, base, path, key string, v any) int {
	t.Helper()
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	return resp.StatusCode
}

// apiPost uploads points as a JSON array with key; it fails the test on
// anything but 200.
func apiPost(t *testing.T, base, key string, pts []map[string]any) {
	t.Helper()
	body, err := json.Marshal(pts)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", base+"/upload", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
}

// round7 rounds to the stored precision (1e-7°), so that a point's
// coordinates come back as sent.
func round7(v float64) float64 { return math.Round(v*1e7) / 1e7 }

// fleetPoints makes devices moving around cities for the last minutes,
// one point a minute each (event time), ending a minute ago.
func fleetPoints(perCity, minutes int, now time.Time) []map[string]any {
	cities := []struct {
		name     string
		lat, lon float64
	}{
		{"ber", 52.52, 13.405}, {"nyc", 40.71, -74.0}, {"sao", -23.55, -46.63}, {"lag", 6.52, 3.38},
		{"bom", 19.08, 72.88}, {"tyo", 35.68, 139.69}, {"syd", -33.87, 151.21}, {"suv", -18.14, 178.44},
		{"lyr", 78.22, 15.65}, {"anc", 61.22, -149.9},
	}
	rng := rand.New(rand.NewPCG(7, 11))
	start := now.Truncate(time.Minute).Add(-time.Duration(minutes) * time.Minute)
	var pts []map[string]any
	for _, c := range cities {
		for d := range perCity {
			id := fmt.Sprintf("%s-%03d", c.name, d)
			lat, lon := c.lat+rng.NormFloat64()*1.5, c.lon+rng.NormFloat64()*2.5
			heading := rng.Float64() * 2 * math.Pi
			for m := range minutes {
				heading += rng.NormFloat64() * 0.3
				lat += 0.03 * math.Cos(heading)
				lon += 0.05 * math.Sin(heading)
				ts := start.Add(time.Duration(m)*time.Minute + time.Duration(rng.IntN(50000))*time.Millisecond)
				pts = append(pts, map[string]any{"device_id": id, "latitude": round7(lat),
					"longitude": round7(math.Mod(lon+540, 360) - 180), "timestamp": ts.Format(time.RFC3339Nano),
					"speed": round7(5 + rng.Float64()*20)})
			}
		}
	}
	return pts
}

// lastPositions walks GET /devices: each device's last position.
func lastPositions(t *testing.T, base, key string) map[string][2]float64 {
	t.Helper()
	out := map[string][2]float64{}
	cursor := ""
	for range 1000 {
		var page struct {
			Devices []struct {
				DeviceID     string `json:"device_id"`
				LastPosition *struct {
					Latitude, Longitude float64
				} `json:"last_position"`
			} `json:"devices"`
			NextCursor *string `json:"next_cursor"`
		}
		q := "/devices?limit=1000"
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		if code := apiGet(t, base, q, key, &page); code != 200 {
			t.Fatalf("GET %s: %d", q, code)
		}
		for _, d := range page.Devices {
			if d.LastPosition != nil {
				out[d.DeviceID] = [2]float64{d.LastPosition.Latitude, d.LastPosition.Longitude}
			}
		}
		if page.NextCursor == nil {
			return out
		}
		cursor = *page.NextCursor
	}
	t.Fatal("/devices does not end")
	return nil
}

// fullSummary is GET /retrieve.
type fullSummary struct {
	AverageLatitude  float64 `json:"average_latitude"`
	AverageLongitude float64 `json:"average_longitude"`
	DataCount        int64   `json:"data_count"`
	Centroid         *struct {
		Latitude, Longitude float64
	} `json:"centroid"`
	BBox struct {
		MinLatitude  float64 `json:"min_latitude"`
		MinLongitude float64 `json:"min_longitude"`
		MaxLatitude  float64 `json:"max_latitude"`
		MaxLongitude float64 `json:"max_longitude"`
	} `json:"bbox"`
	FirstTimestamp string `json:"first_timestamp"`
	LastTimestamp  string `json:"last_timestamp"`
	Series         []struct {
		From             string  `json:"from"`
		DataCount        int64   `json:"data_count"`
		AverageLatitude  float64 `json:"average_latitude"`
		AverageLongitude float64 `json:"average_longitude"`
	} `json:"series"`
}

// shownDegrees parses a number the page shows as "12.34567°" and checks
// it is v to the 5 decimals shown.
func checkDegrees(t *testing.T, what, shown string, v float64) {
	t.Helper()
	f, err := strconv.ParseFloat(strings.TrimSuffix(shown, "°"), 64)
	if err != nil || !strings.HasSuffix(shown, "°") || math.Abs(f-v) > 0.5e-5+1e-9 {
		t.Errorf("%s: the page shows %q, the API says %.7f", what, shown, v)
	}
}

// shownTime is how the page shows an API timestamp.
func shownTime(ts string) string {
	if len(ts) < 19 {
		return ts
	}
	return strings.Replace(ts[:19], "T", " ", 1) + " UTC"
}

// chartData is window.geostream.chartData().
type chartData struct {
	Query string     `json:"query"`
	X     []float64  `json:"x"`
	Count []int64    `json:"count"`
	Lat   []*float64 `json:"lat"`
	Lon   []*float64 `json:"lon"`
}

// chartMatches reports whether the page's chart shows the API's answer to
// its query, and if not, why.
func chartMatches(t *testing.T, b *browser, base, key, wantQuery string) string {
	t.Helper()
	c := eval[chartData](b, `window.geostream.chartData()`)
	if c.Query != wantQuery {
		return fmt.Sprintf("the chart shows %q, want %q", c.Query, wantQuery)
	}
	var s fullSummary
	if code := apiGet(t, base, wantQuery, key, &s); code != 200 {
		return fmt.Sprintf("GET %s: %d", wantQuery, code)
	}
	if len(s.Series) != len(c.X) {
		return fmt.Sprintf("%d entries, the API has %d", len(c.X), len(s.Series))
	}
	for i, e := range s.Series {
		ts, _ := time.Parse(time.RFC3339, e.From)
		if c.X[i] != float64(ts.Unix()) || c.Count[i] != e.DataCount {
			return fmt.Sprintf("entry %d: x %v count %d, the API has %s count %d", i, c.X[i], c.Count[i], e.From, e.DataCount)
		}
		if e.DataCount == 0 {
			if c.Lat[i] != nil || c.Lon[i] != nil {
				return fmt.Sprintf("entry %d: averages for an empty interval", i)
			}
			continue
		}
		if c.Lat[i] == nil || *c.Lat[i] != e.AverageLatitude || c.Lon[i] == nil || *c.Lon[i] != e.AverageLongitude {
			return fmt.Sprintf("entry %d: averages differ from %v, %v", i, e.AverageLatitude, e.AverageLongitude)
		}
	}
	return ""
}

// waitChart polls until the chart shows the API's answer to query.
func waitChart(t *testing.T, b *browser, base, key, query string) {
	t.Helper()
	why := ""
	defer func() { // also when WaitFor fails the test
		if why != "" {
			t.Logf("chart of %s: %s", query, why)
		}
	}()
	redistest.WaitFor(t, 20*time.Second, "the chart of "+query+" to show the API's answer", func() bool {
		why = chartMatches(t, b, base, key, query)
		return why == ""
	})
}
