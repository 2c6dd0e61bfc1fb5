package point

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

var testNow = time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)

func testOpts() DecodeOptions {
	return DecodeOptions{Now: func() time.Time { return testNow }}
}

func f64(v float64) *float64 { return &v }

// pt builds a point at the test's receive time on the default device.
func pt(latE7, lonE7 int64) Point {
	return Point{DeviceID: DefaultDevice, TimeMs: testNow.UnixMilli(), LatE7: latE7, LonE7: lonE7}
}

func (p Point) at(ms int64) Point        { p.TimeMs = ms; return p }
func (p Point) dev(id string) Point      { p.DeviceID = id; return p }
func (p Point) extras(e Extras) Point    { p.Extras = e; return p }
func ms(s string) int64                  { t, _ := time.Parse(time.RFC3339Nano, s); return t.UnixMilli() }
func repeat(s string, n int) string      { return strings.Repeat(s, n) }
func join(parts ...string) string        { return strings.Join(parts, "") }
func ndjsonLines(lines ...string) string { return strings.Join(lines, "\n") }

func TestDecodeGood(t *testing.T) {
	seed := `{"timestamp": "2025-01-23T12:00:00Z", "latitude": 52.5200, "longitude": 13.4050}`
	seedPt := pt(525200000, 134050000).at(ms("2025-01-23T12:00:00Z"))
	tests := []struct {
		name string
		kind BodyKind
		body string
		want []Point
	}{
		{"seed object", BodyJSON, seed, []Point{seedPt}},
		{"seed array", BodyJSON, "[" + seed + "," + seed + "]", []Point{seedPt, seedPt}},
		{"leading and trailing space", BodyJSON, " \n\t" + seed + "\r\n ", []Point{seedPt}},
		{"byte order mark", BodyJSON, "\xEF\xBB\xBF" + seed, []Point{seedPt}},
		{"missing timestamp is receive time", BodyJSON, `{"latitude":1,"longitude":2}`,
			[]Point{pt(10000000, 20000000)}},
		{"null timestamp is receive time", BodyJSON, `{"latitude":1,"longitude":2,"timestamp":null}`,
			[]Point{pt(10000000, 20000000)}},
		{"python isoformat with offset", BodyJSON,
			`{"timestamp":"2025-01-23T13:00:00.123456+01:00","latitude":0,"longitude":0}`,
			[]Point{pt(0, 0).at(ms("2025-01-23T12:00:00.123Z"))}},
		{"timestamp truncated to ms", BodyJSON,
			`{"timestamp":"2025-01-23T11:00:00.999999999Z","latitude":0,"longitude":0}`,
			[]Point{pt(0, 0).at(ms("2025-01-23T11:00:00.999Z"))}},
		{"timestamp at 1970", BodyJSON, `{"timestamp":"1970-01-01T00:00:00Z","latitude":0,"longitude":0}`,
			[]Point{pt(0, 0).at(0)}},
		{"timestamp within skew", BodyJSON, `{"timestamp":"2025-01-23T12:05:00Z","latitude":0,"longitude":0}`,
			[]Point{pt(0, 0).at(ms("2025-01-23T12:05:00Z"))}},
		{"bounds", BodyJSON, `[{"latitude":90,"longitude":180},{"latitude":-90,"longitude":-180}]`,
			[]Point{pt(900000000, 1800000000), pt(-900000000, -1800000000)}},
		{"rounding to 1e-7", BodyJSON, `{"latitude":1.00000005,"longitude":-1.00000005}`,
			[]Point{pt(10000001, -10000001)}},
		{"exponent and negative zero", BodyJSON, `{"latitude":-0,"longitude":1.5e1}`,
			[]Point{pt(0, 150000000)}},
		{"tiny number underflows to zero", BodyJSON, `{"latitude":1e-400,"longitude":0}`,
			[]Point{pt(0, 0)}},
		{"device id", BodyJSON, `{"latitude":1,"longitude":2,"device_id":"truck-7.a_b:c"}`,
			[]Point{pt(10000000, 20000000).dev("truck-7.a_b:c")}},
		{"null device id is default", BodyJSON, `{"latitude":1,"longitude":2,"device_id":null}`,
			[]Point{pt(10000000, 20000000)}},
		{"device id of 128 chars", BodyJSON, `{"latitude":1,"longitude":2,"device_id":"` + repeat("x", 128) + `"}`,
			[]Point{pt(10000000, 20000000).dev(repeat("x", 128))}},
		{"escaped key and value", BodyJSON, `{"lat\u0069tude":1,"longitude":2,"device_id":"\u0061b"}`,
			[]Point{pt(10000000, 20000000).dev("ab")}},
		{"extras", BodyJSON,
			`{"latitude":1,"longitude":2,"altitude":-12.5,"speed":0,"heading":360,"accuracy":3.25}`,
			[]Point{pt(10000000, 20000000).extras(Extras{Altitude: f64(-12.5), Speed: f64(0), Heading: f64(360), Accuracy: f64(3.25)})}},
		{"null extras are not sent", BodyJSON, `{"latitude":1,"longitude":2,"altitude":null,"speed":null}`,
			[]Point{pt(10000000, 20000000)}},
		{"ndjson", BodyNDJSON, ndjsonLines(seed, "", "  ", seed+"\r", `{"latitude":1,"longitude":2}`),
			[]Point{seedPt, seedPt, pt(10000000, 20000000)}},
		{"ndjson trailing newline", BodyNDJSON, seed + "\n", []Point{seedPt}},
		{"ndjson pretty object on one line", BodyNDJSON, "  { \"latitude\" : 1 , \"longitude\" : 2 }  ", []Point{pt(10000000, 20000000)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode(strings.NewReader(tt.body), tt.kind, testOpts())
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Decode:\n got %s\nwant %s", fmtPoints(got), fmtPoints(tt.want))
			}
		})
	}
}

