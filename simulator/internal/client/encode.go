package client

import (
	"fmt"
	"strconv"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// Format is the encoding of an upload body.
type Format string

const (
	// FormatJSON sends one point as a JSON object, several as an array.
	FormatJSON Format = "json"
	// FormatNDJSON sends one JSON object per line.
	FormatNDJSON Format = "ndjson"
)

// Content types of the upload formats.
const (
	ContentTypeJSON   = "application/json"
	ContentTypeNDJSON = "application/x-ndjson"
)

// ParseFormat checks a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatJSON, FormatNDJSON:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want %s or %s", s, FormatJSON, FormatNDJSON)
}

// Encode appends the upload body of pts in format f to dst and returns it
// with its content type.
func Encode(dst []byte, pts []point.Point, f Format) ([]byte, string) {
	if f == FormatNDJSON {
		for i := range pts {
			dst = AppendPoint(dst, &pts[i])
			dst = append(dst, '\n')
		}
		return dst, ContentTypeNDJSON
	}
	if len(pts) == 1 {
		return AppendPoint(dst, &pts[0]), ContentTypeJSON
	}
	dst = append(dst, '[')
	for i := range pts {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendPoint(dst, &pts[i])
	}
	return append(dst, ']'), ContentTypeJSON
}

// AppendPoint appends the API's JSON object of p to dst.
//
// Coordinates are written as the shortest decimal that parses back to
// geo.FromFixed of the fixed-point value. That decimal has at most seven
// fraction digits, and the server's geo.ToFixed turns it back into exactly
// p's integers, so what is sent is what is stored. The timestamp has
// millisecond precision, the precision the server keeps. Device ids are
// restricted to [A-Za-z0-9._:-], so they need no escaping.
func AppendPoint(dst []byte, p *point.Point) []byte {
	dst = append(dst, `{"timestamp":"`...)
	dst = append(dst, agg.FormatTime(p.TimeMs)...)
	dst = append(dst, `","latitude":`...)
	dst = strconv.AppendFloat(dst, geo.FromFixed(p.LatE7), 'f', -1, 64)
	dst = append(dst, `,"longitude":`...)
	dst = strconv.AppendFloat(dst, geo.FromFixed(p.LonE7), 'f', -1, 64)
	dst = append(dst, `,"device_id":"`...)
	dst = append(dst, p.DeviceID...)
	dst = append(dst, '"')
	for _, e := range [...]struct {
		name string
		v    *float64
	}{
		{"altitude", p.Extras.Altitude}, {"speed", p.Extras.Speed},
		{"heading", p.Extras.Heading}, {"accuracy", p.Extras.Accuracy},
	} {
		if e.v != nil {
			dst = append(dst, `,"`...)
			dst = append(dst, e.name...)
			dst = append(dst, `":`...)
			dst = strconv.AppendFloat(dst, *e.v, 'f', -1, 64)
		}
	}
	return append(dst, '}')
}
