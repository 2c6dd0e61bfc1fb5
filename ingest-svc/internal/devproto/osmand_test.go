package devproto

import (
	"net/url"
	"testing"
	"time"
)

// The requests are those of the OsmAnd protocol as Traccar's decoder reads
// them (traccar/traccar, src/main/java/org/traccar/protocol/
// OsmAndProtocolDecoder.java) and as OsmAnd's and GPSLogger's custom URLs
// fill them in.
func TestParseOsmAnd(t *testing.T) {
	ts := time.Date(2025, 1, 23, 11, 59, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, query string
		want        want
	}{
		{"OsmAnd online tracking URL", "id=phone-1&lat=52.52&lon=13.405&timestamp=1737633540000&hdop=1.5&altitude=34&speed=3.2&bearing=270",
			want{id: "phone-1", lat: 52.52, lon: 13.405, time: ts, alt: f(34), spd: f(3.2 * 1852 / 3600), hdg: f(270)}},
		{"legacy Traccar Client", "id=123456&timestamp=1737633540&lat=-33.8688&lon=151.2093&speed=0.0&bearing=0.0&altitude=12.5&accuracy=8.0&batt=76.0&charge=true",
			want{id: "123456", lat: -33.8688, lon: 151.2093, time: ts, alt: f(12.5), spd: f(0), hdg: f(0), acc: f(8), batt: f(76)}},
		{"deviceid, location, heading and a date", "deviceid=tracker_9&location=48.8566,2.3522&timestamp=2025-01-23+11:59:00&heading=90",
			want{id: "tracker_9", lat: 48.8566, lon: 2.3522, time: ts, hdg: f(90)}},
		{"ISO time and no extras", "id=a&lat=0&lon=0&timestamp=2025-01-23T11:59:00Z",
			want{id: "a", time: ts}},
		{"no timestamp: receive time", "id=a&lat=1&lon=2", want{id: "a", lat: 1, lon: 2, time: testNow}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			pts, err := ParseOsmAnd(q, testOpts())
			if err != nil || len(pts) != 1 {
				t.Fatalf("got %v, %v", pts, err)
			}
			checkPoint(t, pts[0], tc.want)
		})
	}
}

func TestParseOsmAndErrors(t *testing.T) {
	for _, tc := range []struct {
		query  string
		fields []string
	}{
		{"lat=1&lon=2", []string{"-1 id"}},
		{"id=a b&lat=1&lon=2", []string{"-1 id"}},
		{"id=a&lon=2", []string{"-1 lat"}},
		{"id=a&lat=91&lon=181", []string{"-1 lat", "-1 lon"}},
		{"id=a&location=1", []string{"-1 location"}},
		{"id=a&lat=x&lon=NaN", []string{"-1 lat", "-1 lon"}},
		{"id=a&lat=1&lon=2&timestamp=soon", []string{"-1 timestamp"}},
		{"id=a&lat=1&lon=2&timestamp=4102444800000", []string{"-1 timestamp"}}, // 2100 in ms: past the clock skew
		{"id=a&lat=1&lon=2&speed=-1&bearing=400&batt=120&accuracy=-5", []string{"-1 speed", "-1 bearing", "-1 accuracy", "-1 batt"}},
	} {
		q, _ := url.ParseQuery(tc.query)
		_, err := ParseOsmAnd(q, testOpts())
		t.Log(tc.query)
		checkProblems(t, err, tc.fields...)
	}
}
