// The members of one point's object: known fields, each value's type and
// range, missing and duplicate keys.

package point

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// Field bits of an object, to find missing and duplicate keys.
const (
	hasTimestamp = 1 << iota
	hasLatitude
	hasLongitude
	hasDevice
	hasAltitude
	hasSpeed
	hasHeading
	hasAccuracy
	hasBattery
)

var fieldBits = map[string]int{
	"timestamp": hasTimestamp, "latitude": hasLatitude, "longitude": hasLongitude,
	"device_id": hasDevice, "altitude": hasAltitude, "speed": hasSpeed,
	"heading": hasHeading, "accuracy": hasAccuracy, "battery": hasBattery,
}

// acceptedFields is named in the message about an unknown field.
const acceptedFields = "timestamp, latitude, longitude, device_id, altitude, speed, heading, accuracy, battery"

// object decodes the point of item index from the object at s (s.pos at
// '{'), and appends it when it is valid. It returns false when it runs into
// the end of the valid data: the item holds a syntax error.
func (d *decoder) object(s *scanner, index, line int) bool {
	s.pos++ // '{'
	p := Point{DeviceID: DefaultDevice, TimeMs: d.clock.NowMs()}
	var seen int
	bad := len(d.err.Details)
	s.ws()
	if c, ok := s.peek(); !ok {
		return false
	} else if c == '}' {
		s.pos++
	} else {
		for {
			s.ws()
			k, ok := s.str()
			if !ok {
				return false
			}
			s.ws()
			if c, ok := s.peek(); !ok || c != ':' {
				return false
			}
			s.pos++
			s.ws()
			v, ok := s.value()
			if !ok {
				return false
			}
			d.member(&p, &seen, k, v, index, line)
			if d.stopped {
				return true
			}
			s.ws()
			c, ok := s.peek()
			if !ok || (c != ',' && c != '}') {
				return false
			}
			s.pos++
			if c == '}' {
				break
			}
		}
	}
	if seen&hasLatitude == 0 {
		d.fail(index, line, "latitude", "required, but missing")
	}
	if seen&hasLongitude == 0 {
		d.fail(index, line, "longitude", "required, but missing")
	}
	if len(d.err.Details) == bad {
		d.points = append(d.points, p)
	}
	return true
}

// member decodes one key (raw JSON string k) and value v of an object into p.
func (d *decoder) member(p *Point, seen *int, k, v []byte, index, line int) {
	bit, known := fieldBits[string(k[1:len(k)-1])] // no allocation
	if !known && bytes.IndexByte(k, '\\') >= 0 {
		bit, known = fieldBits[unquote(k)]
	}
	switch {
	case !known:
		d.fail(index, line, shorten(unquote(k)), "unknown field; accepted fields are %s", acceptedFields)
		return
	case *seen&bit != 0:
		d.fail(index, line, unquote(k), "appears more than once in the object")
		return
	}
	*seen |= bit
	if msg := d.field(p, bit, v); msg != "" {
		d.fail(index, line, unquote(k), "%s", msg)
	}
}

// field stores the value v of one known field in p and returns what is
// wrong with it ("" when nothing).
func (d *decoder) field(p *Point, bit int, v []byte) string {
	switch bit {
	case hasTimestamp:
		return d.timestamp(p, v)
	case hasDevice:
		if v[0] == 'n' {
			return "" // null: DefaultDevice
		}
		s, msg := stringValue(v)
		if msg != "" {
			return msg
		}
		if msg := CheckDeviceID(s); msg != "" {
			return msg
		}
		p.DeviceID = s
		return ""
	case hasLatitude, hasLongitude:
		f, msg := number(v)
		if msg != "" {
			return msg
		}
		if bit == hasLatitude {
			p.LatE7, msg = CheckLatitude(f)
		} else {
			p.LonE7, msg = CheckLongitude(f)
		}
		return msg
	}
	// An optional measurement.
	if v[0] == 'n' {
		return "" // null: not sent
	}
	f, msg := number(v)
	if msg != "" {
		return msg
	}
	return p.Extras.Set(extraOf[bit], f)
}

// extraOf maps the field bit of an optional measurement to its Extra.
var extraOf = map[int]Extra{
	hasAltitude: Altitude, hasSpeed: Speed, hasHeading: Heading, hasAccuracy: Accuracy, hasBattery: Battery,
}

// timestamp parses an RFC 3339 timestamp into p.TimeMs.
func (d *decoder) timestamp(p *Point, v []byte) string {
	if v[0] == 'n' {
		return "" // null: the receive time
	}
	s, msg := stringValue(v)
	if msg != "" {
		return msg + " (an RFC 3339 time such as 2025-01-23T12:00:00Z)"
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return "must be an RFC 3339 time with a time zone, such as 2025-01-23T12:00:00Z, got " + quote(s)
	}
	ms, msg := d.clock.Check(t, s)
	if msg != "" {
		return msg
	}
	p.TimeMs = ms
	return ""
}

// number parses a JSON number that fits a float64.
func number(v []byte) (float64, string) {
	if k := kindOf(v); k != "a number" {
		return 0, "must be a number, got " + k
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, "number " + shorten(string(v)) + " is out of range"
	}
	return f, ""
}

// stringValue unquotes a JSON string.
func stringValue(v []byte) (string, string) {
	if k := kindOf(v); k != "a string" {
		return "", "must be a string, got " + k
	}
	return unquote(v), ""
}

// kindOf names the JSON type of a value by its first byte.
func kindOf(v []byte) string {
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return "a number"
	}
	return "something that is not JSON"
}
