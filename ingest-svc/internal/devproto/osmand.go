package devproto

import (
	"net/url"
	"strings"

	"github.com/geostream/geostream/streamkit/point"
)

// ParseOsmAnd decodes one position of the OsmAnd protocol, as Traccar's
// OsmAndProtocolDecoder reads it (traccar/traccar,
// src/main/java/org/traccar/protocol/OsmAndProtocolDecoder.java): the
// parameters of a GET query or of a POST form.
//
//   - id or deviceid: the device id, as is (required);
//   - lat and lon, or location=lat,lon (required);
//   - timestamp: see parseTime; missing means the receive time;
//   - speed in knots; bearing or heading in degrees; altitude and accuracy
//     in metres; batt in percent. hdop and any other parameter are
//     ignored.
func ParseOsmAnd(params url.Values, opts point.DecodeOptions) ([]point.Point, error) {
	var ps problems
	f := newFix(&ps, NoIndex, point.NewClock(opts))
	idField := "id"
	if params.Get("id") == "" && params.Get("deviceid") != "" {
		idField = "deviceid"
	}
	if id := params.Get(idField); id == "" {
		f.fail("id", "required: the device's identifier (id or deviceid)")
	} else {
		f.device(idField, id)
	}
	switch loc := params.Get("location"); {
	case params.Has("lat") || params.Has("lon") || loc == "":
		osmNumber(f, params, "lat", true, f.lat)
		osmNumber(f, params, "lon", true, f.lon)
	default:
		lat, lon, ok := strings.Cut(loc, ",")
		la, ok1 := number(lat)
		lo, ok2 := number(lon)
		if !ok || !ok1 || !ok2 {
			f.fail("location", "must be latitude,longitude in degrees, got %q", short(loc))
		} else {
			f.lat("location", la)
			f.lon("location", lo)
		}
	}
	if s := params.Get("timestamp"); s != "" {
		if t, ok := parseTime(s); ok {
			f.time("timestamp", t, s)
		} else {
			f.fail("timestamp", "must be %s, got %q", timeFormats, short(s))
		}
	}
	osmNumber(f, params, "speed", false, func(field string, v float64) { f.extra(field, point.Speed, v*knot) })
	heading := "bearing"
	if !params.Has(heading) {
		heading = "heading"
	}
	osmNumber(f, params, heading, false, func(field string, v float64) { f.extra(field, point.Heading, v) })
	osmNumber(f, params, "altitude", false, func(field string, v float64) { f.extra(field, point.Altitude, v) })
	osmNumber(f, params, "accuracy", false, func(field string, v float64) { f.extra(field, point.Accuracy, v) })
	osmNumber(f, params, "batt", false, func(field string, v float64) { f.extra(field, point.Battery, v) })
	if err := ps.err(); err != nil {
		return nil, err
	}
	return []point.Point{f.p}, nil
}

// osmNumber parses the numeric parameter name and passes it to set; a
// missing one is an error when required, an empty one counts as missing.
func osmNumber(f *fix, params url.Values, name string, required bool, set func(string, float64)) {
	s := params.Get(name)
	if s == "" {
		if required {
			f.fail(name, "required, but missing")
		}
		return
	}
	v, ok := number(s)
	if !ok {
		f.fail(name, "must be a number, got %q", short(s))
		return
	}
	set(name, v)
}

// short cuts a value for a message.
func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
