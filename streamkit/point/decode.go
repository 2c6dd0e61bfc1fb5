// The decoder of /upload bodies: the entry points and the state of one
// decode. The framing (object, array, NDJSON lines) is in body.go, the
// fields of a point in fields.go, JSON syntax errors in syntax.go, the
// scanner in scanner.go, the errors in errors.go.
//
// Why a hand-written decoder rather than encoding/json/v2: it is about
// twice as fast and its errors name the item, the NDJSON line, the field
// and the fix ("item 1: lngitude: unknown field; accepted fields are …",
// where json/v2 says `unknown object member name "lngitude" within "/1"`),
// and it collects up to MaxDetails problems instead of stopping at the
// first. Measured on a shared 2-core machine (8 runs each; 500 points
// decoded and validated with the same checks, decode_jsonv2_bench_test.go):
// 0.47-0.78 µs a point, median 0.6, 1011 allocations, against json/v2's
// 1.13-1.30 µs, median 1.2, 2941 allocations (earlier measured 1.7x):
//
//	GOEXPERIMENT=jsonv2 go test -run '^$' -bench DecodeBatch500 -count 5 ./streamkit/point

package point

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"time"
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
	case BodyGeoJSON:
		return "geojson"
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

// Decode reads a whole request body from r and decodes its points. Every
// point is validated:
//
//   - latitude (−90..90) and longitude (−180..180) are required numbers;
//   - timestamp is an RFC 3339 string; missing or null means the receive time
//     (opts.Now). It is truncated to milliseconds and must lie between 1970
//     and the receive time plus opts.MaxClockSkew;
//   - device_id is optional (null or missing: DefaultDevice) and must pass
//     ValidDeviceID;
//   - altitude, speed (≥ 0), heading (0..360), accuracy (≥ 0) and battery
//     (percent, 0..100) are optional numbers (null means not sent), kept in Extras.
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
	if kind == BodyGeoJSON {
		return DecodeGeoJSON(data, opts)
	}
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
	clock      Clock // receive time, latest accepted time
	maxPoints  int
	maxDetails int
	points     []Point
	err        DecodeError
	stopped    bool // MaxDetails reached, or a problem after which nothing can be read
	// fast is set during the single-pass attempt: the data has not been
	// validated, so the scanner checks its syntax, and the first problem of
	// any kind (syntax or not) only sets stopped, without a Detail, for
	// the body to be decoded again with fast unset (see decodeBytes).
	fast bool
}

func newDecoder(o DecodeOptions) *decoder {
	d := &decoder{clock: NewClock(o), maxPoints: o.MaxPoints, maxDetails: o.MaxDetails}
	if d.maxPoints <= 0 {
		d.maxPoints = DefaultMaxPoints
	}
	if d.maxDetails <= 0 {
		d.maxDetails = DefaultMaxDetails
	}
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
