package devproto

import (
	"bytes"
	"encoding/json"

	"github.com/geostream/geostream/streamkit/point"
)

// ParseOverland decodes an Overland batch (aaronpk/Overland-iOS, README.md
// "API" and GPSLogger/GLManager.m currentDictionaryFromLocation):
// {"locations": [GeoJSON Point Features], "current": ..., "trip": ...}.
// Only the locations are fixes: "current" repeats a queued one, and the
// trip-end (properties.type "trip"), visit and log records
// (properties.action) are skipped, as is a record without a geometry.
// coordinates are [lon, lat]; properties.timestamp is ISO 8601;
// properties.device_id names the device (defaultDevice when it is absent
// or empty, e.g. from the URL's ?device_id=); speed (m/s), course
// (degrees) and horizontal_accuracy (m) are -1 when unknown;
// battery_level is 0..1. A problem in any location rejects the batch.
func ParseOverland(body []byte, defaultDevice string, opts point.DecodeOptions) ([]point.Point, error) {
	var ps problems
	var b struct {
		Locations []json.RawMessage `json:"locations"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		ps.add(NoIndex, "", "the body is not Overland's JSON ({\"locations\": [...]}): %v", err)
		return nil, ps.err()
	}
	if b.Locations == nil {
		ps.add(NoIndex, "locations", "required, but missing")
		return nil, ps.err()
	}
	if opts.MaxPoints > 0 && len(b.Locations) > opts.MaxPoints {
		return nil, tooManyError("locations", opts.MaxPoints)
	}
	clock := point.NewClock(opts)
	pts := make([]point.Point, 0, len(b.Locations))
	for i, raw := range b.Locations {
		var feat point.Feature
		if err := json.Unmarshal(raw, &feat); err != nil {
			ps.add(i, "", "must be a GeoJSON Feature: %v", err)
			continue
		}
		props := feat.Properties
		if _, ok := props["action"]; ok || jsonString(props["type"]) == "trip" || feat.Geometry == nil {
			continue // not a fix
		}
		f := newFix(&ps, i, clock)
		if c, ok := feat.Geometry.PointCoordinates(); ok {
			f.lon("geometry.coordinates[0]", c[0])
			f.lat("geometry.coordinates[1]", c[1])
		} else {
			f.fail("geometry.coordinates", "must be a Point's [longitude, latitude]")
		}
		f.overlandProperties(props, defaultDevice)
		pts = append(pts, f.p)
	}
	if err := ps.err(); err != nil {
		return nil, err
	}
	return pts, nil
}

func (f *fix) overlandProperties(props map[string]json.RawMessage, defaultDevice string) {
	if raw, ok := props["timestamp"]; ok && string(raw) != "null" {
		s := jsonString(raw)
		if t, ok := parseTime(s); ok && s != "" {
			f.time("properties.timestamp", t, s)
		} else {
			f.fail("properties.timestamp", "must be an ISO 8601 time such as 2025-01-23T12:00:00Z, got %s", short(string(raw)))
		}
	}
	id := jsonString(props["device_id"])
	if id == "" {
		id = defaultDevice
	}
	if id == "" {
		f.fail("properties.device_id", "required: set the device ID in the app's settings, or add ?device_id= to the URL")
	} else {
		f.device("properties.device_id", id)
	}
	for _, e := range []struct {
		name     string
		x        point.Extra
		scale    float64
		negative bool // a negative value is a value, not "unknown"
	}{
		{"altitude", point.Altitude, 1, true}, {"speed", point.Speed, 1, false}, {"course", point.Heading, 1, false},
		{"horizontal_accuracy", point.Accuracy, 1, false}, {"battery_level", point.Battery, 100, false},
	} {
		raw, ok := props[e.name]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		var v float64
		if err := json.Unmarshal(raw, &v); err != nil {
			f.fail("properties."+e.name, "must be a number, got %s", short(string(raw)))
			continue
		}
		if v < 0 && !e.negative {
			continue // unknown
		}
		f.extra("properties."+e.name, e.x, v*e.scale)
	}
}

// jsonString returns the string a JSON value holds, "" when it is not one.
func jsonString(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}
