package devproto

import (
	"testing"
	"time"
)

// A batch as Overland for iOS sends it (aaronpk/Overland-iOS, README.md
// "API"; GPSLogger/GLManager.m: currentDictionaryFromLocation rounds
// altitude, speed and course to integers and sends -1 for unknown, a trip
// end is a Feature with properties.type "trip", a visit one with
// properties.action "visit").
const overlandBatch = `{"locations":[
{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.030581,37.3318]},"properties":{"timestamp":"2025-01-23T11:59:00Z",
 "altitude":12,"speed":4,"course":91,"horizontal_accuracy":30,"vertical_accuracy":-1,"speed_accuracy":0.5,"course_accuracy":10,
 "motion":["driving","stationary"],"battery_state":"charging","battery_level":0.89,"device_id":"iphone","wifi":""}},
{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.03,37.33]},"properties":{"timestamp":"2025-01-23T04:59:00-0700",
 "altitude":0,"speed":-1,"course":-1,"horizontal_accuracy":65,"motion":[],"battery_state":"unplugged","battery_level":0.5,"device_id":"iphone","wifi":"home"}},
{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.03,37.33]},"properties":{"timestamp":"2025-01-23T11:59:00Z","type":"trip",
 "mode":"car","start":"2025-01-23T11:00:00Z","end":"2025-01-23T11:59:00Z","distance":1234,"device_id":"iphone"}},
{"type":"Feature","geometry":{"type":"Point","coordinates":[-122.03,37.33]},"properties":{"timestamp":"2025-01-23T11:59:00Z","action":"visit",
 "arrival_date":"2025-01-23T11:00:00Z","departure_date":null,"device_id":"iphone"}},
{"type":"Feature","properties":{"timestamp":"2025-01-23T11:59:00Z","action":"app_terminated","device_id":"iphone"}}
],
"current":{"type":"Feature","geometry":{"type":"Point","coordinates":[1,2]},"properties":{"timestamp":"2025-01-23T11:59:30Z","device_id":"iphone"}},
"trip":{"distance":1234,"mode":"car","start":"2025-01-23T11:00:00Z"}}`

func TestParseOverland(t *testing.T) {
	ts := time.Date(2025, 1, 23, 11, 59, 0, 0, time.UTC)
	pts, err := ParseOverland([]byte(overlandBatch), "", testOpts())
	if err != nil || len(pts) != 2 {
		t.Fatalf("got %v, %v; want the two locations", pts, err)
	}
	checkPoint(t, pts[0], want{id: "iphone", lat: 37.3318, lon: -122.030581, time: ts, alt: f(12), spd: f(4), hdg: f(91), acc: f(30), batt: f(89)})
	checkPoint(t, pts[1], want{id: "iphone", lat: 37.33, lon: -122.03, time: ts, alt: f(0), acc: f(65), batt: f(50)})

	// No device_id in the app: the URL's default.
	pts, err = ParseOverland([]byte(`{"locations":[{"type":"Feature","geometry":{"type":"Point","coordinates":[2,1]},`+
		`"properties":{"timestamp":"2025-01-23T11:59:00Z"}}]}`), "from-url", testOpts())
	if err != nil || len(pts) != 1 {
		t.Fatalf("got %v, %v", pts, err)
	}
	checkPoint(t, pts[0], want{id: "from-url", lat: 1, lon: 2, time: ts})

	// Nothing queued but a trip: nothing to store, and no error.
	pts, err = ParseOverland([]byte(`{"locations":[],"trip":{"mode":"car"}}`), "", testOpts())
	if err != nil || len(pts) != 0 {
		t.Fatalf("empty batch: got %v, %v", pts, err)
	}
}

func TestParseOverlandErrors(t *testing.T) {
	loc := func(coords, props string) string {
		return `{"type":"Feature","geometry":{"type":"Point","coordinates":` + coords + `},"properties":` + props + `}`
	}
	good := loc("[1,2]", `{"timestamp":"2025-01-23T11:59:00Z","device_id":"a"}`)
	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`{`, []string{"-1"}},
		{`{"current":{}}`, []string{"-1 locations"}},
		{`{"locations":[` + good + `,` + loc("[1,2]", `{"timestamp":"2025-01-23T11:59:00Z"}`) + `]}`, []string{"1 properties.device_id"}},
		{`{"locations":[` + good + `,` + loc("[200,95]", `{"device_id":"a","timestamp":"then","speed":"fast","battery_level":2}`) + `]}`,
			[]string{"1 geometry.coordinates[0]", "1 geometry.coordinates[1]", "1 properties.timestamp", "1 properties.speed", "1 properties.battery_level"}},
		{`{"locations":[` + loc("[1]", `{"device_id":"a"}`) + `]}`, []string{"0 geometry.coordinates"}},
	} {
		_, err := ParseOverland([]byte(tc.body), "", testOpts())
		checkProblems(t, err, tc.fields...)
	}
}
