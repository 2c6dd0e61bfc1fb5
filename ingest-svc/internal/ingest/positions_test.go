package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/ingest-svc/internal/apikey/apikeytest"
	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/point"
)

// positionsBody is GET /positions as a client decodes it.
type positionsBody struct {
	Positions  [][4]any `json:"positions"`
	NextCursor *string  `json:"next_cursor"`
}

// walkPositions reads every page of /positions with limit (0: default)
// as key ("" for none), as "id lat lon ms" lines.
func (e *env) walkPositions(limit int, key string) []string {
	e.t.Helper()
	var out []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 1000 {
			e.t.Fatal("/positions does not end")
		}
		q := "/positions?"
		if limit > 0 {
			q += fmt.Sprintf("limit=%d&", limit)
		}
		if cursor != "" {
			q += "cursor=" + cursor
		}
		var h http.Header
		if key != "" {
			h = bearer(key)
		}
		rec := e.call("GET", q, "", h, "")
		var p positionsBody
		decodeStrict(e.t, q, rec, &p)
		if p.Positions == nil {
			e.t.Fatalf("%s: positions is null: %s", q, rec.Body)
		}
		for _, r := range p.Positions {
			out = append(out, fmt.Sprint(r[0], " ", r[1], " ", r[2], " ", r[3]))
		}
		if p.NextCursor == nil {
			return out
		}
		cursor = *p.NextCursor
	}
}

// TestPositions checks GET /positions against GET /devices: the same
// devices in the same order with the same last positions, on every page
// size, and devices without a last position left out.
func TestPositions(t *testing.T) {
	e := newEnv(t)
	if rec := e.get("/positions"); rec.Code != 200 || rec.Body.String() != `{"positions":[],"next_cursor":null}` ||
		rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("empty store: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var pts []point.Point
	for i := range 23 {
		id := fmt.Sprintf("dev:%02d", (i*7)%23)
		for j := range i%3 + 1 {
			pts = append(pts, pointAt(id, -45.5+float64(i)*1.2345678, 179.9999999-float64(j), at("2025-01-23T10:00:00Z")+int64(1000*(i+j))))
		}
	}
	e.ingest(pts...)
	e.process()
	// A device listed in the index whose hash has sums but no last position.
	e.m.ZAdd(e.schema.DeviceIndex(e.schema.PartitionOf("zz")), 0, "zz")
	e.writeSums(e.schema.Device(e.schema.PartitionOf("zz"), "zz"), sumsOf(pointAt("zz", 1, 1, 1000)))

	var want []string
	for _, d := range e.getPage("?limit=1000").Devices {
		if d.LastPosition == nil {
			continue
		}
		ts, err := time.Parse(time.RFC3339, d.LastPosition.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprint(d.DeviceID, " ", d.LastPosition.Latitude, " ", d.LastPosition.Longitude, " ", float64(ts.UnixMilli())))
	}
	if len(want) != 23 {
		t.Fatalf("/devices lists %d positions, want 23", len(want))
	}
	for _, limit := range []int{0, 1, 4, 22, 23, 24, MaxPositionsLimit} {
		if got := e.walkPositions(limit, ""); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("limit %d:\n%s\nwant (from /devices)\n%s", limit, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}
	// The numbers are JSON numbers as they are stored: exact to 1e-7°.
	rec := e.get("/positions?limit=1")
	if !strings.HasPrefix(rec.Body.String(), `{"positions":[["dev:00",-45.5,179.9999999,1737626400000]],"next_cursor":"dev:00"}`) {
		t.Errorf("first page %s", rec.Body)
	}
	if !json.Valid(e.get("/positions").Body.Bytes()) {
		t.Error("not valid JSON")
	}
}

func TestPositionsErrors(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct{ query, errHas string }{
		{"?limit=0", "limit must be a whole number from 1 to 10000"},
		{"?limit=10001", "from 1 to 10000"},
		{"?limit=x", "limit must be"},
		{"?cursor=a%20b", "cursor must be"},
		{"?since=1", "unknown parameter(s) since"},
		{"?limit=1&limit=2", "given 2 times"},
	} {
		rec := e.get("/positions" + tt.query)
		if rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d", tt.query, rec.Code)
			continue
		}
		if b := errorOf(t, rec); !strings.Contains(b.Error, tt.errHas) {
			t.Errorf("%s: error %q, want %q", tt.query, b.Error, tt.errHas)
		}
	}
	t.Run("corrupt device hash", func(t *testing.T) {
		e := newEnv(t)
		e.m.ZAdd(e.schema.DeviceIndex(e.schema.PartitionOf("a")), 0, "a")
		e.m.HSet(e.schema.Device(e.schema.PartitionOf("a"), "a"), agg.FieldCount, "1", agg.FieldLastTime, "1", agg.FieldLastLat, "north", agg.FieldLastLon, "1")
		if rec := e.get("/positions"); rec.Code != http.StatusInternalServerError {
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	})
	t.Run("redis down", func(t *testing.T) {
		e := newEnv(t)
		e.m.Close()
		if rec := e.get("/positions"); rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
			t.Errorf("status %d: %s", rec.Code, rec.Body)
		}
	})
}

// TestPositionsAuth: scope read, and a key limited to prefixes sees its
// devices only.
func TestPositionsAuth(t *testing.T) {
	e := newAuthEnv(t)
	var pts []string
	for _, id := range []string{"car-1", "truck-1", "truck-2", "trucker-9"} {
		pts = append(pts, strings.Replace(truckPoint, "truck-1", id, 1))
	}
	if rec := e.call("POST", "/upload", "["+strings.Join(pts, ",")+"]", bearer(apikeytest.All), ""); rec.Code != 200 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	e.process()
	for _, tt := range []struct {
		key    string
		status int
	}{{"", 401}, {apikeytest.Writer, 403}, {apikeytest.Metrics, 403}, {apikeytest.Reader, 200}} {
		var h http.Header
		if tt.key != "" {
			h = bearer(tt.key)
		}
		if rec := e.call("GET", "/positions", "", h, ""); rec.Code != tt.status {
			t.Errorf("key %q: status %d, want %d: %s", tt.key, rec.Code, tt.status, rec.Body)
		}
	}
	if got := e.walkPositions(1, apikeytest.Truck); len(got) != 2 || !strings.HasPrefix(got[0], "truck-1 ") || !strings.HasPrefix(got[1], "truck-2 ") {
		t.Errorf("truck key reads %v, want truck-1 and truck-2", got)
	}
	if got := e.walkPositions(0, apikeytest.Reader); len(got) != 4 {
		t.Errorf("reader reads %d positions, want 4", len(got))
	}
}
