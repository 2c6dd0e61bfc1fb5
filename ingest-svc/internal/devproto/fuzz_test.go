package devproto

import (
	"net/url"
	"testing"

	"github.com/geostream/geostream/streamkit/point"
)

// FuzzParsers feeds arbitrary bodies and queries to every parser: none may
// panic, and every point one returns must be valid (an error and points
// never come together).
func FuzzParsers(f *testing.F) {
	for _, s := range []string{owntracksAndroid, traccar9, overlandBatch, "id=a&lat=1&lon=2&timestamp=1737633540", "", "{}", "[]"} {
		f.Add([]byte(s), "id=a&lat=1&lon=2")
	}
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		q, _ := url.ParseQuery(query)
		form, _ := url.ParseQuery(string(body))
		check := func(name string, pts []point.Point, err error) {
			if err != nil && pts != nil {
				t.Fatalf("%s: points %v with error %v", name, pts, err)
			}
			for _, p := range pts {
				if point.ValidDeviceID(p.DeviceID) != nil || p.LatE7 < -900000000 || p.LatE7 > 900000000 ||
					p.LonE7 < -1800000000 || p.LonE7 > 1800000000 || p.TimeMs < 0 {
					t.Fatalf("%s: invalid point %+v", name, p)
				}
			}
		}
		res, err := ParseOwnTracks(body, OwnTracksIdentity{User: q.Get("u"), Device: q.Get("d")}, testOpts())
		check("owntracks", res.Points, err)
		pts, err := ParseOsmAnd(q, testOpts())
		check("osmand", pts, err)
		pts, err = ParseTraccar(TraccarRequest{JSON: body}, testOpts())
		check("traccar json", pts, err)
		pts, err = ParseTraccar(TraccarRequest{Query: q, Form: form}, testOpts())
		check("traccar form", pts, err)
		pts, err = ParseOverland(body, q.Get("device_id"), testOpts())
		check("overland", pts, err)
	})
}
