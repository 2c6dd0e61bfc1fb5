package ingest

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"

	"github.com/geostream/geostream/ingest-svc/internal/apikey/apikeytest"
)

// trackEnv uploads: truck-1's points at 11:00:00.000 + i minutes, sent
// in reverse (late points land at the tail of their hour's list), the
// third with extras, and one point of another device.
func trackEnv(t *testing.T) *env {
	t.Helper()
	e := newAuthEnv(t)
	var items []string
	for i := 9; i >= 0; i-- {
		ex := ""
		if i == 2 {
			ex = `, "altitude": 35.5, "speed": 3.25, "battery": 80`
		}
		items = append(items, `{"latitude": 52.`+string(rune('0'+i))+`, "longitude": 13.4, "device_id": "truck-1", "timestamp": "2025-01-23T11:0`+string(rune('0'+i))+`:00Z"`+ex+`}`)
	}
	items = append(items, carPoint)
	rec := e.call("POST", "/upload", "["+strings.Join(items, ",")+"]", bearer(apikeytest.All), "")
	if rec.Code != http.StatusOK {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	e.process()
	return e
}

const trackPath = "/devices/truck-1/track?from=2025-01-23T11:00:00Z&to=2025-01-23T12:00:00Z"

func TestTrackGeoJSON(t *testing.T) {
	e := trackEnv(t)
	rec := e.call("GET", trackPath, "", bearer(apikeytest.Reader), "")
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/geo+json" || rec.Header().Get("Link") != "" {
		t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	var fc struct {
		Type     string
		Features []struct {
			Type     string
			Geometry struct {
				Type        string
				Coordinates []float64
			}
			Properties map[string]any
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &fc); err != nil {
		t.Fatal(err)
	}
	if fc.Type != "FeatureCollection" || len(fc.Features) != 10 {
		t.Fatalf("%s", rec.Body)
	}
	for i, f := range fc.Features {
		if f.Geometry.Type != "Point" || f.Geometry.Coordinates[1] != 52+float64(i)/10 || f.Geometry.Coordinates[0] != 13.4 {
			t.Errorf("feature %d: %+v (want event-time order)", i, f)
		}
		if want := "2025-01-23T11:0" + string(rune('0'+i)) + ":00.000Z"; f.Properties["timestamp"] != want {
			t.Errorf("feature %d: time %v, want %s", i, f.Properties["timestamp"], want)
		}
	}
	if p := fc.Features[2].Properties; p["altitude"] != 35.5 || p["speed"] != 3.25 || p["battery"] != 80.0 || len(p) != 4 {
		t.Errorf("extras: %v", p)
	}
	// The last position shows its extras too.
	var dev struct {
		LastPosition map[string]any `json:"last_position"`
	}
	rec = e.call("GET", "/devices/truck-1", "", bearer(apikeytest.Reader), "")
	if err := json.Unmarshal(rec.Body.Bytes(), &dev); err != nil || dev.LastPosition["latitude"] != 52.9 {
		t.Fatalf("%s %v", rec.Body, err)
	}
	if _, ok := dev.LastPosition["speed"]; ok {
		t.Errorf("last position shows extras of another point: %v", dev.LastPosition)
	}
}

func TestTrackFormats(t *testing.T) {
	e := trackEnv(t)
	get := func(format string) string {
		t.Helper()
		rec := e.call("GET", trackPath+"&format="+format, "", bearer(apikeytest.Reader), "")
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", format, rec.Code, rec.Body)
		}
		return rec.Body.String()
	}
	var ls struct {
		Type     string
		Geometry struct {
			Type        string
			Coordinates [][]float64
		}
		Properties struct {
			DeviceID string `json:"device_id"`
			Times    []string
		}
	}
	if err := json.Unmarshal([]byte(get("linestring")), &ls); err != nil || ls.Geometry.Type != "LineString" ||
		len(ls.Geometry.Coordinates) != 10 || ls.Geometry.Coordinates[9][1] != 52.9 || len(ls.Properties.Times) != 10 {
		t.Errorf("linestring: %+v %v", ls, err)
	}
	var gpx struct {
		XMLName xml.Name `xml:"http://www.topografix.com/GPX/1/1 gpx"`
		Version string   `xml:"version,attr"`
		Trk     struct {
			Name string `xml:"name"`
			Pts  []struct {
				Lat  float64  `xml:"lat,attr"`
				Lon  float64  `xml:"lon,attr"`
				Ele  *float64 `xml:"ele"`
				Time string   `xml:"time"`
			} `xml:"trkseg>trkpt"`
		} `xml:"trk"`
	}
	if err := xml.Unmarshal([]byte(get("gpx")), &gpx); err != nil || gpx.Version != "1.1" || gpx.Trk.Name != "truck-1" ||
		len(gpx.Trk.Pts) != 10 || gpx.Trk.Pts[2].Ele == nil || *gpx.Trk.Pts[2].Ele != 35.5 || gpx.Trk.Pts[3].Ele != nil ||
		gpx.Trk.Pts[0].Time != "2025-01-23T11:00:00.000Z" {
		t.Errorf("gpx: %+v %v", gpx, err)
	}
	sc := bufio.NewScanner(strings.NewReader(get("ndjson")))
	n := 0
	for sc.Scan() {
		var p map[string]any
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil || p["device_id"] != "truck-1" || p["latitude"] != 52+float64(n)/10 {
			t.Errorf("ndjson line %d: %s %v", n, sc.Text(), err)
		}
		n++
	}
	if n != 10 {
		t.Errorf("ndjson: %d lines", n)
	}
}

// Pages of 3 follow the Link header to every point once, in order.
func TestTrackPaging(t *testing.T) {
	e := trackEnv(t)
	path := trackPath + "&format=ndjson&limit=3"
	var lats []string
	for pages := 0; path != ""; pages++ {
		rec := e.call("GET", path, "", bearer(apikeytest.Reader), "")
		if rec.Code != http.StatusOK || pages > 4 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		for line := range strings.Lines(rec.Body.String()) {
			var p struct{ Latitude json.Number }
			json.Unmarshal([]byte(line), &p)
			lats = append(lats, p.Latitude.String())
		}
		path = ""
		if link := rec.Header().Get("Link"); link != "" {
			u, ok := strings.CutPrefix(link, "<")
			u, _, ok2 := strings.Cut(u, `>; rel="next"`)
			if !ok || !ok2 {
				t.Fatalf("Link %q", link)
			}
			path = u
		}
	}
	if got := strings.Join(lats, " "); got != "52 52.1 52.2 52.3 52.4 52.5 52.6 52.7 52.8 52.9" {
		t.Errorf("pages gave %s", got)
	}
}

func TestTrackErrors(t *testing.T) {
	e := trackEnv(t)
	for _, tc := range []struct {
		query  string
		status int
		has    string
	}{
		{"?format=kml", 400, "format must be"},
		{"?from=yesterday", 400, "from must be"},
		{"?to=2025-01-23", 400, "to must be"},
		{"?from=2025-01-23T12:00:00Z&to=2025-01-23T11:00:00Z", 400, "before to"},
		{"?from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z", 400, "at most"},
		{"?limit=0", 400, "limit must be"},
		{"?limit=100001", 400, "limit must be"},
		{"?cursor=abc", 400, "cursor must be"},
		{"?cursor=1.0", 400, "cursor must be"},
		{"?bogus=1", 400, "unknown parameter"},
		{"?limit=1&limit=2", 400, "given 2 times"},
	} {
		rec := e.call("GET", "/devices/truck-1/track"+tc.query, "", bearer(apikeytest.Reader), "")
		if rec.Code != tc.status || !strings.Contains(errorOf(t, rec).Error, tc.has) {
			t.Errorf("%s: %d %s, want %d %q", tc.query, rec.Code, rec.Body, tc.status, tc.has)
		}
	}
	// The key's scopes and device prefixes apply.
	for _, tc := range []struct {
		path, key string
		status    int
	}{
		{"/devices/car-1/track", apikeytest.Truck, 403},
		{"/devices/truck-1/track", apikeytest.Truck, 200},
		{"/devices/truck-1/track", apikeytest.Writer, 403},
		{"/devices/truck-1/track", "", 401},
		{"/devices/bad%20id/track", apikeytest.Reader, 400},
		{"/devices/nobody/track", apikeytest.Reader, 200},
	} {
		h := bearer(tc.key)
		if tc.key == "" {
			h = nil
		}
		if rec := e.call("GET", tc.path, "", h, ""); rec.Code != tc.status {
			t.Errorf("%s with %q: %d %s, want %d", tc.path, tc.key, rec.Code, rec.Body, tc.status)
		}
	}
	// No from and to: the last day; nobody's track is empty.
	rec := e.call("GET", "/devices/nobody/track?format=linestring", "", bearer(apikeytest.Reader), "")
	if !strings.Contains(rec.Body.String(), `"geometry":null`) {
		t.Errorf("empty linestring: %s", rec.Body)
	}
}
