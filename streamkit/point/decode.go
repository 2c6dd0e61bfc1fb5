package point

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/geostream/geostream/streamkit/durfmt"
	"github.com/geostream/geostream/streamkit/geo"
)

// BodyKind is the framing of a request body holding points.
type BodyKind int

const (
	// BodyJSON is one JSON object or a JSON array of objects, told apart by
	// the first non-space byte. It is the zero value.
	BodyJSON BodyKind = iota
	// BodyNDJSON is one JSON object per line (newline-delimited JSON, also
	// called JSON Lines). Blank lines are ignored.
	BodyNDJSON
)

// String returns the name of the kind.
func (k BodyKind) String() string {
	switch k {
	case BodyJSON:
		return "json"
	case BodyNDJSON:
		return "ndjson"
	}
	return "BodyKind(" + strconv.Itoa(int(k)) + ")"
}

const (
	// DefaultMaxClockSkew is how far in the future (after the receive time) a
	// point's timestamp may be when DecodeOptions.MaxClockSkew is zero.
	DefaultMaxClockSkew = 5 * time.Minute
	// DefaultMaxPoints bounds the points of one body when
	// DecodeOptions.MaxPoints is zero.
	DefaultMaxPoints = 10_000
	// DefaultMaxDetails bounds the problems collected before decoding stops,
	// when DecodeOptions.MaxDetails is zero: enough to fix a batch, small
	// enough that a body of garbage cannot make a huge error answer.
	DefaultMaxDetails = 20
)

// DecodeOptions tune Decode. The zero value is usable.
type DecodeOptions struct {
	// Now returns the receive time: the timestamp of points that have none,
	// and the reference of MaxClockSkew. It is called once per Decode; nil
	// means time.Now.
	Now func() time.Time
	// MaxClockSkew is how far a timestamp may lie after the receive time
	// (device clocks drift); default DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// MaxPoints is the most points one body may hold; more is an error
	// wrapping ErrTooManyPoints. Default DefaultMaxPoints.
	MaxPoints int
	// MaxDetails is how many problems are collected before decoding stops;
	// default DefaultMaxDetails.
	MaxDetails int
}

// ErrTooManyPoints is wrapped by the DecodeError of a body holding more than
// DecodeOptions.MaxPoints points.
var ErrTooManyPoints = errors.New("too many points in one body")

// BodyIndex is the Detail.Index of a problem with the body as a whole rather
// than one of its items (empty body, trailing data, too many points).
const BodyIndex = -1

// Detail is one problem found in a body.
type Detail struct {
	// Index is the 0-based position of the item among the body's items
	// (array elements or NDJSON lines that are not blank), or BodyIndex.
	Index int
	// Line is the 1-based line of an NDJSON item; 0 for other kinds.
	Line int
	// Field is the JSON key at fault; empty when the whole item (or body) is.
	Field string
	// Message says what is wrong, for a person to act on.
	Message string
}