func fmtPoints(ps []Point) string {
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%+v", p)
		for _, e := range []*float64{p.Extras.Altitude, p.Extras.Speed, p.Extras.Heading, p.Extras.Accuracy} {
			if e != nil {
				fmt.Fprintf(&b, " %g", *e)
			} else {
				b.WriteString(" -")
			}
		}
		b.WriteString("; ")
	}
	return b.String()
}

// want is an expected detail: Message must contain msg.
type want struct {
	index, line int
	field, msg  string
}

func TestDecodeBad(t *testing.T) {
	ok := `{"latitude":1,"longitude":2}`
	tests := []struct {
		name string
		kind BodyKind
		body string
		want []want
	}{
		{"empty body", BodyJSON, "", []want{{BodyIndex, 0, "", "body is empty"}}},
		{"blank body", BodyJSON, " \n ", []want{{BodyIndex, 0, "", "body is empty"}}},
		{"empty array", BodyJSON, "[]", []want{{BodyIndex, 0, "", "array is empty"}}},
		{"empty ndjson", BodyNDJSON, "\n \n", []want{{BodyIndex, 0, "", "no points"}}},
		{"not json", BodyJSON, "hello", []want{{BodyIndex, 0, "", "must be a JSON object or a JSON array"}}},
		{"top-level number", BodyJSON, "42", []want{{BodyIndex, 0, "", "got a number"}}},
		{"array of numbers", BodyJSON, "[1]", []want{{0, 0, "", "must be a JSON object, got a number"}}},
		{"array of arrays", BodyJSON, "[" + ok + ",[]]", []want{{1, 0, "", "must be a JSON object, got an array"}}},
		{"latitude too big", BodyJSON, "[" + ok + "," + ok + "," + ok + `,{"latitude":91.5,"longitude":0}]`,
			[]want{{3, 0, "latitude", "must be between -90 and 90, got 91.5"}}},
		{"longitude too small", BodyJSON, `{"latitude":0,"longitude":-180.0000001}`,
			[]want{{0, 0, "longitude", "must be between -180 and 180, got -180.0000001"}}},
		{"latitude missing", BodyJSON, `{"longitude":0}`, []want{{0, 0, "latitude", "missing"}}},
		{"both missing", BodyJSON, `{}`, []want{{0, 0, "latitude", "missing"}, {0, 0, "longitude", "missing"}}},
		{"latitude string", BodyJSON, `{"latitude":"52.5","longitude":0}`,
			[]want{{0, 0, "latitude", "must be a number, got a string"}}},
		{"latitude boolean", BodyJSON, `{"latitude":true,"longitude":0}`,
			[]want{{0, 0, "latitude", "must be a number, got a boolean"}}},
		{"latitude null", BodyJSON, `{"latitude":null,"longitude":0}`,
			[]want{{0, 0, "latitude", "must be a number, got null"}}},
		{"longitude object", BodyJSON, `{"latitude":0,"longitude":{"deg":1}}`,
			[]want{{0, 0, "longitude", "must be a number, got an object"}}},
		{"number overflows float64", BodyJSON, `{"latitude":1e400,"longitude":0}`,
			[]want{{0, 0, "latitude", "number 1e400 is out of range"}}},
		{"huge integer", BodyJSON, `{"latitude":0,"longitude":` + repeat("9", 400) + `}`,
			[]want{{0, 0, "longitude", "out of range"}}},
		{"NaN", BodyJSON, `[` + ok + `,{"latitude":NaN,"longitude":0}]`,
			[]want{{1, 0, "", "NaN and Infinity are not JSON numbers"}}},
		{"minus Infinity", BodyJSON, `{"latitude":-Infinity,"longitude":0}`,
			[]want{{0, 0, "", "NaN and Infinity are not JSON numbers"}}},
		{"Infinity in ndjson", BodyNDJSON, ok + "\n" + `{"latitude":Infinity,"longitude":0}`,
			[]want{{1, 2, "", "column"}}},
		{"unknown field", BodyJSON, `{"latitude":0,"longitude":0,"lat":1}`,
			[]want{{0, 0, "lat", "unknown field"}}},
		{"field names are case sensitive", BodyJSON, `{"Latitude":0,"longitude":0}`,
			[]want{{0, 0, "Latitude", "unknown field"}, {0, 0, "latitude", "missing"}}},
		{"duplicate key", BodyJSON, `{"latitude":0,"longitude":0,"latitude":1}`,
			[]want{{0, 0, "latitude", "more than once"}}},
		{"duplicate null timestamp", BodyJSON, `{"timestamp":null,"latitude":0,"longitude":0,"timestamp":"2025-01-23T12:00:00Z"}`,
			[]want{{0, 0, "timestamp", "more than once"}}},
		{"timestamp without zone", BodyJSON, `{"timestamp":"2025-01-23T12:00:00","latitude":0,"longitude":0}`,
			[]want{{0, 0, "timestamp", "RFC 3339"}}},
		{"timestamp as number", BodyJSON, `{"timestamp":1737633600,"latitude":0,"longitude":0}`,
			[]want{{0, 0, "timestamp", "must be a string, got a number"}}},
		{"timestamp before 1970", BodyJSON, `{"timestamp":"1969-12-31T23:59:59.999Z","latitude":0,"longitude":0}`,
			[]want{{0, 0, "timestamp", "before 1970"}}},
		{"timestamp in the future", BodyJSON, `{"timestamp":"2025-01-23T12:05:00.001Z","latitude":0,"longitude":0}`,
			[]want{{0, 0, "timestamp", "5m0.001s ahead of the server's clock"}}},
		{"timestamp far in the future", BodyJSON, `{"timestamp":"9999-12-31T23:59:59Z","latitude":0,"longitude":0}`,
			[]want{{0, 0, "timestamp", "ahead of the server's clock"}}},
		{"device id empty", BodyJSON, `{"latitude":0,"longitude":0,"device_id":""}`,
			[]want{{0, 0, "device_id", "must be 1-128 characters"}}},
		{"device id too long", BodyJSON, `{"latitude":0,"longitude":0,"device_id":"` + repeat("x", 129) + `"}`,
			[]want{{0, 0, "device_id", "must be 1-128 characters"}}},
		{"device id with space", BodyJSON, `{"latitude":0,"longitude":0,"device_id":"a b"}`,
			[]want{{0, 0, "device_id", `got "a b"`}}},
		{"device id with braces", BodyJSON, `{"latitude":0,"longitude":0,"device_id":"{p0}"}`,
			[]want{{0, 0, "device_id", "must be 1-128"}}},
		{"device id non-ASCII", BodyJSON, `{"latitude":0,"longitude":0,"device_id":"caf\u00e9"}`,
			[]want{{0, 0, "device_id", "must be 1-128"}}},
		{"device id number", BodyJSON, `{"latitude":0,"longitude":0,"device_id":7}`,
			[]want{{0, 0, "device_id", "must be a string, got a number"}}},
		{"negative speed", BodyJSON, `{"latitude":0,"longitude":0,"speed":-1}`,
			[]want{{0, 0, "speed", "must be 0 or more"}}},
		{"heading over 360", BodyJSON, `{"latitude":0,"longitude":0,"heading":360.5}`,
			[]want{{0, 0, "heading", "between 0 and 360"}}},
		{"negative accuracy", BodyJSON, `{"latitude":0,"longitude":0,"accuracy":-0.1}`,
			[]want{{0, 0, "accuracy", "must be 0 or more"}}},
		{"altitude string", BodyJSON, `{"latitude":0,"longitude":0,"altitude":"high"}`,
			[]want{{0, 0, "altitude", "must be a number"}}},
		{"several problems in one item", BodyJSON, `{"latitude":95,"longitude":200,"x":1}`,
			[]want{{0, 0, "latitude", "between -90 and 90"}, {0, 0, "longitude", "between -180 and 180"}, {0, 0, "x", "unknown"}}},
		{"problems in several items", BodyJSON, `[{"latitude":95,"longitude":0},` + ok + `,{"latitude":0,"longitude":0,"speed":-1}]`,
			[]want{{0, 0, "latitude", "between"}, {2, 0, "speed", "0 or more"}}},
		{"trailing garbage after object", BodyJSON, ok + " x", []want{{BodyIndex, 0, "", "unexpected data after the JSON value"}}},
		{"two objects", BodyJSON, ok + ok, []want{{BodyIndex, 0, "", "unexpected data after the JSON value"}}},
		{"trailing garbage after array", BodyJSON, "[" + ok + "]]", []want{{BodyIndex, 0, "", "unexpected data"}}},
		{"truncated object", BodyJSON, `{"latitude":1,"longitude":`, []want{{0, 0, "", "truncated"}}},
		{"truncated array", BodyJSON, "[" + ok + ",", []want{{1, 0, "", "truncated"}}},
		{"unclosed array", BodyJSON, "[" + ok, []want{{1, 0, "", "truncated"}}},
		{"trailing comma", BodyJSON, "[" + ok + ",]", []want{{1, 0, "", "invalid JSON"}}},
		{"deep nesting", BodyJSON, `{"latitude":0,"longitude":0,"x":` + repeat("[", 20000) + repeat("]", 20000) + "}",
			[]want{{0, 0, "", "exceeded max depth"}}},
		{"invalid utf-8 key", BodyJSON, "{\"la\xfftitude\":0,\"longitude\":0}",
			[]want{{0, 0, "la\uFFFDtitude", "unknown field"}, {0, 0, "latitude", "missing"}}},
		{"ndjson bad line", BodyNDJSON, ok + "\n\n" + `{"latitude":0,"longitude":300}` + "\n" + ok,
			[]want{{1, 3, "longitude", "between -180 and 180"}}},
		{"ndjson continues after a syntax error", BodyNDJSON, "{oops\n" + ok + "\n[1]",
			[]want{{0, 1, "", "invalid JSON at column"}, {2, 3, "", "must be a JSON object, got an array"}}},
		{"ndjson two objects on a line", BodyNDJSON, ok + " " + ok, []want{{0, 1, "", "exactly one JSON object"}}},
		{"ndjson array body", BodyNDJSON, "[" + ok + "]", []want{{0, 1, "", "must be a JSON object, got an array"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pts, err := Decode(strings.NewReader(tt.body), tt.kind, testOpts())
			if pts != nil {
				t.Errorf("Decode returned %d points with an error", len(pts))
			}
			checkDetails(t, err, tt.want)
		})
	}
}

func checkDetails(t *testing.T, err error, want []want) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("Decode error = %v (%T), want *DecodeError", err, err)
	}
	if len(de.Details) != len(want) {
		t.Fatalf("got %d details, want %d:\n%v", len(de.Details), len(want), de.Details)
	}
	for i, w := range want {
		g := de.Details[i]
		if g.Index != w.index || g.Line != w.line || g.Field != w.field || !strings.Contains(g.Message, w.msg) {
			t.Errorf("detail %d = %+v\nwant index %d line %d field %q message containing %q", i, g, w.index, w.line, w.field, w.msg)
		}
	}
}

