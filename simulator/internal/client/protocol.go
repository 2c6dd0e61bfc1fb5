package client

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// Protocol is the API a request goes to: /upload, or one of the device
// apps' URLs of ingest-svc (docs/devices.md), with that app's wire format.
type Protocol string

// The protocols.
const (
	ProtocolUpload    Protocol = "upload"
	ProtocolOwnTracks Protocol = "owntracks"
	ProtocolOsmAnd    Protocol = "osmand"
	ProtocolTraccar   Protocol = "traccar"
	ProtocolOverland  Protocol = "overland"
)

// ParseProtocol checks a protocol name.
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(s); p {
	case ProtocolUpload, ProtocolOwnTracks, ProtocolOsmAnd, ProtocolTraccar, ProtocolOverland:
		return p, nil
	}
	return "", fmt.Errorf("protocol %q: want upload, owntracks, osmand, traccar or overland", s)
}

// OnePerRequest reports whether the protocol carries one point per request:
// the OwnTracks and OsmAnd apps send one fix at a time, and a Traccar
// Client request holds one device (the simulator's batches mix devices).
func (p Protocol) OnePerRequest() bool {
	return p == ProtocolOwnTracks || p == ProtocolOsmAnd || p == ProtocolTraccar
}

// Payload is one request of a protocol.
type Payload struct {
	Method, Path, Query string
	Body                []byte
	ContentType         string
	Header              map[string]string
	// WantBody, when set, is the answer the app needs to count the request
	// as delivered (Overland's {"result":"ok"}); any other 2xx answer is a
	// failure.
	WantBody string
}

// Prepare makes pts what protocol p can carry exactly: OwnTracks's tst is
// whole seconds, so their times are truncated to the second (the points
// are what the server will store).
func (p Protocol) Prepare(pts []point.Point) {
	if p != ProtocolOwnTracks {
		return
	}
	for i := range pts {
		pts[i].TimeMs -= pts[i].TimeMs % 1000 // times are after 1970: never negative
	}
}

// EncodePayload encodes pts (after Prepare) as one request of protocol p;
// f is the body format of /upload. Coordinates are written as AppendPoint
// writes them, so what is stored is exactly pts.
func EncodePayload(p Protocol, f Format, pts []point.Point) (Payload, error) {
	if p.OnePerRequest() && len(pts) != 1 {
		return Payload{}, fmt.Errorf("protocol %s sends one point per request, got %d", p, len(pts))
	}
	switch p {
	case ProtocolOwnTracks:
		return encodeOwnTracks(&pts[0]), nil
	case ProtocolOsmAnd:
		return Payload{Method: "GET", Path: "osmand", Query: osmandQuery(&pts[0]).Encode()}, nil
	case ProtocolTraccar:
		return encodeTraccar(&pts[0]), nil
	case ProtocolOverland:
		return encodeOverland(pts), nil
	}
	body, ct := Encode(nil, pts, f)
	return Payload{Method: "POST", Path: "upload", Body: body, ContentType: ct}, nil
}

func coord(v int64) string { return strconv.FormatFloat(geo.FromFixed(v), 'f', -1, 64) }

