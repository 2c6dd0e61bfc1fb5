package devproto

import (
	"net/url"
	"testing"
	"time"
)

// The 9.x client's body: the background-geolocation library posts
// {"location": <template>, ...params} with the template and params of
// traccar/traccar-client, lib/preferences.dart (geolocationConfig,
// _locationTemplate).
const traccar9 = `{"location":{"timestamp":"2025-01-23T11:59:00.250Z","coords":{"latitude":52.5200066,"longitude":13.404954,` +
	`"accuracy":4.7,"speed":1.25,"heading":187.3,"altitude":40.1},"is_moving":true,"odometer":1234.5,"event":"",` +
	`"battery":{"level":0.42,"is_charging":false},"activity":{"type":"walking"},"extras":{},` +
	`"_":"&id=31415926&lat=52.5200066&lon=13.404954&timestamp=2025-01-23T11:59:00.250Z&"},"device_id":"31415926"}`

func TestParseTraccar(t *testing.T) {
	ts := time.Date(2025, 1, 23, 11, 59, 0, 0, time.UTC)
	q := func(s string) url.Values { v, _ := url.ParseQuery(s); return v }
	for _, tc := range []struct {
		name string
		req  TraccarRequest
		want []want
	}{
		{"9.x JSON", TraccarRequest{JSON: []byte(traccar9)}, []want{{id: "31415926", lat: 52.5200066, lon: 13.404954,
			time: ts.Add(250 * time.Millisecond), alt: f(40.1), spd: f(1.25), hdg: f(187.3), acc: f(4.7), batt: f(42)}}},
		{"9.x JSON, unknowns are -1", TraccarRequest{JSON: []byte(`{"location":{"timestamp":"2025-01-23T11:59:00Z",` +
			`"coords":{"latitude":1,"longitude":2,"accuracy":-1,"speed":-1,"heading":-1,"altitude":-5},"battery":{"level":-1,"is_charging":false}},` +
			`"device_id":"a"}`)}, []want{{id: "a", lat: 1, lon: 2, time: ts, alt: f(-5)}}},
		{"9.x JSON batch", TraccarRequest{JSON: []byte(`{"location":[{"timestamp":"2025-01-23T11:59:00Z","coords":{"latitude":1,"longitude":2}},` +
			`{"timestamp":"2025-01-23T11:59:00Z","coords":{"latitude":3,"longitude":4}}],"device_id":7}`)},
			[]want{{id: "7", lat: 1, lon: 2, time: ts}, {id: "7", lat: 3, lon: 4, time: ts}}},
		{"10.x form", TraccarRequest{Query: url.Values{}, Form: q("id=31415926&timestamp=1737633540&lat=52.52&lon=13.405&speed=1.0&bearing=90&altitude=40&accuracy=5&batt=42&charge=false")},
			[]want{{id: "31415926", lat: 52.52, lon: 13.405, time: ts, alt: f(40), spd: f(1852.0 / 3600), hdg: f(90), acc: f(5), batt: f(42)}}},
		{"legacy POST with the parameters in the URL", TraccarRequest{Query: q("id=31415926&timestamp=1737633540&lat=52.52&lon=13.405"), Form: url.Values{}},
			[]want{{id: "31415926", lat: 52.52, lon: 13.405, time: ts}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := ParseTraccar(tc.req, testOpts())
			if err != nil || len(pts) != len(tc.want) {
				t.Fatalf("got %v, %v", pts, err)
			}
			for i := range pts {
				checkPoint(t, pts[i], tc.want[i])
			}
		})
	}
}

func TestParseTraccarErrors(t *testing.T) {
	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`[`, []string{"-1"}},
		{`{"device_id":"a"}`, []string{"-1 location"}},
		{`{"location":{"timestamp":"2025-01-23T11:59:00Z","coords":{"latitude":1,"longitude":2}}}`, []string{"-1 device_id"}},
		{`{"location":{"timestamp":"noon","coords":{"latitude":100}},"device_id":"a"}`,
			[]string{"-1 location.timestamp", "-1 location.coords.latitude", "-1 location.coords.longitude"}},
		{`{"location":[{"coords":{"latitude":1,"longitude":2}},{"coords":{"latitude":1,"longitude":2,"heading":400}}],"device_id":"a"}`,
			[]string{"1 location.coords.heading"}},
	} {
		_, err := ParseTraccar(TraccarRequest{JSON: []byte(tc.body)}, testOpts())
		checkProblems(t, err, tc.fields...)
	}
}
