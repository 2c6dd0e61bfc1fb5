package ingest

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/ingest-svc/internal/apikey/apikeytest"
	"github.com/geostream/geostream/streamkit/point"
)

// The apps' requests; each app's source is cited in the devproto tests.
const (
	// owntracks/android HttpMessageProcessorEndpoint.kt, MessageLocation.kt.
	owntracksLocation = `{"_type":"location","acc":13,"alt":34,"batt":87,"bs":1,"conn":"w","lat":52.5200066,"lon":13.404954,` +
		`"t":"u","tid":"ph","topic":"owntracks/http/ph","tst":1737633540,"vel":18,"cog":271}`
	// traccar/traccar-client lib/preferences.dart (_locationTemplate).
	traccarJSON = `{"location":{"timestamp":"2025-01-23T11:59:00.250Z","coords":{"latitude":52.52,"longitude":13.405,` +
		`"accuracy":4.7,"speed":1.25,"heading":187.3,"altitude":40.1},"is_moving":true,"odometer":1234.5,"event":"",` +
		`"battery":{"level":0.42,"is_charging":false},"activity":{"type":"walking"},"extras":{},"_":"&id=31415926&"},"device_id":"31415926"}`
	// aaronpk/Overland-iOS README.md "API".
	overlandJSON = `{"locations":[{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.030581,37.3318]},` +
		`"properties":{"timestamp":"2025-01-23T11:59:00Z","altitude":12,"speed":4,"course":91,"horizontal_accuracy":30,` +
		`"motion":["driving"],"battery_state":"charging","battery_level":0.89,"device_id":"iphone","wifi":""}},` +
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.03,37.33]},"properties":{"timestamp":"2025-01-23T11:59:30Z",` +
		`"type":"trip","mode":"car","device_id":"iphone"}}],"trip":{"mode":"car"}}`
)

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestDeviceProtocols posts each app's request and checks the answer the
// app needs and the points stored.
func TestDeviceProtocols(t *testing.T) {
	for _, tc := range []struct {
		name       string
		r          req
		status     int
		body       string // the exact answer; "" for an empty one
		ids        []string
		latE7      int64 // of the first point
		speed, bat float64
	}{
		{"owntracks", req{method: "POST", path: "/owntracks", body: []byte(owntracksLocation),
			header: map[string]string{"Content-Type": "application/json; charset=utf-8", "X-Limit-U": "alice", "X-Limit-D": "phone"}},
			200, "[]", []string{"alice:phone"}, 525200066, 5, 87},
		{"osmand GET", req{method: "GET", path: "/osmand?id=phone-1&lat=52.52&lon=13.405&timestamp=1737633540&speed=10&batt=50"},
			200, "", []string{"phone-1"}, 525200000, 10 * 1852.0 / 3600, 50},
		{"osmand POST form", req{method: "POST", path: "/osmand", body: []byte("id=phone-1&lat=52.52&lon=13.405&timestamp=2025-01-23+11:59:00&speed=0&batt=50"),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
			200, "", []string{"phone-1"}, 525200000, 0, 50},
		{"traccar 9.x", req{method: "POST", path: "/traccar", body: []byte(traccarJSON), header: map[string]string{"Content-Type": "application/json"}},
			200, "", []string{"31415926"}, 525200000, 1.25, 42},
		{"traccar 10.x form", req{method: "POST", path: "/traccar", body: []byte("id=31415926&timestamp=1737633540&lat=52.52&lon=13.405&speed=2&batt=42"),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
			200, "", []string{"31415926"}, 525200000, 2 * 1852.0 / 3600, 42},
		{"traccar legacy", req{method: "POST", path: "/traccar?id=31415926&timestamp=1737633540&lat=52.52&lon=13.405&speed=2&batt=42"},
			200, "", []string{"31415926"}, 525200000, 2 * 1852.0 / 3600, 42},
		{"overland", req{method: "POST", path: "/overland", body: []byte(overlandJSON), header: map[string]string{"Content-Type": "application/json"}},
			200, `{"result":"ok"}`, []string{"iphone"}, 373318000, 4, 89},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			rec := e.do(tc.r)
			if rec.Code != tc.status || rec.Body.String() != tc.body {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body, tc.status, tc.body)
			}
			pts := e.storedPoints()
			if len(pts) != len(tc.ids) {
				t.Fatalf("stored %d points, want %d", len(pts), len(tc.ids))
			}
			if pts[0].DeviceID != tc.ids[0] || pts[0].LatE7 != tc.latE7 {
				t.Errorf("stored %+v", pts[0])
			}
			if pts[0].Extras.Speed == nil || *pts[0].Extras.Speed-tc.speed > 1e-9 || tc.speed-*pts[0].Extras.Speed > 1e-9 {
				t.Errorf("speed %v, want %v", pts[0].Extras.Speed, tc.speed)
			}
		})
	}
}

// TestOwnTracksAlways200: the app puts anything but a 2xx back at the head
// of its queue; other messages and invalid locations are counted, not
// stored.
func TestOwnTracksAlways200(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{
		"",
		`{"_type":"lwt","tst":1737633540}`,
		`{"_type":"transition","event":"enter","lat":1,"lon":2,"tst":1737633540,"tid":"ph","wtst":1,"acc":5,"t":"c"}`,
		`{"_type":"waypoints","waypoints":[]}`,
		`{"_type":"card","name":"Alice"}`,
		`{"_type":"location","lat":95,"lon":13,"tst":1737633540}`, // invalid: dropped
		`{"_type":"location","lat":5,"lon":13,"tst":1737633540}`,  // no device: dropped
		`not json`,
	} {
		rec := e.do(req{method: "POST", path: "/owntracks", body: []byte(body), header: map[string]string{"Content-Type": "application/json"}})
		if rec.Code != 200 || rec.Body.String() != "[]" {
			t.Errorf("%q: got %d %q, want 200 []", body, rec.Code, rec.Body)
		}
	}
	if n := e.streamLen(); n != 0 {
		t.Errorf("stored %d entries, want none", n)
	}
	out := e.do(req{method: "GET", path: "/metrics"}).Body.String()
	for _, want := range []string{
		`geostream_ingest_protocol_points_dropped_total{protocol="owntracks"} 3`,
		`geostream_ingest_protocol_messages_ignored_total{protocol="owntracks",type="empty"} 1`,
		`geostream_ingest_protocol_messages_ignored_total{protocol="owntracks",type="lwt"} 1`,
		`geostream_ingest_protocol_messages_ignored_total{protocol="owntracks",type="transition"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestDeviceProtocolErrors: the other apps get a 4xx naming the field,
// and nothing of the request is stored.
func TestDeviceProtocolErrors(t *testing.T) {
	e := newEnv(t, func(c *RouterConfig) { c.MaxBatch = 2; c.RateBurst = 2 })
	for _, tc := range []struct {
		name   string
		r      req
		status int
		field  string
		index  int // -1: none
	}{
		{"osmand without id", req{method: "GET", path: "/osmand?lat=1&lon=2"}, 400, "id", -1},
		{"osmand bad latitude", req{method: "GET", path: "/osmand?id=a&lat=91&lon=2"}, 400, "lat", -1},
		{"osmand bad query", req{method: "GET", path: "/osmand?id=a&lat=%zz"}, 400, "", -1},
		{"traccar bad speed", req{method: "POST", path: "/traccar", header: map[string]string{"Content-Type": "application/json"},
			body: []byte(`{"location":{"coords":{"latitude":1,"longitude":2,"heading":400}},"device_id":"a"}`)}, 400, "location.coords.heading", -1},
		{"overland second location bad", req{method: "POST", path: "/overland", header: map[string]string{"Content-Type": "application/json"},
			body: []byte(`{"locations":[{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"device_id":"a"}},` +
				`{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"device_id":"a","speed":"fast"}}]}`)}, 400, "properties.speed", 1},
		{"overland too many", req{method: "POST", path: "/overland", header: map[string]string{"Content-Type": "application/json"},
			body: []byte(`{"locations":[{},{},{}]}`)}, 413, "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := e.do(tc.r)
			if rec.Code != tc.status {
				t.Fatalf("got %d %s, want %d", rec.Code, rec.Body, tc.status)
			}
			eb := errorOf(t, rec)
			if tc.field != "" {
				d := eb.Details[0]
				if d.Field != tc.field || (tc.index < 0) != (d.Index == nil) || (d.Index != nil && *d.Index != tc.index) {
					t.Errorf("details %+v, want field %s index %d", eb.Details, tc.field, tc.index)
				}
			}
		})
	}
	if n := e.streamLen(); n != 0 {
		t.Errorf("stored %d entries, want none", n)
	}
}