func TestDecodeLimits(t *testing.T) {
	item := `{"latitude":1,"longitude":2}`
	arr := func(n int) string { return "[" + strings.TrimSuffix(repeat(item+",", n), ",") + "]" }
	lines := func(n int) string { return repeat(item+"\n", n) }
	o := testOpts()
	o.MaxPoints = 3
	for _, tt := range []struct {
		name     string
		kind     BodyKind
		body     string
		ok       bool
		tooMany  bool
		nDetails int
	}{
		{"array at the limit", BodyJSON, arr(3), true, false, 0},
		{"array over the limit", BodyJSON, arr(4), false, true, 1},
		{"ndjson at the limit", BodyNDJSON, lines(3) + "\n\n", true, false, 0},
		{"ndjson over the limit", BodyNDJSON, lines(4), false, true, 1},
		{"too many wins over bad items", BodyJSON, "[{},{},{},{}]", false, true, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pts, err := DecodeBytes([]byte(tt.body), tt.kind, o)
			if tt.ok {
				if err != nil || len(pts) != 3 {
					t.Fatalf("got %d points, %v; want 3 points", len(pts), err)
				}
				return
			}
			if got := errors.Is(err, ErrTooManyPoints); got != tt.tooMany {
				t.Fatalf("errors.Is(%v, ErrTooManyPoints) = %v, want %v", err, got, tt.tooMany)
			}
			var de *DecodeError
			if !errors.As(err, &de) || len(de.Details) != tt.nDetails {
				t.Fatalf("error %v: want a DecodeError with %d details", err, tt.nDetails)
			}
		})
	}

	t.Run("details are capped", func(t *testing.T) {
		o := testOpts()
		o.MaxDetails = 5
		_, err := DecodeBytes([]byte(repeat(`{"latitude":100,"longitude":0}`+"\n", 50)), BodyNDJSON, o)
		var de *DecodeError
		if !errors.As(err, &de) || len(de.Details) != 5 || !de.Truncated {
			t.Fatalf("error %v: want 5 details, truncated", err)
		}
		if !strings.Contains(err.Error(), "(and 4 or more other problems)") {
			t.Errorf("Error() = %q", err.Error())
		}
	})

	t.Run("default clock skew", func(t *testing.T) {
		o := testOpts()
		o.MaxClockSkew = time.Hour
		body := `{"timestamp":"2025-01-23T12:30:00Z","latitude":0,"longitude":0}`
		if _, err := DecodeBytes([]byte(body), BodyJSON, o); err != nil {
			t.Fatalf("with 1h skew: %v", err)
		}
		if _, err := DecodeBytes([]byte(body), BodyJSON, testOpts()); err == nil {
			t.Fatal("with the default skew: no error")
		}
	})
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("boom")
	r := iotest.DataErrReader(&errReader{data: []byte(`[{"latitude":1`), err: boom})
	_, err := Decode(r, BodyJSON, testOpts())
	var de *DecodeError
	if !errors.Is(err, boom) || errors.As(err, &de) {
		t.Fatalf("Decode error = %v; want the read error, not a DecodeError", err)
	}
}

