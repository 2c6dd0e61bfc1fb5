package client_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/streamkit/point"
)

func TestEncodePayload(t *testing.T) {
	spd, hdg := 10.0, 90.0
	pt := point.Point{DeviceID: "sim-0001", TimeMs: 1737633600123, LatE7: 525200066, LonE7: -1234049540,
		Extras: point.Extras{Speed: &spd, Heading: &hdg}}
	for _, tc := range []struct {
		p                   client.Protocol
		method, path, ctype string
		has                 []string
	}{
		{client.ProtocolUpload, "POST", "upload", "application/json", []string{`"latitude":52.5200066`, `"longitude":-123.404954`, `"device_id":"sim-0001"`}},
		{client.ProtocolOwnTracks, "POST", "owntracks", "application/json; charset=utf-8",
			[]string{`"_type":"location"`, `"lat":52.5200066`, `"lon":-123.404954`, `"tst":1737633600,`, `"vel":36`, `"cog":90`}},
		{client.ProtocolTraccar, "POST", "traccar", "application/json",
			[]string{`"timestamp":"2025-01-23T12:00:00.123Z"`, `"latitude":52.5200066`, `"speed":10`, `"device_id":"sim-0001"`}},
		{client.ProtocolOverland, "POST", "overland", "application/json",
			[]string{`"coordinates":[-123.404954,52.5200066]`, `"device_id":"sim-0001"`, `"speed":10`, `"course":90`}},
	} {
		pts := []point.Point{pt}
		tc.p.Prepare(pts)
		pl, err := client.EncodePayload(tc.p, client.FormatJSON, pts)
		if err != nil {
			t.Fatalf("%s: %v", tc.p, err)
		}
		if pl.Method != tc.method || pl.Path != tc.path || pl.ContentType != tc.ctype || !json.Valid(pl.Body) {
			t.Errorf("%s: %s %s %q %s", tc.p, pl.Method, pl.Path, pl.ContentType, pl.Body)
		}
		for _, h := range tc.has {
			if !strings.Contains(string(pl.Body), h) {
				t.Errorf("%s: body %s lacks %s", tc.p, pl.Body, h)
			}
		}
	}
	if pl, _ := client.EncodePayload(client.ProtocolOwnTracks, client.FormatJSON, []point.Point{pt}); pl.Header["X-Limit-D"] != "sim-0001" {
		t.Errorf("owntracks headers %v", pl.Header)
	}
	pl, err := client.EncodePayload(client.ProtocolOsmAnd, client.FormatJSON, []point.Point{pt})
	q, _ := url.ParseQuery(pl.Query)
	if err != nil || pl.Method != "GET" || pl.Path != "osmand" || q.Get("id") != "sim-0001" || q.Get("lat") != "52.5200066" ||
		q.Get("lon") != "-123.404954" || q.Get("timestamp") != "1737633600123" || q.Get("bearing") != "90" {
		t.Errorf("osmand: %+v, %v", pl, err)
	}
	// OwnTracks carries whole seconds: Prepare makes the points what is stored.
	pts := []point.Point{pt}
	client.ProtocolOwnTracks.Prepare(pts)
	if pts[0].TimeMs != 1737633600000 {
		t.Errorf("owntracks time %d", pts[0].TimeMs)
	}
	// One point per request where the app sends one.
	for _, p := range []client.Protocol{client.ProtocolOwnTracks, client.ProtocolOsmAnd, client.ProtocolTraccar} {
		if _, err := client.EncodePayload(p, client.FormatJSON, []point.Point{pt, pt}); err == nil {
			t.Errorf("%s: two points encoded", p)
		}
	}
	if _, err := client.ParseProtocol("mqtt"); err == nil {
		t.Error("ParseProtocol(mqtt) did not fail")
	}
}
