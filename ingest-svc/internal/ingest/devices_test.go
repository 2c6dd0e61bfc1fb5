package ingest

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/point"
)

// positionBody is last_position as a client decodes it.
type positionBody struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Timestamp string  `json:"timestamp"`
}

// deviceBody is an entry of GET /devices, and with Summary the answer of
// GET /devices/{id}.
type deviceBody struct {
	DeviceID     string        `json:"device_id"`
	Count        int64         `json:"count"`
	LastPosition *positionBody `json:"last_position"`
	LastSeen     *string       `json:"last_seen"`
	Summary      *agg.Summary  `json:"summary,omitempty"`
	DistanceM    *float64      `json:"distance_m,omitempty"` // near and bbox queries only
}

type pageBody struct {
	Devices    []deviceBody `json:"devices"`
	NextCursor *string      `json:"next_cursor"`
}

func (e *env) getDevice(id string) deviceBody {
	e.t.Helper()
	path := "/devices/" + url.PathEscape(id)
	var d deviceBody
	decodeStrict(e.t, path, e.get(path), &d)
	return d
}

func (e *env) getPage(query string) pageBody {
	e.t.Helper()
	path := "/devices" + query
	var p pageBody
	decodeStrict(e.t, path, e.get(path), &p)
	if p.Devices == nil {
		e.t.Fatalf("GET %s: devices is null, want a list", path)
	}
	return p
}

// expectDevice is the answer expected for a device's points.
func expectDevice(id string, pts []point.Point) deviceBody {
	var mine []point.Point
	for _, p := range pts {
		if p.DeviceID == id {
			mine = append(mine, p)
		}
	}
	last := slices.MaxFunc(mine, func(a, b point.Point) int { // by time, then latitude, then longitude (apply.lua)
		if a.TimeMs != b.TimeMs {
			return int(a.TimeMs - b.TimeMs)
		}
		if a.LatE7 != b.LatE7 {
			return int(a.LatE7 - b.LatE7)
		}
		return int(a.LonE7 - b.LonE7)
	})
	ts := agg.FormatTime(last.TimeMs)
	sum, _ := sumsOf(mine...).Summary()
	return deviceBody{DeviceID: id, Count: int64(len(mine)), LastSeen: &ts, Summary: &sum,
		LastPosition: &positionBody{Latitude: float64(last.LatE7) / 1e7, Longitude: float64(last.LonE7) / 1e7, Timestamp: ts}}
}

// TestDevicesPagination walks /devices with every page size over devices
// spread across the partitions: every device comes exactly once, in id
// order, with its count and last position.
func TestDevicesPagination(t *testing.T) {
	e := newEnv(t)
	if p := e.getPage(""); len(p.Devices) != 0 || p.NextCursor != nil {
		t.Fatalf("empty store: %+v", p)
	}
	if rec := e.get("/devices"); rec.Body.String() != `{"devices":[],"next_cursor":null}` {
		t.Errorf("empty store body %s", rec.Body)
	}

	var pts []point.Point
	var ids []string
	perPartition := map[int]int{}
	for i := range 23 {
		id := fmt.Sprintf("dev-%02d", (i*7)%23) // uploaded out of id order
		ids = append(ids, id)
		perPartition[e.schema.PartitionOf(id)]++
		for j := range i%3 + 1 {
			pts = append(pts, pointAt(id, float64(i), float64(-j), at("2025-01-23T10:00:00Z")+int64(1000*(i+j))))
		}
	}
	// Two points of one device at the same time: the larger latitude is last.
	pts = append(pts, pointAt("dev-05", 89, 0, at("2025-01-23T11:00:00Z")), pointAt("dev-05", 88, 0, at("2025-01-23T11:00:00Z")))
	if len(perPartition) != e.schema.Partitions() {
		t.Fatalf("devices in %d partitions, want all %d", len(perPartition), e.schema.Partitions())
	}
	e.ingest(pts...)
	e.process()
	slices.Sort(ids)

	for _, limit := range []int{1, 2, 5, 7, 22, 23, 24, 100} {
		t.Run(fmt.Sprint("limit ", limit), func(t *testing.T) {
			var got []string
			cursor, pages := "", 0
			for {
				q := fmt.Sprintf("?limit=%d", limit)
				if cursor != "" {
					q += "&cursor=" + cursor
				}
				p := e.getPage(q)
				pages++
				if len(p.Devices) > limit || (p.NextCursor != nil && len(p.Devices) != limit) {
					t.Fatalf("page %s: %d devices, next %v", q, len(p.Devices), p.NextCursor)
				}
				for _, d := range p.Devices {
					got = append(got, d.DeviceID)
					want := expectDevice(d.DeviceID, pts)
					want.Summary = nil
					if !reflect.DeepEqual(d, want) {
						t.Errorf("device %+v\nwant %+v", d, want)
					}
				}
				if p.NextCursor == nil {
					break
				}
				if *p.NextCursor != p.Devices[len(p.Devices)-1].DeviceID {
					t.Fatalf("next_cursor %q is not the last id of the page", *p.NextCursor)
				}
				cursor = *p.NextCursor
			}
			if !slices.Equal(got, ids) {
				t.Errorf("walk returned\n%v\nwant\n%v", got, ids)
			}
			if want := (len(ids) + limit - 1) / limit; pages != want {
				t.Errorf("%d pages, want %d (the last page ends with next_cursor null)", pages, want)
			}
		})
	}
	if p := e.getPage(""); len(p.Devices) != 23 || p.NextCursor != nil {
		t.Errorf("default limit: %d devices, next %v", len(p.Devices), p.NextCursor)
	}
	// A cursor need not be a known device: the page starts after it.
	if p := e.getPage("?cursor=dev-10a&limit=2"); len(p.Devices) != 2 || p.Devices[0].DeviceID != "dev-11" {
		t.Errorf("cursor between ids: %+v", p.Devices)
	}
	if d := e.getPage("?cursor=dev-05&limit=1").Devices[0]; d.DeviceID != "dev-06" {
		t.Errorf("cursor is exclusive: got %s", d.DeviceID)
	}
	if d := e.getDevice("dev-05"); d.LastPosition == nil || d.LastPosition.Latitude != 89 {
		t.Errorf("tie on time: last position %+v, want latitude 89", d.LastPosition)
	}
}