type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestDetailString(t *testing.T) {
	for _, tt := range []struct {
		d    Detail
		want string
	}{
		{Detail{Index: 3, Field: "latitude", Message: "must be between -90 and 90, got 91.5"}, "item 3: latitude: must be between -90 and 90, got 91.5"},
		{Detail{Index: 1, Line: 4, Message: "invalid JSON"}, "item 1 (line 4): invalid JSON"},
		{Detail{Index: BodyIndex, Message: "the body is empty"}, "body: the body is empty"},
	} {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

// TestDecodeRoundTrip checks that a decoded point survives its stream entry
// encoding unchanged.
func TestDecodeRoundTrip(t *testing.T) {
	body := join(`[{"timestamp":"2025-01-23T11:59:59.123Z","latitude":-33.8688,"longitude":151.2093,"device_id":"d1",`,
		`"altitude":58.25,"speed":0,"heading":359.9,"accuracy":4}, {"latitude":89.9999999,"longitude":-179.9999999}]`)
	pts, err := Decode(bytes.NewReader([]byte(body)), BodyJSON, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pts {
		fields := p.AppendLegacyFields(nil)
		v := map[string]any{}
		for i := 0; i < len(fields); i += 2 {
			v[fields[i]] = fields[i+1]
		}
		got, err := FromValues(v)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, p) {
			t.Errorf("round trip:\n got %s\nwant %s", fmtPoints([]Point{got}), fmtPoints([]Point{p}))
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			buf.WriteByte(',')
		}
		fmt.Fprintf(&buf, `{"timestamp":"2025-01-23T11:%02d:%02d.%03dZ","latitude":%.6f,"longitude":%.6f,"device_id":"dev-%d"}`,
			i/60%60, i%60, i%1000, float64(i%180)-89.5, float64(i%360)-179.5, i%50)
	}
	buf.WriteByte(']')
	data := buf.Bytes()
	o := testOpts()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBytes(data, BodyJSON, o); err != nil {
			b.Fatal(err)
		}
	}
}
