package point

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/geo"
)

// FuzzDecode checks that Decode never panics, that it returns either points
// or a *DecodeError, that every point it returns is valid, that it never
// accepts a body (or NDJSON line) that encoding/json rejects, and that its
// single pass gives exactly what the thorough decode (json.Valid first)
// gives: the same points, or the same details.
func FuzzDecode(f *testing.F) {
	for _, s := range onePassBodies {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	for _, s := range []string{
		`{"timestamp":"2025-01-23T12:00:00Z","latitude":52.52,"longitude":13.405}`,
		`[{"latitude":1,"longitude":2,"device_id":"a","altitude":1,"speed":2,"heading":3,"accuracy":4}]`,
		`{"latitude":NaN,"longitude":0}`,
		`{"latitude":Infinity,"longitude":-Infinity}`,
		`{"latitude":1e400,"longitude":-1e400}`,
		`{"latitude":1e-400,"longitude":4.9e-324}`,
		`{"latitude":179769313486231570000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000.0,"longitude":0}`,
		`{"latitude":90.00000004,"longitude":-180.00000004}`,
		`{"latitude":0,"longitude":0,"device_id":"\u00e9\ud800"}`,
		"{\"latitude\":0,\"longitude\":0,\"device_id\":\"\xff\xfe\"}",
		"{\"l\xc3\x28\":0}",
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"latitude":0,"longitude":0,"x":{"a":{"b":{"c":[1,[2,[3,{"d":null}]]]}}}}`,
		`[{"latitude":1,"longitude":2},{"latitude":1,"longitude"`,
		`{"timestamp":"9999-12-31T23:59:59.999999999Z","latitude":0,"longitude":0}`,
		`{"timestamp":"1969-12-31T23:59:59Z","latitude":0,"longitude":0}`,
		`{"timestamp":"2025-01-23T12:00:00+14:00","latitude":0,"longitude":0}`,
		`{"latitude":0,"longitude":0,"latitude":0}`,
		"\xef\xbb\xbf[]",
		"{\"latitude\":1,\"longitude\":2}\n\n{\"latitude\":3,\"longitude\":4}\r\n",
		"",
		"[",
		"{",
		`"just a string"`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	opts := testOpts()
	opts.MaxPoints = 50
	opts.MaxDetails = 7
	maxMs := testNow.Add(DefaultMaxClockSkew).UnixMilli()
	f.Fuzz(func(t *testing.T, data []byte, ndjson bool) {
		kind := BodyJSON
		if ndjson {
			kind = BodyNDJSON
		}
		pts, err := DecodeBytes(data, kind, opts)
		slowPts, slowErr := decodeBytes(data, kind, opts, false)
		if !reflect.DeepEqual(pts, slowPts) || !reflect.DeepEqual(err, slowErr) {
			t.Fatalf("%q: single pass gives %s, %v; the thorough decode %s, %v",
				data, fmtPoints(pts), err, fmtPoints(slowPts), slowErr)
		}
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is %T, want *DecodeError", err, err)
			}
			if pts != nil {
				t.Fatalf("%d points returned with an error", len(pts))
			}
			if len(de.Details) == 0 || len(de.Details) > opts.MaxDetails {
				t.Fatalf("%d details, want 1..%d", len(de.Details), opts.MaxDetails)
			}
			for _, d := range de.Details {
				if d.Message == "" || d.Index < BodyIndex || d.Index > opts.MaxPoints {
					t.Fatalf("bad detail %+v", d)
				}
			}
			return
		}
		if len(pts) == 0 || len(pts) > opts.MaxPoints {
			t.Fatalf("%d points without an error, want 1..%d", len(pts), opts.MaxPoints)
		}
		if kind == BodyJSON && !json.Valid(trimBOM(data)) {
			t.Fatalf("points decoded from invalid JSON %q", data)
		}
		if kind == BodyNDJSON {
			for _, l := range bytes.Split(trimBOM(data), []byte("\n")) {
				if len(bytes.TrimLeft(l, jsonSpace)) > 0 && !json.Valid(l) {
					t.Fatalf("points decoded from an invalid NDJSON line %q", l)
				}
			}
		}
		checkAgainstEncodingJSON(t, data, kind, pts)
		for i, p := range pts {
			if err := ValidDeviceID(p.DeviceID); err != nil {
				t.Fatalf("point %d: device %q: %v", i, p.DeviceID, err)
			}
			if p.LatE7 < -90*geo.DegreeScale || p.LatE7 > 90*geo.DegreeScale ||
				p.LonE7 < -180*geo.DegreeScale || p.LonE7 > 180*geo.DegreeScale {
				t.Fatalf("point %d: position %d, %d out of range", i, p.LatE7, p.LonE7)
			}
			if p.TimeMs < 0 || p.TimeMs > maxMs {
				t.Fatalf("point %d: time %d out of range", i, p.TimeMs)
			}
			e := p.Extras
			for _, v := range []*float64{e.Altitude, e.Speed, e.Heading, e.Accuracy} {
				if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0)) {
					t.Fatalf("point %d: extra %v not finite", i, *v)
				}
			}
			if (e.Speed != nil && *e.Speed < 0) || (e.Accuracy != nil && *e.Accuracy < 0) ||
				(e.Heading != nil && (*e.Heading < 0 || *e.Heading > 360)) {
				t.Fatalf("point %d: extras out of range: %s", i, fmtPoints(pts[i:i+1]))
			}
		}
	})
}

// checkAgainstEncodingJSON decodes the objects of a body that Decode
// accepted with encoding/json, and checks that Decode read the same values.
func checkAgainstEncodingJSON(t *testing.T, data []byte, kind BodyKind, pts []Point) {
	t.Helper()
	var objs []map[string]any
	if kind == BodyNDJSON {
		for _, l := range bytes.Split(trimBOM(data), []byte("\n")) {
			if len(bytes.TrimSpace(l)) == 0 {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Fatalf("line %q accepted by Decode: encoding/json: %v", l, err)
			}
			objs = append(objs, m)
		}
	} else {
		var v any
		if err := json.Unmarshal(trimBOM(data), &v); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		switch v := v.(type) {
		case map[string]any:
			objs = []map[string]any{v}
		case []any:
			for _, o := range v {
				objs = append(objs, o.(map[string]any))
			}
		}
	}
	if len(objs) != len(pts) {
		t.Fatalf("Decode returned %d points, encoding/json sees %d objects", len(pts), len(objs))
	}
	for i, m := range objs {
		p := pts[i]
		if got, want := p.LatE7, geo.ToFixed(m["latitude"].(float64)); got != want {
			t.Errorf("point %d: LatE7 %d, encoding/json says %d", i, got, want)
		}
		if got, want := p.LonE7, geo.ToFixed(m["longitude"].(float64)); got != want {
			t.Errorf("point %d: LonE7 %d, encoding/json says %d", i, got, want)
		}
		if id, _ := m["device_id"].(string); id != "" && id != p.DeviceID {
			t.Errorf("point %d: device %q, encoding/json says %q", i, p.DeviceID, id)
		}
		if ts, _ := m["timestamp"].(string); ts != "" {
			tm, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || tm.UnixMilli() != p.TimeMs {
				t.Errorf("point %d: time %d, encoding/json says %q", i, p.TimeMs, ts)
			}
		}
		for _, e := range []struct {
			name string
			v    *float64
		}{{"altitude", p.Extras.Altitude}, {"speed", p.Extras.Speed}, {"heading", p.Extras.Heading}, {"accuracy", p.Extras.Accuracy}} {
			want, ok := m[e.name].(float64)
			if ok != (e.v != nil) || (ok && want != *e.v) {
				t.Errorf("point %d: %s %v, encoding/json says %v", i, e.name, e.v, m[e.name])
			}
		}
	}
}

func trimBOM(b []byte) []byte {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		return b[3:]
	}
	return b
}
