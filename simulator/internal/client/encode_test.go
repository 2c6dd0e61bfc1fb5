package client_test

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/simulator/internal/gen"
	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// wire is the API's point as a server decodes it.
type wire struct {
	Timestamp string   `json:"timestamp"`
	Latitude  float64  `json:"latitude"`
	Longitude float64  `json:"longitude"`
	DeviceID  string   `json:"device_id"`
	Altitude  *float64 `json:"altitude"`
	Speed     *float64 `json:"speed"`
	Heading   *float64 `json:"heading"`
	Accuracy  *float64 `json:"accuracy"`
}

// decodeStrict decodes one point the way the API does: unknown fields are
// an error.
func decodeStrict(t *testing.T, b []byte) wire {
	t.Helper()
	var w wire
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return w
}

// TestEncodeIsExact checks that what the simulator sends is what the
// server stores: decoding the JSON and applying geo.ToFixed gives back the
// generated integers, and the timestamp parses back to the same
// millisecond.
func TestEncodeIsExact(t *testing.T) {
	edge := []point.Point{
		{DeviceID: "a", TimeMs: 0, LatE7: 1, LonE7: -1},
		{DeviceID: "b", TimeMs: 1, LatE7: 90 * geo.DegreeScale, LonE7: 180 * geo.DegreeScale},
		{DeviceID: "c", TimeMs: 1737633600123, LatE7: -90 * geo.DegreeScale, LonE7: -180 * geo.DegreeScale},
		{DeviceID: "d", TimeMs: 4102444800999, LatE7: 899999999, LonE7: -1799999999},
		{DeviceID: "e", TimeMs: 999, LatE7: 123456789, LonE7: 3},
	}
	for _, tc := range []struct {
		name string
		mode gen.Mode
	}{{"tracks", gen.ModeTracks}, {"uniform", gen.ModeUniform}, {"edge values", ""}} {
		t.Run(tc.name, func(t *testing.T) {
			pts := edge
			if tc.mode != "" {
				g, err := gen.New(gen.Config{Devices: 10, Seed: 4, Mode: tc.mode, Start: time.Unix(1737633600, 0)})
				if err != nil {
					t.Fatal(err)
				}
				pts = make([]point.Point, 5000)
				for i := range pts {
					pts[i] = g.Next()
				}
			}
			for i := range pts {
				p := &pts[i]
				w := decodeStrict(t, client.AppendPoint(nil, p))
				ts, err := time.Parse(time.RFC3339Nano, w.Timestamp)
				if err != nil {
					t.Fatalf("point %d timestamp %q: %v", i, w.Timestamp, err)
				}
				got := point.Point{DeviceID: w.DeviceID, TimeMs: ts.UnixMilli(), LatE7: geo.ToFixed(w.Latitude), LonE7: geo.ToFixed(w.Longitude)}
				if got.DeviceID != p.DeviceID || got.TimeMs != p.TimeMs || got.LatE7 != p.LatE7 || got.LonE7 != p.LonE7 {
					t.Fatalf("point %d: sent %+v, server would store %+v", i, *p, got)
				}
				if (p.Extras.Speed == nil) != (w.Speed == nil) || (w.Speed != nil && *w.Speed != *p.Extras.Speed) {
					t.Fatalf("point %d: speed not sent as generated", i)
				}
			}
		})
	}
}

func TestEncodeForms(t *testing.T) {
	two := []point.Point{{DeviceID: "a", LatE7: 1}, {DeviceID: "b", LonE7: 2}}
	for _, tc := range []struct {
		name    string
		pts     []point.Point
		format  client.Format
		ct      string
		prefix  string
		objects int
	}{
		{"one point is an object", two[:1], client.FormatJSON, client.ContentTypeJSON, "{", 1},
		{"several are an array", two, client.FormatJSON, client.ContentTypeJSON, "[", 2},
		{"ndjson is one per line", two, client.FormatNDJSON, client.ContentTypeNDJSON, "{", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, ct := client.Encode(nil, tc.pts, tc.format)
			if ct != tc.ct || !bytes.HasPrefix(body, []byte(tc.prefix)) {
				t.Fatalf("body %s content type %s", body, ct)
			}
			n := 0
			if tc.format == client.FormatNDJSON {
				for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
					decodeStrict(t, line)
					n++
				}
			} else if body[0] == '[' {
				var arr []json.RawMessage
				if err := json.Unmarshal(body, &arr); err != nil {
					t.Fatal(err)
				}
				for _, o := range arr {
					decodeStrict(t, o)
				}
				n = len(arr)
			} else {
				decodeStrict(t, body)
				n = 1
			}
			if n != tc.objects {
				t.Fatalf("%d objects, want %d", n, tc.objects)
			}
		})
	}
}