// String formats the detail as "item 3: latitude: must be between -90 and
// 90, got 91.5" (with "(line 5)" after the index for NDJSON, and "body"
// instead of "item N" for a problem of the whole body).
func (d Detail) String() string {
	var b strings.Builder
	if d.Index == BodyIndex {
		b.WriteString("body")
	} else {
		b.WriteString("item ")
		b.WriteString(strconv.Itoa(d.Index))
	}
	if d.Line > 0 {
		b.WriteString(" (line ")
		b.WriteString(strconv.Itoa(d.Line))
		b.WriteString(")")
	}
	b.WriteString(": ")
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// DecodeError is the error of a body that holds one or more invalid points.
// A body is decoded all or nothing: Decode returns no point with it.
type DecodeError struct {
	// Details lists the problems found, in body order; never empty.
	Details []Detail
	// Truncated is true when decoding stopped after MaxDetails problems, so
	// the body may hold more.
	Truncated bool

	cause error // ErrTooManyPoints or nil
}

// Error returns the first problem and how many more there are.
func (e *DecodeError) Error() string {
	if len(e.Details) == 0 {
		return "decode points: invalid body"
	}
	s := "decode points: " + e.Details[0].String()
	if n := len(e.Details) - 1; n > 0 || e.Truncated {
		more := ""
		if e.Truncated {
			more = " or more"
		}
		noun := "problems"
		if n == 1 && !e.Truncated {
			noun = "problem"
		}
		s += fmt.Sprintf(" (and %d%s other %s)", n, more, noun)
	}
	return s
}

// Unwrap returns ErrTooManyPoints when that is the problem, nil otherwise.
func (e *DecodeError) Unwrap() error { return e.cause }

// Decode reads a whole request body from r and decodes its points. Every
// point is validated:
//
//   - latitude (−90..90) and longitude (−180..180) are required numbers;
//   - timestamp is an RFC 3339 string; missing or null means the receive time
//     (opts.Now). It is truncated to milliseconds and must lie between 1970
//     and the receive time plus opts.MaxClockSkew;
//   - device_id is optional (null or missing: DefaultDevice) and must pass
//     ValidDeviceID;
//   - altitude, speed (≥ 0), heading (0..360) and accuracy (≥ 0) are
//     optional numbers (null means not sent), kept in Extras.
//
// Unknown or duplicate keys, wrong types, NaN and Infinity, numbers beyond
// float64, trailing data, an empty body or array, and more than
// opts.MaxPoints items are errors. A body with any problem yields a
// *DecodeError listing up to opts.MaxDetails of them and no points. An error
// reading r is returned wrapped (not as a DecodeError), so that a caller can
// tell a body that is too large or cut off from one that is invalid.
//
// Decode reads all of r into memory: the caller bounds its size.
func Decode(r io.Reader, kind BodyKind, opts DecodeOptions) ([]Point, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return DecodeBytes(data, kind, opts)
}

// DecodeBytes is Decode of a body already in memory. Its errors are always
// *DecodeError (or an unknown kind).
//
// A body is read once when it is valid (the usual case): the scanner checks
// the JSON syntax of what it reads itself. At the first problem of any kind
// it gives up, and the body is decoded again the thorough way (json.Valid
// first, to find and describe its first syntax error, then the scanner over
// the valid part), which alone says what is wrong.
func DecodeBytes(data []byte, kind BodyKind, opts DecodeOptions) ([]Point, error) {
	return decodeBytes(data, kind, opts, true)
}

// decodeBytes is DecodeBytes; with onePass false it skips the single-pass
// attempt, so that tests can check that both ways agree.
func decodeBytes(data []byte, kind BodyKind, opts DecodeOptions, onePass bool) ([]Point, error) {
	if kind != BodyJSON && kind != BodyNDJSON {
		return nil, fmt.Errorf("decode points: unknown body kind %v", kind)
	}
	d := newDecoder(opts)
	data = bytes.TrimPrefix(data, utf8BOM) // RFC 8259 §8.1: may be ignored
	if onePass {
		d.fast = true
		d.body(data, kind)
		if !d.stopped && len(d.err.Details) == 0 {
			return d.points, nil
		}
		d.restart()
	}
	d.body(data, kind)
	if len(d.err.Details) > 0 {
		return nil, &d.err
	}
	return d.points, nil
}

// body decodes data of a known kind.
func (d *decoder) body(data []byte, kind BodyKind) {
	if kind == BodyNDJSON {
		d.ndjson(data)
	} else {
		d.json(data)
	}
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// decoder holds the state of one Decode call.
type decoder struct {
	nowMs, maxMs int64 // receive time, latest accepted time (Unix ms)
	maxSkew      time.Duration
	maxPoints    int
	maxDetails   int
	points       []Point
	err          DecodeError
	stopped      bool // MaxDetails reached, or a problem after which nothing can be read
	// fast is set during the single-pass attempt: the data has not been
	// validated, so the scanner checks its syntax, and the first problem of
	// any kind (syntax or not) only sets stopped, without a Detail, for
	// the body to be decoded again with fast unset (see decodeBytes).
	fast bool
}

func newDecoder(o DecodeOptions) *decoder {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	d := &decoder{maxSkew: o.MaxClockSkew, maxPoints: o.MaxPoints, maxDetails: o.MaxDetails}
	if d.maxSkew <= 0 {
		d.maxSkew = DefaultMaxClockSkew
	}
	if d.maxPoints <= 0 {
		d.maxPoints = DefaultMaxPoints
	}
	if d.maxDetails <= 0 {
		d.maxDetails = DefaultMaxDetails
	}
	t := now()
	d.nowMs = t.UnixMilli()
	d.maxMs = t.Add(d.maxSkew).UnixMilli()
	return d
}

// restart forgets what the single-pass attempt did, for the body to be
// decoded again the thorough way. The receive time stays: Now is called once.
func (d *decoder) restart() {
	d.fast = false
	d.stopped = false
	d.points = d.points[:0]
	d.err = DecodeError{}
}

// fail records a problem; decoding stops once MaxDetails are recorded. In
// the single-pass attempt it only stops it.
func (d *decoder) fail(index, line int, field, format string, args ...any) {
	if d.stopped {
		return
	}
	if d.fast {
		d.stopped = true
		return
	}
	d.err.Details = append(d.err.Details, Detail{
		Index: index, Line: line, Field: field, Message: fmt.Sprintf(format, args...),
	})
	if len(d.err.Details) >= d.maxDetails {
		d.stopped = true
		d.err.Truncated = true
	}
}

// tooMany replaces every problem found so far by the one that matters: the
// body is over the limit, whatever else is wrong with it.
func (d *decoder) tooMany() {
	if d.fast {
		d.stopped = true // what else is wrong is for the thorough pass to say
		return
	}
	d.err = DecodeError{
		Details: []Detail{{Index: BodyIndex, Message: fmt.Sprintf(
			"more than %d points in one body; split the batch into smaller requests", d.maxPoints)}},
		cause: ErrTooManyPoints,
	}
	d.points = nil
	d.stopped = true
}

// json decodes a BodyJSON body: one object, or an array of objects.
func (d *decoder) json(data []byte) {
	lead := len(data) - len(bytes.TrimLeft(data, jsonSpace))
	if lead == len(data) {
		d.fail(BodyIndex, 0, "", "the body is empty; send a JSON object, a JSON array of objects, or NDJSON")
		return
	}
	v := d.validate(data)
	s := scanner{data: data[:v.end], strict: d.fast}
	s.ws()
	switch c := data[lead]; {
	case c == '{':
		if !d.object(&s, 0, 0) {
			d.syntax(0, 0, v)
			return
		}
	case c == '[':
		if !d.array(&s, v) {
			return
		}
	case v.err != nil && v.end == s.pos:
		d.fail(BodyIndex, 0, "", "the body must be a JSON object or a JSON array of objects; %s", v.describe(false))
		return
	default:
		d.fail(BodyIndex, 0, "", "the body must be a JSON object or a JSON array of objects, got %s", kindOf(data[s.pos:]))
		return
	}
	if d.stopped {
		return
	}
	s.ws()
	if s.pos < len(data) {
		hint := ""
		if data[s.pos] == '{' {
			hint = " (one object per line is NDJSON, a body kind of its own)"
		}
		d.fail(BodyIndex, 0, "", "unexpected data after the JSON value at byte offset %d; send one object or one array%s", s.pos, hint)
	}
}

// array decodes a JSON array of objects at s; it returns false when it
// recorded a problem after which nothing more can be read.
func (d *decoder) array(s *scanner, v validity) bool {
	s.pos++ // '['
	s.ws()
	if c, ok := s.peek(); ok && c == ']' {
		s.pos++
		d.fail(BodyIndex, 0, "", "the array is empty; send at least one point")
		return true
	}
	for n := 0; ; n++ {
		s.ws()
		c, ok := s.peek()
		if !ok {
			d.syntax(n, 0, v)
			return false
		}
		if n >= d.maxPoints {
			d.tooMany()
			return false
		}
		if c == '{' {
			if !d.object(s, n, 0) {
				d.syntax(n, 0, v)
				return false
			}
		} else {
			val, ok := s.value()
			if !ok {
				d.syntax(n, 0, v)
				return false
			}
			d.fail(n, 0, "", "must be a JSON object, got %s", kindOf(val))
		}
		if d.stopped {
			return false
		}
		s.ws()
		c, ok = s.peek()
		if !ok || (c != ',' && c != ']') {
			d.syntax(n+1, 0, v) // the problem is where the next item should be
			return false
		}
		s.pos++
		if c == ']' {
			return true
		}
	}
}

// ndjson decodes one object per line.
func (d *decoder) ndjson(data []byte) {
	n, line := 0, 0
	for len(data) > 0 && !d.stopped {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		line++
		if len(bytes.TrimLeft(l, jsonSpace)) == 0 {
			continue
		}
		if n >= d.maxPoints {
			d.tooMany()
			return
		}
		d.line(l, n, line)
		n++
	}
	if n == 0 && !d.stopped {
		d.fail(BodyIndex, 0, "", "the body holds no points; send one JSON object per line")
	}
}

// line decodes the NDJSON item index on line number line.
func (d *decoder) line(l []byte, index, line int) {
	v := d.validate(l)
	v.line = true
	s := scanner{data: l[:v.end], strict: d.fast}
	s.ws()
	c, ok := s.peek()
	switch {
	case !ok:
		d.syntax(index, line, v)
	case c != '{':
		if v.err != nil {
			d.syntax(index, line, v)
		} else {
			d.fail(index, line, "", "must be a JSON object, got %s", kindOf(l[s.pos:]))
		}
	case !d.object(&s, index, line):
		d.syntax(index, line, v)
	default:
		if s.ws(); s.pos < len(l) && !d.stopped {
			d.fail(index, line, "", "a line must hold exactly one JSON object, found more after it at column %d", s.pos+1)
		}
	}
}

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
)

var fieldBits = map[string]int{
	"timestamp": hasTimestamp, "latitude": hasLatitude, "longitude": hasLongitude,
	"device_id": hasDevice, "altitude": hasAltitude, "speed": hasSpeed,
	"heading": hasHeading, "accuracy": hasAccuracy,
}

// acceptedFields is named in the message about an unknown field.
const acceptedFields = "timestamp, latitude, longitude, device_id, altitude, speed, heading, accuracy"

// object decodes the point of item index from the object at s (s.pos at
// '{'), and appends it when it is valid. It returns false when it runs into
// the end of the valid data: the item holds a syntax error.
func (d *decoder) object(s *scanner, index, line int) bool {
	s.pos++ // '{'
	p := Point{DeviceID: DefaultDevice, TimeMs: d.nowMs}
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
		if ValidDeviceID(s) != nil {
			return fmt.Sprintf("must be 1-%d characters of A-Z a-z 0-9 . _ : -, got %s", MaxDeviceIDLen, quote(s))
		}
		p.DeviceID = s
		return ""
	case hasLatitude, hasLongitude:
		f, msg := number(v)
		if msg != "" {
			return msg
		}
		if bit == hasLatitude {
			e7, err := geo.LatitudeE7(f)
			if err != nil {
				return "must be between -90 and 90, got " + formatFloat(f)
			}
			p.LatE7 = e7
		} else {
			e7, err := geo.LongitudeE7(f)
			if err != nil {
				return "must be between -180 and 180, got " + formatFloat(f)
			}
			p.LonE7 = e7
		}
		return ""
	}
	// An optional measurement.
	if v[0] == 'n' {
		return "" // null: not sent
	}
	f, msg := number(v)
	if msg != "" {
		return msg
	}
	if f == 0 {
		f = 0 // -0 → 0, so that the stored text is "0"
	}
	switch bit {
	case hasAltitude:
		p.Extras.Altitude = &f
	case hasSpeed:
		if f < 0 {
			return "must be 0 or more (metres per second), got " + formatFloat(f)
		}
		p.Extras.Speed = &f
	case hasHeading:
		if f < 0 || f > 360 {
			return "must be between 0 and 360 (degrees from true north), got " + formatFloat(f)
		}
		p.Extras.Heading = &f
	case hasAccuracy:
		if f < 0 {
			return "must be 0 or more (metres), got " + formatFloat(f)
		}
		p.Extras.Accuracy = &f
	}
	return ""
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
	ms := t.UnixMilli()
	switch {
	case t.Before(time.Unix(0, 0)):
		return "must not be before 1970-01-01T00:00:00Z, got " + quote(s)
	case ms > d.maxMs:
		ahead := "centuries"
		if diff := ms - d.nowMs; diff < math.MaxInt64/int64(time.Millisecond) {
			ahead = durfmt.Human(time.Duration(diff) * time.Millisecond)
		}
		return fmt.Sprintf("is %s ahead of the server's clock, more than the allowed %s, got %s",
			ahead, durfmt.Human(d.maxSkew), quote(s))
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

// validity is where the first JSON syntax error of a body (or NDJSON line)
// is: data[:end] is a valid prefix of a JSON text.
type validity struct {
	end       int
	err       *json.SyntaxError // nil when the data is valid JSON
	truncated bool              // the data ends in the middle of a value
	line      bool              // data is an NDJSON line: positions are columns
	data      []byte
}

// validate is validate(data), except in the single-pass attempt, where the
// data is taken as valid: the scanner checks it as it goes.
func (d *decoder) validate(data []byte) validity {
	if d.fast {
		return validity{end: len(data), data: data}
	}
	return validate(data)
}

// validate finds the first syntax error of data. Valid data costs one pass
// of json.Valid.
func validate(data []byte) validity {
	if json.Valid(data) {
		return validity{end: len(data), data: data}
	}
	var se *json.SyntaxError
	if !errors.As(json.Unmarshal(data, new(json.RawMessage)), &se) {
		// Not reached: invalid data fails with a syntax error.
		se = &json.SyntaxError{Offset: 0}
	}
	v := validity{err: se, data: data}
	// The offset counts the offending byte; at the end of the data with
	// encoding/json's "unexpected end" there is none.
	off := int(min(max(se.Offset, 0), int64(len(data))))
	if off == len(data) && strings.HasPrefix(se.Error(), "unexpected end") {
		v.end, v.truncated = off, true
	} else {
		v.end = max(off-1, 0)
	}
	return v
}

// describe says what the syntax error is, for a message.
func (v validity) describe(withPos bool) string {
	what := "the body"
	if v.line {
		what = "the line"
	}
	if v.err == nil {
		return "invalid JSON" // not reached: only invalid data runs out
	}
	if v.truncated {
		return what + " ends in the middle of a JSON value (truncated?)"
	}
	msg := strings.TrimSpace(v.err.Error())
	if nonJSONNumberAt(v.data, v.end) {
		msg += " (NaN and Infinity are not JSON numbers)"
	}
	if !withPos {
		return "invalid JSON: " + msg
	}
	if v.line {
		return fmt.Sprintf("invalid JSON at column %d: %s", v.end+1, msg)
	}
	return fmt.Sprintf("invalid JSON at byte offset %d: %s", v.end, msg)
}

// syntax records the syntax error v as a problem of item index.
func (d *decoder) syntax(index, line int, v validity) {
	if d.fast {
		d.stopped = true // v knows nothing: the thorough pass describes it
		return
	}
	d.fail(index, line, "", "%s", v.describe(true))
}

// nonJSONNumberAt reports whether a NaN or Infinity literal (maybe signed)
// starts at byte off of data.
func nonJSONNumberAt(data []byte, off int) bool {
	for p := max(off-1, 0); p <= off && p < len(data); p++ {
		rest := bytes.TrimLeft(data[p:], "+-")
		for _, lit := range [...]string{"NaN", "nan", "Infinity", "infinity", "Inf", "inf"} {
			if bytes.HasPrefix(rest, []byte(lit)) {
				return true
			}
		}
	}
	return false
}

// jsonSpace is JSON's insignificant whitespace.
const jsonSpace = " \t\r\n"

// scanner walks data that is a valid prefix of a JSON text (see validate),
// so it only checks what it needs to find the end of each token. Each
// method reports false when the data ends first: that is where the
// syntax error is.
//
// A strict scanner walks data that nobody has checked, in the single-pass
// attempt: it checks each token it reads against the JSON grammar, and
// reports false at the first one that breaks it. It also reports false for
// what can never be a valid point's field value (objects, arrays,
// booleans) and for strings holding bytes beyond ASCII (nothing an accepted
// point holds), leaving them to the thorough pass. So what it reads is
// always valid JSON (the callers check the punctuation between tokens), and
// a body it reads to the end without a problem is one json.Valid accepts.
type scanner struct {
	data   []byte
	pos    int
	strict bool
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) peek() (byte, bool) {
	if s.pos < len(s.data) {
		return s.data[s.pos], true
	}
	return 0, false
}

// str returns the string at s.pos with its quotes.
func (s *scanner) str() ([]byte, bool) {
	if c, ok := s.peek(); !ok || c != '"' {
		return nil, false
	}
	if s.strict {
		return s.strictStr()
	}
	for i := s.pos + 1; i < len(s.data); i++ {
		switch s.data[i] {
		case '\\':
			i++ // the escaped byte; a \uXXXX's hex digits need no care
		case '"':
			v := s.data[s.pos : i+1]
			s.pos = i + 1
			return v, true
		}
	}
	return nil, false
}

// strictStr is str of a strict scanner: it returns false for a string that
// is not JSON (control characters, bad escapes, cut off) and for one with
// bytes beyond ASCII.
func (s *scanner) strictStr() ([]byte, bool) {
	data := s.data
	for i := s.pos + 1; i < len(data); i++ {
		c := data[i]
		if plainASCII[c] {
			continue
		}
		switch c {
		case '"':
			v := data[s.pos : i+1]
			s.pos = i + 1
			return v, true
		case '\\':
			if i+1 >= len(data) {
				return nil, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return nil, false
				}
				i += 5
			default:
				return nil, false
			}
		default:
			return nil, false // a control character, or beyond ASCII
		}
	}
	return nil, false
}

// plainASCII holds the bytes a strict scanner passes over inside a string:
// printable ASCII but the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// strictValue is value of a strict scanner: a string, a number or null;
// false for anything else.
func (s *scanner) strictValue() ([]byte, bool) {
	data, start := s.data, s.pos
	switch c := data[start]; {
	case c == '"':
		return s.strictStr()
	case c == 'n':
		if len(data)-start >= 4 && string(data[start:start+4]) == "null" {
			s.pos += 4
			return data[start:s.pos], true
		}
		return nil, false
	case c != '-' && (c < '0' || c > '9'):
		return nil, false // an object, array or boolean: never a valid field value
	}
	// A number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; the caller
	// checks what follows it.
	i := start
	if data[i] == '-' {
		i++
	}
	switch {
	case i == len(data):
		return nil, false
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		i = digits(data, i+1)
	default:
		return nil, false
	}
	if i < len(data) && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			return nil, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			return nil, false
		}
		i = j
	}
	s.pos = i
	return data[start:i], true
}

// digits returns the index of the first byte at or after i of data that is
// not a decimal digit.
func digits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// value returns the value at s.pos.
func (s *scanner) value() ([]byte, bool) {
	start := s.pos
	c, ok := s.peek()
	if !ok {
		return nil, false
	}
	if s.strict {
		return s.strictValue()
	}
	switch c {
	case '"':
		return s.str()
	case '{', '[':
		depth := 0
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case '"':
				if _, ok := s.str(); !ok {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.pos++
					return s.data[start:s.pos], true
				}
			}
			s.pos++
		}
		return nil, false
	}
	// A number or literal ends at a delimiter. One that ends with the data
	// may be cut short, so it counts as running out.
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return s.data[start:s.pos], true
		}
		s.pos++
	}
	return nil, false
}

// unquote returns the text of a JSON string (with quotes), unescaped.
func unquote(q []byte) string {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1])
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return string(q[1 : len(q)-1]) // not reached: q is valid JSON
	}
	return s
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// shorten cuts s to at most 64 runes for a message, and makes it valid UTF-8.
func shorten(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= 64 {
		return s
	}
	return string([]rune(s)[:64]) + "…"
}

// quote quotes a value for a message, shortened.
func quote(s string) string { return strconv.Quote(shorten(s)) }