// TestDeviceAuth: each way an app can send its key; scopes and device
// prefixes apply to the mapped device id.
func TestDeviceAuth(t *testing.T) {
	e := newAuthEnv(t)
	own := func(hdr map[string]string, path string) int {
		h := map[string]string{"Content-Type": "application/json"}
		for k, v := range hdr {
			h[k] = v
		}
		return e.do(req{method: "POST", path: path, body: []byte(owntracksLocation), header: h}).Code
	}
	for _, tc := range []struct {
		name   string
		code   int
		status int
	}{
		{"no key", own(map[string]string{"X-Limit-U": "truck-9"}, "/owntracks"), 401},
		{"basic password", own(map[string]string{"Authorization": basic("truck-9", apikeytest.Truck), "X-Limit-D": "ph"}, "/owntracks"), 200},
		{"basic user is the device user", own(map[string]string{"Authorization": basic("car-1", apikeytest.Truck)}, "/owntracks"), 403},
		{"basic wrong password", own(map[string]string{"Authorization": basic("truck-9", apikeytest.Unknown)}, "/owntracks"), 401},
		{"key in the URL", own(nil, "/owntracks?key="+apikeytest.Writer+"&u=a"), 200},
		{"reader key", own(nil, "/owntracks?key="+apikeytest.Reader+"&u=a"), 403},
		{"two different keys", own(map[string]string{"Authorization": "Bearer " + apikeytest.Writer}, "/owntracks?key="+apikeytest.All+"&u=a"), 401},
		{"osmand key", e.do(req{method: "GET", path: "/osmand?id=truck-2&lat=1&lon=2&key=" + apikeytest.Truck}).Code, 200},
		{"osmand outside the prefixes", e.do(req{method: "GET", path: "/osmand?id=car-2&lat=1&lon=2&key=" + apikeytest.Truck}).Code, 403},
		{"overland access_token", e.do(req{method: "POST", path: "/overland?access_token=" + apikeytest.Writer, body: []byte(overlandJSON)}).Code, 200},
		{"overland bearer", e.do(req{method: "POST", path: "/overland", body: []byte(overlandJSON),
			header: map[string]string{"Authorization": "Bearer " + apikeytest.Writer}}).Code, 200},
	} {
		if tc.code != tc.status {
			t.Errorf("%s: got %d, want %d", tc.name, tc.code, tc.status)
		}
	}
	got := map[string]int{}
	for _, p := range e.storedPoints() {
		got[p.DeviceID]++
	}
	if len(got) != 4 || got["truck-9:ph"] != 1 || got["a:ph"] != 1 || got["truck-2"] != 1 || got["iphone"] != 2 {
		t.Errorf("stored devices %v", got)
	}
}

