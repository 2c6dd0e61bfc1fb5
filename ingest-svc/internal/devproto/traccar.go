package devproto

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"

	"github.com/geostream/geostream/streamkit/point"
)

// TraccarRequest is what a Traccar Client request carries.
type TraccarRequest struct {
	// Query is the URL's query: the legacy client's parameters (OsmAnd).
	Query url.Values
	// Form is the form body of a POST (the 10.x client), nil otherwise.
	Form url.Values
	// JSON is the JSON body of the 9.x client, nil otherwise.
	JSON []byte
}

// ParseTraccar decodes a request of any Traccar Client version:
//
//   - the 9.x client (traccar/traccar-client, lib/preferences.dart,
//     geolocationConfig and _locationTemplate) POSTs JSON:
//     {"location": {"timestamp", "coords": {"latitude", "longitude",
//     "accuracy", "speed", "heading", "altitude"}, "battery": {"level",
//     "is_charging"}, ...}, "device_id"}; speed is in m/s, battery.level
//     0..1, and -1 means unknown. "location" may be an array of them
//     (the background-geolocation library's batch sync).
//   - the 10.x client POSTs the OsmAnd parameters as a form, and the
//     legacy clients send them in the URL: see ParseOsmAnd.
func ParseTraccar(r TraccarRequest, opts point.DecodeOptions) ([]point.Point, error) {
	if r.JSON != nil {
		return parseTraccarJSON(r.JSON, opts)
	}
	params := r.Query
	if !params.Has("lat") && !params.Has("location") && r.Form != nil {
		params = r.Form
	}
	return ParseOsmAnd(params, opts)
}

type traccarLocation struct {
	Timestamp json.RawMessage `json:"timestamp"`
	Coords    *struct {
		Latitude  *float64 `json:"latitude"`
		Longitude *float64 `json:"longitude"`
		Accuracy  *float64 `json:"accuracy"`
		Speed     *float64 `json:"speed"`
		Heading   *float64 `json:"heading"`
		Altitude  *float64 `json:"altitude"`
	} `json:"coords"`
	Battery *struct {
		Level *float64 `json:"level"`
	} `json:"battery"`
}

func parseTraccarJSON(body []byte, opts point.DecodeOptions) ([]point.Point, error) {
	var ps problems
	var msg struct {
		Location json.RawMessage `json:"location"`
		DeviceID json.RawMessage `json:"device_id"`
	}
	if err := json.Unmarshal(body, &msg); err != nil {
		ps.add(NoIndex, "", "the body is not a Traccar Client JSON object: %v", err)
		return nil, ps.err()
	}
	var id string
	if msg.DeviceID != nil {
		var n json.Number
		if json.Unmarshal(msg.DeviceID, &id) != nil && json.Unmarshal(msg.DeviceID, &n) == nil {
			id = n.String() // a number: the client's default ids are digits
		}
	}
	var locs []traccarLocation
	single := true
	switch l := bytes.TrimSpace(msg.Location); {
	case len(l) == 0 || string(l) == "null":
		ps.add(NoIndex, "location", "required, but missing")
		return nil, ps.err()
	case l[0] == '[':
		single = false
		if err := json.Unmarshal(l, &locs); err != nil {
			ps.add(NoIndex, "location", "must be an array of locations: %v", err)
			return nil, ps.err()
		}
	default:
		var one traccarLocation
		if err := json.Unmarshal(l, &one); err != nil {
			ps.add(NoIndex, "location", "must be a location object: %v", err)
			return nil, ps.err()
		}
		locs = []traccarLocation{one}
	}
	if opts.MaxPoints > 0 && len(locs) > opts.MaxPoints {
		return nil, tooManyError("location", opts.MaxPoints)
	}
	clock := point.NewClock(opts)
	pts := make([]point.Point, 0, len(locs))
	for i, l := range locs {
		index := i
		if single {
			index = NoIndex
		}
		f := newFix(&ps, index, clock)
		if id == "" {
			f.fail("device_id", "required: the client's device identifier")
		} else {
			f.device("device_id", id)
		}
		f.traccarLocation(&l)
		pts = append(pts, f.p)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return pts, nil
}

func (f *fix) traccarLocation(l *traccarLocation) {
	if ts := bytes.TrimSpace(l.Timestamp); len(ts) > 0 && string(ts) != "null" {
		var s string
		if json.Unmarshal(ts, &s) != nil {
			s = string(ts) // a number: epoch seconds or milliseconds
		}
		if t, ok := parseTime(s); ok {
			f.time("location.timestamp", t, s)
		} else {
			f.fail("location.timestamp", "must be %s, got %s", timeFormats, strconv.Quote(short(s)))
		}
	}
	c := l.Coords
	if c == nil {
		f.fail("location.coords", "required, but missing")
		return
	}
	if c.Latitude == nil {
		f.fail("location.coords.latitude", "required, but missing")
	} else {
		f.lat("location.coords.latitude", *c.Latitude)
	}
	if c.Longitude == nil {
		f.fail("location.coords.longitude", "required, but missing")
	} else {
		f.lon("location.coords.longitude", *c.Longitude)
	}
	if c.Altitude != nil {
		f.extra("location.coords.altitude", point.Altitude, *c.Altitude)
	}
	// -1 (any negative) means the phone does not know.
	for _, e := range []struct {
		field string
		v     *float64
		x     point.Extra
	}{
		{"location.coords.speed", c.Speed, point.Speed},
		{"location.coords.heading", c.Heading, point.Heading},
		{"location.coords.accuracy", c.Accuracy, point.Accuracy},
	} {
		if e.v != nil && *e.v >= 0 {
			f.extra(e.field, e.x, *e.v)
		}
	}
	if b := l.Battery; b != nil && b.Level != nil && *b.Level >= 0 {
		f.extra("location.battery.level", point.Battery, *b.Level*100)
	}
}
