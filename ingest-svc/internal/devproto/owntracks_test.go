package devproto

import (
	"testing"
	"time"
)

// A location as the Android app sends it in HTTP mode
// (owntracks/android, project/app/src/main/java/org/owntracks/android/
// model/messages/MessageLocation.kt: zero values are left out; net/http/
// HttpMessageProcessorEndpoint.kt: X-Limit-U, X-Limit-D, Basic auth, topic
// "owntracks/http/<tid>").
const owntracksAndroid = `{"_type":"location","acc":13,"alt":34,"batt":87,"bs":1,"conn":"w","created_at":1737633541,` +
	`"lat":52.5200066,"lon":13.404954,"m":1,"t":"u","tid":"ph","topic":"owntracks/http/ph","tst":1737633540,"vac":3,"vel":18,"cog":271}`

func TestParseOwnTracks(t *testing.T) {
	ts := time.Date(2025, 1, 23, 11, 59, 0, 0, time.UTC)
	full := want{id: "alice:phone", lat: 52.5200066, lon: 13.404954, time: ts,
		alt: f(34), spd: f(5), hdg: f(271), acc: f(13), batt: f(87)}
	for _, tc := range []struct {
		name string
		body string
		who  OwnTracksIdentity
		want want
	}{
		{"user and device", owntracksAndroid, OwnTracksIdentity{User: "alice", Device: "phone"}, full},
		{"user and tid", owntracksAndroid, OwnTracksIdentity{User: "alice"}, func() want { w := full; w.id = "alice:ph"; return w }()},
		{"device only", owntracksAndroid, OwnTracksIdentity{Device: "phone"}, func() want { w := full; w.id = "phone"; return w }()},
		// The iOS app leaves out what it does not know, and sends -1 for
		// an unknown speed or course.
		{"minimal iOS", `{"_type":"location","lat":-33.5,"lon":151.25,"tst":1737633540,"vel":-1,"cog":-1,"tid":"i1"}`,
			OwnTracksIdentity{User: "bob", Device: "iphone"}, want{id: "bob:iphone", lat: -33.5, lon: 151.25, time: ts}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ParseOwnTracks([]byte(tc.body), tc.who, testOpts())
			if err != nil || res.Type != "location" || len(res.Points) != 1 {
				t.Fatalf("got %+v, %v", res, err)
			}
			checkPoint(t, res.Points[0], tc.want)
		})
	}
}

func TestParseOwnTracksOtherMessages(t *testing.T) {
	who := OwnTracksIdentity{User: "alice", Device: "phone"}
	for body, typ := range map[string]string{
		"":                                 "",
		"  \n":                             "",
		`{"_type":"lwt","tst":1737633540}`: "lwt",
		`{"_type":"transition","wtst":1737000000,"lat":52.5,"lon":13.4,"tst":1737633540,"acc":10,"tid":"ph","event":"enter","desc":"Home","t":"c"}`: "transition",
		`{"_type":"waypoint","desc":"Home","lat":52.5,"lon":13.4,"rad":50,"tst":1737000000}`:                                                        "waypoint",
		`{"_type":"waypoints","waypoints":[]}`:      "waypoints",
		`{"_type":"status","android":{"hib":0}}`:    "status",
		`{"_type":"card","name":"Alice","face":""}`: "card",
	} {
		res, err := ParseOwnTracks([]byte(body), who, testOpts())
		if err != nil || res.Type != typ || res.Points != nil {
			t.Errorf("%q: got %+v, %v; want type %q and no points", body, res, err, typ)
		}
	}
}

func TestParseOwnTracksInvalid(t *testing.T) {
	for _, tc := range []struct {
		body   string
		who    OwnTracksIdentity
		fields []string
	}{
		{`not json`, OwnTracksIdentity{User: "a"}, []string{"-1"}},
		{`{"_type":"location","lat":95,"lon":13,"tst":1737633540}`, OwnTracksIdentity{User: "a"}, []string{"-1 lat"}},
		{`{"_type":"location","lon":13,"tst":1737633540}`, OwnTracksIdentity{User: "a"}, []string{"-1 lat"}},
		{`{"_type":"location","lat":1,"lon":13,"tst":1737633540}`, OwnTracksIdentity{}, []string{"-1 tid"}},
		{`{"_type":"location","lat":1,"lon":13,"tst":1737633540}`, OwnTracksIdentity{User: "J. Doe"}, []string{"-1 device"}},
		{`{"_type":"location","lat":1,"lon":13,"tst":1737633540,"batt":150}`, OwnTracksIdentity{User: "a"}, []string{"-1 batt"}},
	} {
		_, err := ParseOwnTracks([]byte(tc.body), tc.who, testOpts())
		checkProblems(t, err, tc.fields...)
	}
}