// TestDeviceKeyNotLogged: a key in the URL never reaches the request log.
func TestDeviceKeyNotLogged(t *testing.T) {
	var logs bytes.Buffer
	e := newEnv(t)
	e.router = NewRouter(e.cfg, Deps{Redis: e.rdb, Schema: e.schema, Windows: e.wins, Now: func() time.Time { return e.now },
		Keys: testKeySet(t), Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	for _, path := range []string{
		"/osmand?id=a&lat=1&lon=2&key=" + apikeytest.Writer,
		"/osmand?id=a&lat=91&lon=2&key=" + apikeytest.Writer,
		"/osmand?id=a&lat=1&lon=2&key=" + apikeytest.Unknown,
		"/owntracks?u=a&key=" + apikeytest.Writer,
	} {
		e.do(req{method: "POST", path: path, body: []byte(`{"_type":"location","lat":95,"lon":1}`)})
	}
	if !strings.Contains(logs.String(), "request") {
		t.Fatalf("no request log: %s", logs.String())
	}
	for _, k := range []string{apikeytest.Writer, apikeytest.Unknown} {
		if strings.Contains(logs.String(), k) {
			t.Errorf("the log holds the key %s:\n%s", k, logs.String())
		}
	}
}

// TestDeviceIdempotency: an app's retry with the same Idempotency-Key is
// stored once.
func TestDeviceIdempotency(t *testing.T) {
	e := newEnv(t)
	r := req{method: "POST", path: "/overland", body: []byte(overlandJSON), header: map[string]string{"Idempotency-Key": "batch-1"}}
	for i := range 2 {
		rec := e.do(r)
		if rec.Code != 200 || (i == 1) != (rec.Header().Get("Idempotent-Replayed") == "true") {
			t.Fatalf("attempt %d: %d %s, replayed %q", i, rec.Code, rec.Body, rec.Header().Get("Idempotent-Replayed"))
		}
	}
	if n := e.streamLen(); n != 1 {
		t.Errorf("stored %d entries, want 1", n)
	}
	r.path = "/osmand?id=a&lat=1&lon=2"
	r.body = nil
	if rec := e.do(r); rec.Code != http.StatusUnprocessableEntity {
		t.Errorf("same key, other content: %d, want 422", rec.Code)
	}
}

// TestUploadGeoJSON: /upload takes a FeatureCollection, all or nothing.
func TestUploadGeoJSON(t *testing.T) {
	e := newEnv(t)
	fc := `{"type":"FeatureCollection","features":[` +
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[13.405,52.52]},"properties":{"device_id":"truck-1","battery":80}},` +
		`{"type":"Feature","geometry":{"type":"Point","coordinates":[2.35,48.85,35]},"properties":{"timestamp":"2025-01-23T11:00:00Z"}}]}`
	rec := e.upload(fc, "Content-Type", "application/geo+json")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"accepted":2`) {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	bad := strings.Replace(fc, "48.85", "98.85", 1)
	rec = e.upload(bad, "Content-Type", "application/geo+json")
	eb := errorOf(t, rec)
	if rec.Code != 400 || eb.Details[0].Field != "geometry.coordinates[1]" || *eb.Details[0].Index != 1 {
		t.Fatalf("got %d %+v", rec.Code, eb)
	}
	pts := e.storedPoints()
	if len(pts) != 2 {
		t.Fatalf("stored %d points", len(pts))
	}
	byID := map[string]point.Point{}
	for _, p := range pts {
		byID[p.DeviceID] = p
	}
	if p := byID["default"]; p.Extras.Altitude == nil || *p.Extras.Altitude != 35 {
		t.Errorf("stored %+v", pts)
	}
}
