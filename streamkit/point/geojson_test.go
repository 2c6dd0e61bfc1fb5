package point

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDecodeGeoJSON(t *testing.T) {
	now := time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)
	opts := DecodeOptions{Now: func() time.Time { return now }, MaxPoints: 3}
	body := `{"type": "FeatureCollection", "features": [
	 {"type": "Feature", "geometry": {"type": "Point", "coordinates": [13.405, 52.52]},
	  "properties": {"timestamp": "2025-01-23T11:00:00.5Z", "device_id": "truck-1", "speed": 3.5, "heading": 90,
	   "accuracy": 5, "battery": 80, "name": "ignored"}},
	 {"type": "Feature", "geometry": {"type": "Point", "coordinates": [-179.5, -45, 12.5]}, "properties": null}]}`
	pts, err := DecodeBytes([]byte(body), BodyGeoJSON, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(pts) != 2 {
		t.Fatalf("got %d points", len(pts))
	}
	p := pts[0]
	if p.DeviceID != "truck-1" || p.LatE7 != 525200000 || p.LonE7 != 134050000 ||
		p.TimeMs != time.Date(2025, 1, 23, 11, 0, 0, 5e8, time.UTC).UnixMilli() ||
		*p.Extras.Speed != 3.5 || *p.Extras.Heading != 90 || *p.Extras.Accuracy != 5 || *p.Extras.Battery != 80 ||
		p.Extras.Altitude != nil {
		t.Errorf("point 0: %+v", p)
	}
	q := pts[1]
	if q.DeviceID != DefaultDevice || q.TimeMs != now.UnixMilli() || q.LonE7 != -1795000000 || *q.Extras.Altitude != 12.5 {
		t.Errorf("point 1: %+v", q)
	}
}

func TestDecodeGeoJSONErrors(t *testing.T) {
	opts := DecodeOptions{MaxPoints: 2}
	feature := func(coords, props string) string {
		return `{"type": "Feature", "geometry": {"type": "Point", "coordinates": ` + coords + `}, "properties": ` + props + `}`
	}
	ok := feature("[1, 2]", "{}")
	for _, tc := range []struct {
		name, body string
		want       []string // "index field" of each detail
	}{
		{"not json", `{"type":`, []string{"-1 "}},
		{"not a collection", `{"type": "Feature"}`, []string{"-1 type"}},
		{"empty", `{"type": "FeatureCollection", "features": []}`, []string{"-1 features"}},
		{"too many", `{"type": "FeatureCollection", "features": [` + ok + `,` + ok + `,` + ok + `]}`, []string{"-1 "}},
		{"bad feature", `{"type": "FeatureCollection", "features": [` + ok + `, 5]}`, []string{"1 "}},
		{"line string", `{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]}}]}`,
			[]string{"0 geometry"}},
		{"one coordinate", `{"type": "FeatureCollection", "features": [` + feature("[1]", "{}") + `]}`, []string{"0 geometry.coordinates"}},
		{"latitude range", `{"type": "FeatureCollection", "features": [` + ok + `,` + feature("[200, 91]", "{}") + `]}`,
			[]string{"1 geometry.coordinates[0]", "1 geometry.coordinates[1]"}},
		{"properties", `{"type": "FeatureCollection", "features": [` +
			feature("[1, 2]", `{"timestamp": "yesterday", "device_id": "a b", "speed": -1, "battery": 101, "heading": "N"}`) + `]}`,
			[]string{"0 properties.timestamp", "0 properties.device_id", "0 properties.speed", "0 properties.heading", "0 properties.battery"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := DecodeGeoJSON([]byte(tc.body), opts)
			var de *DecodeError
			if !errors.As(err, &de) || pts != nil {
				t.Fatalf("got %v, %v; want a DecodeError", pts, err)
			}
			var got []string
			for _, d := range de.Details {
				got = append(got, strings.TrimSpace(itoa(d.Index)+" "+d.Field))
			}
			if strings.Join(got, ",") != strings.TrimSpace(strings.Join(tc.want, ",")) {
				t.Errorf("details %v (%v), want %v", got, de, tc.want)
			}
			if tc.name == "too many" && !errors.Is(err, ErrTooManyPoints) {
				t.Errorf("too many: %v does not wrap ErrTooManyPoints", err)
			}
		})
	}
}

func itoa(i int) string {
	if i == BodyIndex {
		return "-1"
	}
	return string(rune('0' + i))
}

func TestBatteryOnUpload(t *testing.T) {
	pts, err := DecodeBytes([]byte(`{"latitude": 1, "longitude": 2, "battery": 55.5}`), BodyJSON, DecodeOptions{})
	if err != nil || *pts[0].Extras.Battery != 55.5 {
		t.Fatalf("got %+v, %v", pts, err)
	}
	_, err = DecodeBytes([]byte(`{"latitude": 1, "longitude": 2, "battery": 100.5}`), BodyJSON, DecodeOptions{})
	var de *DecodeError
	if !errors.As(err, &de) || de.Details[0].Field != "battery" || !strings.Contains(de.Details[0].Message, "0 and 100") {
		t.Fatalf("battery 100.5: %v", err)
	}
}
