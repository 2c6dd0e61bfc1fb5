package devproto

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/geostream/geostream/streamkit/point"
)

// OwnTracksIdentity is who sent an OwnTracks message, from the request
// rather than its body: the app's user name (X-Limit-U, ?u=, or the
// Basic-auth user) and device name (X-Limit-D, ?d=), each "" when not sent.
type OwnTracksIdentity struct {
	User, Device string
}

// OwnTracksResult is what an OwnTracks message holds.
type OwnTracksResult struct {
	// Type is the message's _type ("location", "lwt", "transition", ...),
	// "" for an empty body or one that is not a JSON object.
	Type string
	// Points holds the position of a valid location message; nil for any
	// other message type.
	Points []point.Point
}

// owntracksLocation is the part of a location message geostream keeps
// (owntracks/android, project/app/src/main/java/org/owntracks/android/
// model/messages/MessageLocation.kt; booklet's JSON format).
type owntracksLocation struct {
	Type string   `json:"_type"`
	Lat  *float64 `json:"lat"`
	Lon  *float64 `json:"lon"`
	Tst  *float64 `json:"tst"`  // epoch seconds
	Acc  *float64 `json:"acc"`  // metres
	Alt  *float64 `json:"alt"`  // metres
	Vel  *float64 `json:"vel"`  // km/h
	Cog  *float64 `json:"cog"`  // degrees
	Batt *float64 `json:"batt"` // percent
	Tid  string   `json:"tid"`
}

// ParseOwnTracks decodes one message of the OwnTracks apps' HTTP mode. Only
// _type "location" holds a position; any other type (lwt, transition,
// waypoint(s), status, card, ...) and an empty body return no points and no
// error. The device id is "user:device" when both are known, either one
// alone otherwise; device falls back to the message's tid. An error means
// the location cannot be stored (the handler drops it: the app would
// resend it forever).
func ParseOwnTracks(body []byte, who OwnTracksIdentity, opts point.DecodeOptions) (OwnTracksResult, error) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return OwnTracksResult{}, nil
	}
	var head struct {
		Type string `json:"_type"`
	}
	if err := json.Unmarshal(body, &head); err != nil {
		return OwnTracksResult{}, &Error{Problems: []Problem{{Index: NoIndex, Message: "not an OwnTracks JSON message: " + err.Error()}}}
	}
	res := OwnTracksResult{Type: head.Type}
	if head.Type != "location" {
		return res, nil
	}
	var m owntracksLocation
	if err := json.Unmarshal(body, &m); err != nil {
		return res, &Error{Problems: []Problem{{Index: NoIndex, Message: "not an OwnTracks location: " + err.Error()}}}
	}
	var ps problems
	f := newFix(&ps, NoIndex, point.NewClock(opts))
	f.owntracksDevice(who, m.Tid)
	if m.Lat == nil {
		f.fail("lat", "required, but missing")
	} else {
		f.lat("lat", *m.Lat)
	}
	if m.Lon == nil {
		f.fail("lon", "required, but missing")
	} else {
		f.lon("lon", *m.Lon)
	}
	if m.Tst != nil {
		f.time("tst", epoch(*m.Tst), formatNumber(*m.Tst))
	}
	// The apps send -1 or leave out what the phone does not know.
	for _, e := range []struct {
		field string
		v     *float64
		x     point.Extra
		scale float64
	}{
		{"acc", m.Acc, point.Accuracy, 1}, {"alt", m.Alt, point.Altitude, 1},
		{"vel", m.Vel, point.Speed, kmh}, {"cog", m.Cog, point.Heading, 1}, {"batt", m.Batt, point.Battery, 1},
	} {
		if e.v != nil && (*e.v >= 0 || e.x == point.Altitude) {
			f.extra(e.field, e.x, *e.v*e.scale)
		}
	}
	if err := ps.err(); err != nil {
		return res, err
	}
	res.Points = []point.Point{f.p}
	return res, nil
}

// owntracksDevice maps the sender to a device id: "user:device".
func (f *fix) owntracksDevice(who OwnTracksIdentity, tid string) {
	user, device := strings.TrimSpace(who.User), strings.TrimSpace(who.Device)
	if device == "" {
		device = strings.TrimSpace(tid)
	}
	var id string
	switch {
	case user != "" && device != "":
		id = user + ":" + device
	case user != "":
		id = user
	case device != "":
		id = device
	default:
		f.fail("tid", "no device: send X-Limit-U and X-Limit-D (the app's user and device), or a tid")
		return
	}
	f.device("device", id)
}

func formatNumber(v float64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