func num(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// encodeOwnTracks writes a location message as the Android app does in
// HTTP mode, the device in X-Limit-D (the app sends no X-Limit-U without a
// user name, so the device id is the device name alone).
func encodeOwnTracks(pt *point.Point) Payload {
	var b strings.Builder
	b.WriteString(`{"_type":"location","lat":` + coord(pt.LatE7) + `,"lon":` + coord(pt.LonE7) +
		`,"tst":` + strconv.FormatInt(pt.TimeMs/1000, 10) + `,"tid":"sm"`)
	x := pt.Extras
	for _, e := range []struct {
		name  string
		v     *float64
		scale float64
	}{{"alt", x.Altitude, 1}, {"vel", x.Speed, 3.6}, {"cog", x.Heading, 1}, {"acc", x.Accuracy, 1}, {"batt", x.Battery, 1}} {
		if e.v != nil {
			b.WriteString(`,"` + e.name + `":` + num(*e.v*e.scale))
		}
	}
	b.WriteString(`,"topic":"owntracks/http/sm"}`)
	return Payload{Method: "POST", Path: "owntracks", Body: []byte(b.String()), ContentType: "application/json; charset=utf-8",
		Header: map[string]string{"X-Limit-D": pt.DeviceID}}
}

// osmandQuery holds a point's OsmAnd parameters: time in epoch
// milliseconds, speed in knots.
func osmandQuery(pt *point.Point) url.Values {
	q := url.Values{"id": {pt.DeviceID}, "lat": {coord(pt.LatE7)}, "lon": {coord(pt.LonE7)},
		"timestamp": {strconv.FormatInt(pt.TimeMs, 10)}}
	x := pt.Extras
	for _, e := range []struct {
		name  string
		v     *float64
		scale float64
	}{{"altitude", x.Altitude, 1}, {"speed", x.Speed, 3600.0 / 1852}, {"bearing", x.Heading, 1}, {"accuracy", x.Accuracy, 1}, {"batt", x.Battery, 1}} {
		if e.v != nil {
			q.Set(e.name, num(*e.v*e.scale))
		}
	}
	return q
}

// encodeTraccar writes the 9.x client's JSON body (traccar-client's
// location template; -1 for what is unknown, battery level 0..1).
func encodeTraccar(pt *point.Point) Payload {
	var b strings.Builder
	x := pt.Extras
	b.WriteString(`{"location":{"timestamp":"` + agg.FormatTime(pt.TimeMs) + `","coords":{"latitude":` + coord(pt.LatE7) +
		`,"longitude":` + coord(pt.LonE7))
	for _, e := range []struct {
		name string
		v    *float64
	}{{"accuracy", x.Accuracy}, {"speed", x.Speed}, {"heading", x.Heading}, {"altitude", x.Altitude}} {
		v := -1.0
		switch {
		case e.v != nil:
			v = *e.v
		case e.name == "altitude":
			continue // -1 m is an altitude
		}
		b.WriteString(`,"` + e.name + `":` + num(v))
	}
	level := -1.0
	if x.Battery != nil {
		level = *x.Battery / 100
	}
	b.WriteString(`},"is_moving":true,"odometer":0,"event":"","battery":{"level":` + num(level) +
		`,"is_charging":false},"activity":{"type":"unknown"},"extras":{}},"device_id":"` + pt.DeviceID + `"}`)
	return Payload{Method: "POST", Path: "traccar", Body: []byte(b.String()), ContentType: "application/json"}
}

// encodeOverland writes an Overland batch: one GeoJSON Feature per point,
// each naming its device.
func encodeOverland(pts []point.Point) Payload {
	var b strings.Builder
	b.WriteString(`{"locations":[`)
	for i := range pts {
		if i > 0 {
			b.WriteByte(',')
		}
		pt := &pts[i]
		x := pt.Extras
		b.WriteString(`{"type":"Feature","geometry":{"type":"Point","coordinates":[` + coord(pt.LonE7) + `,` + coord(pt.LatE7) +
			`]},"properties":{"timestamp":"` + agg.FormatTime(pt.TimeMs) + `","device_id":"` + pt.DeviceID + `"`)
		for _, e := range []struct {
			name  string
			v     *float64
			scale float64
		}{{"altitude", x.Altitude, 1}, {"speed", x.Speed, 1}, {"course", x.Heading, 1},
			{"horizontal_accuracy", x.Accuracy, 1}, {"battery_level", x.Battery, 0.01}} {
			if e.v != nil {
				b.WriteString(`,"` + e.name + `":` + num(*e.v*e.scale))
			}
		}
		b.WriteString(`,"motion":[],"battery_state":"unknown","wifi":""}}`)
	}
	b.WriteString(`]}`)
	return Payload{Method: "POST", Path: "overland", Body: []byte(b.String()), ContentType: "application/json",
		WantBody: `{"result":"ok"}`}
}
