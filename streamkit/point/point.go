// Package point is the point model shared by every geostream service: the
// validated in-memory form of a position, its JSON form on the HTTP API, and
// its compact form as a Redis stream entry.
package point

import (
	"errors"
	"fmt"
	"strconv"
)

// DefaultDevice is the device id of a point that names none.
const DefaultDevice = "default"

// MaxDeviceIDLen is the longest accepted device id, in bytes.
const MaxDeviceIDLen = 128

// Point is one validated position. Latitude and longitude are fixed point
// (geo.DegreeScale units per degree), the time is the event time in Unix
// milliseconds.
type Point struct {
	DeviceID string
	TimeMs   int64
	LatE7    int64
	LonE7    int64
	// Extras are the optional measurements, stored with the point but not
	// aggregated. A nil pointer means "not sent".
	Extras Extras
}

// Extras are optional measurements a device may send with a position.
type Extras struct {
	Altitude *float64 // metres above the WGS 84 ellipsoid
	Speed    *float64 // metres per second, ≥ 0
	Heading  *float64 // degrees clockwise from true north, 0..360
	Accuracy *float64 // horizontal accuracy radius in metres, ≥ 0
	Battery  *float64 // battery level in percent, 0..100
}

// ErrBadDeviceID is returned by ValidDeviceID.
var ErrBadDeviceID = errors.New("device_id must be 1-128 characters of A-Z a-z 0-9 . _ : -")

// ValidDeviceID reports whether id is 1..MaxDeviceIDLen characters of
// [A-Za-z0-9._:-]. The alphabet keeps ids safe inside Redis key names,
// URLs and logs without escaping.
func ValidDeviceID(id string) error {
	if len(id) == 0 || len(id) > MaxDeviceIDLen {
		return ErrBadDeviceID
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == ':', c == '-':
		default:
			return ErrBadDeviceID
		}
	}
	return nil
}

// Field names of the legacy entry form, one point per entry (segment
// version 1), which entries written before the packed form (entry.go) hold.
const (
	FieldDevice   = "d"
	FieldTime     = "t"
	FieldLat      = "lat"
	FieldLon      = "lon"
	FieldAltitude = "alt"
	FieldSpeed    = "spd"
	FieldHeading  = "hdg"
	FieldAccuracy = "acc"
)

// AppendLegacyFields appends the legacy stream entry of p to dst as
// alternating field names and values. ingest-svc no longer writes it (it
// writes packed entries, AppendSegment); tests write it to prove that the
// processor still counts such entries. Battery has no legacy field.
func (p *Point) AppendLegacyFields(dst []string) []string {
	dst = append(dst,
		FieldDevice, p.DeviceID,
		FieldTime, strconv.FormatInt(p.TimeMs, 10),
		FieldLat, strconv.FormatInt(p.LatE7, 10),
		FieldLon, strconv.FormatInt(p.LonE7, 10),
	)
	for _, e := range [...]struct {
		name string
		v    *float64
	}{
		{FieldAltitude, p.Extras.Altitude},
		{FieldSpeed, p.Extras.Speed},
		{FieldHeading, p.Extras.Heading},
		{FieldAccuracy, p.Extras.Accuracy},
	} {
		if e.v != nil {
			dst = append(dst, e.name, strconv.FormatFloat(*e.v, 'g', -1, 64))
		}
	}
	return dst
}

// FromValues decodes a legacy stream entry (AppendLegacyFields), as go-redis
// returns it (XMessage.Values). It needs only the aggregated fields; extras
// are decoded when present.
func FromValues(v map[string]any) (Point, error) {
	var p Point
	var err error
	dev, ok := v[FieldDevice].(string)
	if !ok || ValidDeviceID(dev) != nil {
		return p, fmt.Errorf("entry field %q: missing or invalid", FieldDevice)
	}
	p.DeviceID = dev
	if p.TimeMs, err = intField(v, FieldTime); err != nil {
		return p, err
	}
	if p.LatE7, err = intField(v, FieldLat); err != nil {
		return p, err
	}
	if p.LonE7, err = intField(v, FieldLon); err != nil {
		return p, err
	}
	for _, e := range [...]struct {
		name string
		dst  **float64
	}{
		{FieldAltitude, &p.Extras.Altitude},
		{FieldSpeed, &p.Extras.Speed},
		{FieldHeading, &p.Extras.Heading},
		{FieldAccuracy, &p.Extras.Accuracy},
	} {
		s, ok := v[e.name].(string)
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return p, fmt.Errorf("entry field %q: %w", e.name, err)
		}
		*e.dst = &f
	}
	return p, nil
}

func intField(v map[string]any, name string) (int64, error) {
	s, ok := v[name].(string)
	if !ok {
		return 0, fmt.Errorf("entry field %q: missing", name)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("entry field %q: %w", name, err)
	}
	return n, nil
}
