package ingest

import (
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

func pointAt(dev string, lat, lon float64, ms int64) point.Point {
	return point.Point{DeviceID: dev, TimeMs: ms, LatE7: geo.ToFixed(lat), LonE7: geo.ToFixed(lon)}
}

// seedState writes the aggregates the processor would keep for pts: each
// partition's total and each device's hash.
func (e *env) seedState(pts ...point.Point) {
	e.t.Helper()
	totals := map[int][]point.Point{}
	devices := map[string][]point.Point{}
	for _, p := range pts {
		part := e.schema.PartitionOf(p.DeviceID)
		totals[part] = append(totals[part], p)
		devices[p.DeviceID] = append(devices[p.DeviceID], p)
	}
	for part, ps := range totals {
		e.writeSums(e.schema.Total(part), sumsOf(ps...))
	}
	for dev, ps := range devices {
		e.writeSums(e.schema.Device(e.schema.PartitionOf(dev), dev), sumsOf(ps...))
	}
}

func getSummary(t *testing.T, e *env, path string) agg.Summary {
	t.Helper()
	rec := e.do(req{method: http.MethodGet, path: path})
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: status %d: %s", path, rec.Code, rec.Body)
	}
	var s agg.Summary
	dec := json.NewDecoder(rec.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return s
}

func TestRetrieve(t *testing.T) {
	e := newEnv(t)
	t0 := testNow.UnixMilli()
	// Two devices in (most likely) different partitions.
	a, b := e.deviceIn(0), e.deviceIn(3)
	e.seedState(
		pointAt(a, 10, 20, t0-3000),
		pointAt(a, 30, 40, t0-1000),
		pointAt(b, -10, -20, t0-2000),
		pointAt(b, 10, -40, t0),
	)

	all := getSummary(t, e, "/retrieve")
	// The seed's fields, by hand: means of the coordinates.
	if all.DataCount != 4 || !near(all.AverageLatitude, 10) || !near(all.AverageLongitude, 0) {
		t.Errorf("seed fields %v %v %v, want 4, 10, 0", all.DataCount, all.AverageLatitude, all.AverageLongitude)
	}
	if want := (agg.BBox{MinLatitude: -10, MinLongitude: -40, MaxLatitude: 30, MaxLongitude: 40}); all.BBox != want {
		t.Errorf("bbox %+v, want %+v", all.BBox, want)
	}
	if all.FirstTimestamp != "2025-01-23T11:59:57.000Z" || all.LastTimestamp != "2025-01-23T12:00:00.000Z" {
		t.Errorf("time range %s .. %s", all.FirstTimestamp, all.LastTimestamp)
	}
	if all.Centroid == nil {
		t.Fatal("no centroid")
	}

	dev := getSummary(t, e, "/retrieve?device_id="+a)
	if dev.DataCount != 2 || !near(dev.AverageLatitude, 20) || !near(dev.AverageLongitude, 30) {
		t.Errorf("device %s: %+v", a, dev)
	}
	want, _ := sumsOf(pointAt(a, 10, 20, t0-3000), pointAt(a, 30, 40, t0-1000)).Summary()
	if !reflect.DeepEqual(dev, want) {
		t.Errorf("device summary %+v, want %+v", dev, want)
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// TestRetrieveAntimeridian checks the centroid across the antimeridian:
// the seed's arithmetic mean of 179.5 and -179.5 is 0, the centroid ±180.
func TestRetrieveAntimeridian(t *testing.T) {
	e := newEnv(t)
	e.seedState(pointAt("east", 0, 179.5, 1), pointAt("west", 0, -179.5, 2))
	s := getSummary(t, e, "/retrieve")
	if !near(s.AverageLongitude, 0) {
		t.Errorf("average_longitude %v, want 0 (the seed's arithmetic mean)", s.AverageLongitude)
	}
	if s.Centroid == nil || math.Abs(math.Abs(s.Centroid.Longitude)-180) > 1e-6 || math.Abs(s.Centroid.Latitude) > 1e-6 {
		t.Fatalf("centroid %+v, want latitude 0, longitude ±180", s.Centroid)
	}
}

func TestRetrieveErrors(t *testing.T) {
	e := newEnv(t)
	noData := `{"error":"No data available for processing","details":[]}`
	for _, tt := range []struct {
		name, path string
		status     int
		body       string // exact, when set
		errHas     string
	}{
		{"nothing stored", "/retrieve", 400, noData, ""},
		{"unknown device", "/retrieve?device_id=ghost", 400, noData, ""},
		{"bad device id", "/retrieve?device_id=a%20b", 400, "", "device_id must be 1-128 characters"},
		{"empty device id", "/retrieve?device_id=", 400, "", "device_id must be"},
		{"device id twice", "/retrieve?device_id=a&device_id=b", 400, "", "parameter device_id is given 2 times"},
		{"unknown parameter", "/retrieve?foo=1&bar=2", 400, "", "unknown parameter(s) bar, foo; accepted: device_id, from, to, window, interval"},
		{"empty window", "/retrieve?window=15m", 400, noData, ""},
		{"bad query", "/retrieve?a=%zz", 400, "", "query string does not parse"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.do(req{method: http.MethodGet, path: tt.path})
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			if tt.body != "" && rec.Body.String() != tt.body {
				t.Errorf("body %s, want %s", rec.Body, tt.body)
			}
			if b := errorOf(t, rec); !strings.Contains(b.Error, tt.errHas) {
				t.Errorf("error %q does not contain %q", b.Error, tt.errHas)
			}
		})
	}

	t.Run("corrupt aggregate", func(t *testing.T) {
		e := newEnv(t)
		e.m.HSet(e.schema.Total(1), agg.FieldCount, "many")
		rec := e.do(req{method: http.MethodGet, path: "/retrieve"})
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		errorOf(t, rec)
	})

	t.Run("redis down", func(t *testing.T) {
		e := newEnv(t)
		e.seedState(pointAt("a", 1, 1, 1))
		e.m.Close()
		for _, path := range []string{"/retrieve", "/retrieve?device_id=a"} {
			rec := e.do(req{method: http.MethodGet, path: path})
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
				t.Fatalf("%s: status %d, Retry-After %q: %s", path, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
			if b := errorOf(t, rec); b.Error != msgStorageUnavailable {
				t.Errorf("error %q", b.Error)
			}
		}
	})
}