func TestDevicesErrors(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		path   string
		status int
		errHas string
	}{
		{"/devices?limit=0", 400, "limit must be a whole number from 1 to 1000"},
		{"/devices?limit=1001", 400, "limit must be"},
		{"/devices?limit=ten", 400, "limit must be"},
		{"/devices?cursor=a%20b", 400, "cursor must be the next_cursor"},
		{"/devices?cursor=(x", 400, "cursor must be"},
		{"/devices?page=2", 400, "unknown parameter(s) page; accepted: cursor, limit"},
		{"/devices?limit=1&limit=2", 400, "limit is given 2 times"},
		{"/devices?a=%zz", 400, "query string does not parse"},
		{"/devices/ghost", 404, `no point of device "ghost" has been counted`},
		{"/devices/a%20b", 400, "device id in the path"},
		{"/devices/" + strings.Repeat("x", 129), 400, "device id in the path"},
		{"/devices/x?verbose=1", 400, "unknown parameter(s) verbose; this endpoint takes none"},
		{"/devices/", 404, "no such endpoint"},
		{"/devices/a/b", 404, "no such endpoint"},
	} {
		t.Run(tt.path, func(t *testing.T) { e.wantError(tt.path, tt.status, tt.errHas) })
	}

	t.Run("redis down", func(t *testing.T) {
		e := newEnv(t)
		e.m.Close()
		for _, path := range []string{"/devices", "/devices/a"} {
			rec := e.get(path)
			if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
				t.Errorf("%s: status %d, Retry-After %q: %s", path, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
		}
	})
	t.Run("corrupt device hash", func(t *testing.T) {
		e := newEnv(t)
		e.m.ZAdd(e.schema.DeviceIndex(e.schema.PartitionOf("a")), 0, "a")
		e.m.HSet(e.schema.Device(e.schema.PartitionOf("a"), "a"), agg.FieldCount, "1", agg.FieldLastTime, "soon")
		for _, path := range []string{"/devices", "/devices/a"} {
			if rec := e.get(path); rec.Code != http.StatusInternalServerError {
				t.Errorf("%s: status %d: %s", path, rec.Code, rec.Body)
			}
		}
	})
}

// TestDeviceDetail checks GET /devices/{id} against the device's points,
// and that its summary is the all-time /retrieve of the device.
func TestDeviceDetail(t *testing.T) {
	e := newEnv(t)
	id := "truck:7.a_b-c"
	pts := []point.Point{
		pointAt(id, 52.52, 13.405, at("2025-01-23T11:59:00Z")),
		pointAt(id, 48.8566, 2.3522, at("2025-01-23T08:00:00Z")), // older, uploaded later
		pointAt("other", 1, 1, at("2025-01-23T11:59:30Z")),
	}
	e.ingest(pts...)
	e.process()
	got := e.getDevice(id)
	if want := expectDevice(id, pts); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if got.Count != 2 || got.LastPosition.Latitude != 52.52 || *got.LastSeen != "2025-01-23T11:59:00.000Z" {
		t.Errorf("by hand: %+v %+v", got, got.LastPosition)
	}
	if all := getSummary(t, e, "/retrieve?device_id="+id); !reflect.DeepEqual(*got.Summary, all) {
		t.Errorf("summary %+v, /retrieve says %+v", *got.Summary, all)
	}
}
