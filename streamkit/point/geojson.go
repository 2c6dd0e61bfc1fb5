package point

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// BodyGeoJSON is a GeoJSON FeatureCollection (RFC 7946) of Point Features,
// decoded by DecodeGeoJSON.
const BodyGeoJSON BodyKind = 2

// geoProps are the properties of a Feature that become a point's fields;
// any other property is ignored (GeoJSON properties are free-form).
var geoProps = []struct {
	name  string
	extra Extra
}{
	{"altitude", Altitude}, {"speed", Speed}, {"heading", Heading}, {"accuracy", Accuracy}, {"battery", Battery},
}

// DecodeGeoJSON decodes a FeatureCollection of Point Features. Each
// Feature is one point: geometry.coordinates is [longitude, latitude] or
// [longitude, latitude, altitude]; properties may hold timestamp (RFC
// 3339), device_id, altitude, speed, heading, accuracy and battery, with
// the meaning, units and rules of the /upload JSON (see Decode). Like
// Decode it is all or nothing: a *DecodeError names each problem by
// feature index and field ("geometry.coordinates", "properties.speed").
func DecodeGeoJSON(data []byte, opts DecodeOptions) ([]Point, error) {
	d := newDecoder(opts)
	d.geoJSON(bytes.TrimPrefix(data, utf8BOM))
	if len(d.err.Details) > 0 {
		return nil, &d.err
	}
	return d.points, nil
}

func (d *decoder) geoJSON(data []byte) {
	var fc struct {
		Type     *string           `json:"type"`
		Features []json.RawMessage `json:"features"`
	}
	if err := json.Unmarshal(data, &fc); err != nil {
		d.fail(BodyIndex, 0, "", "the body must be a GeoJSON FeatureCollection: %s", jsonProblem(err))
		return
	}
	switch {
	case fc.Type == nil || *fc.Type != "FeatureCollection":
		d.fail(BodyIndex, 0, "type", `must be "FeatureCollection"`)
		return
	case len(fc.Features) == 0:
		d.fail(BodyIndex, 0, "features", "must hold at least one Feature")
		return
	case len(fc.Features) > d.maxPoints:
		d.tooMany()
		return
	}
	for i, raw := range fc.Features {
		if d.stopped {
			return
		}
		d.feature(i, raw)
	}
}

// Feature is a GeoJSON Feature as it arrives, its properties left raw for
// the caller: a Feature of a GeoJSON body, or an Overland location.
type Feature struct {
	Type       string                     `json:"type"`
	Geometry   *Geometry                  `json:"geometry"`
	Properties map[string]json.RawMessage `json:"properties"`
}

// Geometry is the geometry of a Feature.
type Geometry struct {
	Type        string          `json:"type"`
	Coordinates json.RawMessage `json:"coordinates"`
}

// PointCoordinates returns the coordinates of a Point geometry,
// [longitude, latitude] and what follows (altitude); false when g is nil,
// not a Point, or its coordinates are not at least two numbers.
func (g *Geometry) PointCoordinates() ([]float64, bool) {
	var c []float64
	if g == nil || g.Type != "Point" || json.Unmarshal(g.Coordinates, &c) != nil || len(c) < 2 {
		return nil, false
	}
	return c, true
}

// feature decodes Feature i.
func (d *decoder) feature(i int, raw json.RawMessage) {
	var f Feature
	if err := json.Unmarshal(raw, &f); err != nil {
		d.fail(i, 0, "", "must be a GeoJSON Feature: %s", jsonProblem(err))
		return
	}
	bad := len(d.err.Details)
	p := Point{DeviceID: DefaultDevice, TimeMs: d.clock.NowMs()}
	c, ok := f.Geometry.PointCoordinates()
	switch {
	case f.Type != "Feature":
		d.fail(i, 0, "type", `must be "Feature", got %s`, quote(f.Type))
	case f.Geometry == nil || f.Geometry.Type != "Point":
		d.fail(i, 0, "geometry", "must be a Point geometry")
	case !ok || len(c) > 3:
		d.fail(i, 0, "geometry.coordinates", "must be [longitude, latitude] or [longitude, latitude, altitude]")
	default:
		var msg string
		if p.LonE7, msg = CheckLongitude(c[0]); msg != "" {
			d.fail(i, 0, "geometry.coordinates[0]", "longitude %s", msg)
		}
		if p.LatE7, msg = CheckLatitude(c[1]); msg != "" {
			d.fail(i, 0, "geometry.coordinates[1]", "latitude %s", msg)
		}
		if len(c) == 3 {
			if msg := p.Extras.Set(Altitude, c[2]); msg != "" {
				d.fail(i, 0, "geometry.coordinates[2]", "altitude %s", msg)
			}
		}
	}
	d.geoProperties(i, &p, f.Properties)
	if len(d.err.Details) == bad {
		d.points = append(d.points, p)
	}
}

// geoProperties decodes the properties of Feature i into p.
func (d *decoder) geoProperties(i int, p *Point, props map[string]json.RawMessage) {
	if v, ok := props["timestamp"]; ok && !isNull(v) {
		var s string
		if json.Unmarshal(v, &s) != nil {
			d.fail(i, 0, "properties.timestamp", "must be an RFC 3339 time string, such as 2025-01-23T12:00:00Z")
		} else if t, err := time.Parse(time.RFC3339Nano, s); err != nil {
			d.fail(i, 0, "properties.timestamp", "must be an RFC 3339 time with a time zone, such as 2025-01-23T12:00:00Z, got %s", quote(s))
		} else if ms, msg := d.clock.Check(t, s); msg != "" {
			d.fail(i, 0, "properties.timestamp", "%s", msg)
		} else {
			p.TimeMs = ms
		}
	}
	if v, ok := props["device_id"]; ok && !isNull(v) {
		var s string
		if json.Unmarshal(v, &s) != nil {
			d.fail(i, 0, "properties.device_id", "must be a string")
		} else if msg := CheckDeviceID(s); msg != "" {
			d.fail(i, 0, "properties.device_id", "%s", msg)
		} else {
			p.DeviceID = s
		}
	}
	for _, g := range geoProps {
		v, ok := props[g.name]
		if !ok || isNull(v) {
			continue
		}
		f, msg := number(bytes.TrimSpace(v))
		if msg == "" {
			msg = p.Extras.Set(g.extra, f)
		}
		if msg != "" {
			d.fail(i, 0, "properties."+g.name, "%s", msg)
		}
	}
}

func isNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

// jsonProblem describes an encoding/json error without Go type names.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte offset %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		if te.Field != "" {
			return fmt.Sprintf("%s must not be a JSON %s", te.Field, te.Value)
		}
		return fmt.Sprintf("got a JSON %s", te.Value)
	}
	return err.Error()
}
