package point

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// onePassBodies are bodies on the edge of the JSON grammar, where the
// single-pass scanner must agree with json.Valid: each is decoded as JSON
// and as NDJSON by TestDecodeOnePassAgrees, and seeds FuzzDecode.
var onePassBodies = func() []string {
	const ok = `{"latitude":1,"longitude":2}`
	var bodies []string
	// Numbers, valid and not, in a field that accepts any number.
	for _, n := range []string{
		"0", "-0", "1", "-1", "10", "0.5", "-0.5", "1e2", "1E2", "1e+2", "1e-2", "1.5E-2", "-0.0e0", "123456789.123456789",
		"01", "-01", "00", "1.", ".5", "-", "--1", "+1", "1e", "1e+", "1E-", "1.e3", "1.5e", "-a", "0x10", "1_0",
		"1.2.3", "1e2e3", "1x", "1 2", "NaN", "-Infinity", "infinity", "1,", "-.5", "0.", "1ee2",
	} {
		bodies = append(bodies,
			`{"latitude":1,"longitude":2,"altitude":`+n+`}`,
			`[`+ok+`,{"latitude":`+n+`,"longitude":2}]`,
			`{"latitude":1,"longitude":`+n) // cut off after the number
	}
	// Literals and other values.
	for _, v := range []string{
		"null", "nul", "nulll", "null1", "NULL", "nu", "true", "false", "tru", `"x"`, `{}`, `[]`, `[1,`, `{"a":`, `'x'`, "x",
	} {
		bodies = append(bodies,
			`{"latitude":1,"longitude":2,"speed":`+v+`}`,
			`{"latitude":1,"longitude":2,"speed":`+v)
	}
	// Strings: escapes, control characters, bytes beyond ASCII.
	for _, s := range []string{
		`dev`, `d\u0065v`, `d\u0065V`, `\/`, `a\/b`, `\"`, `\\`, `\b\f\n\r\t`, `\x`, `\u12`, `\u12G4`, `\u`, `\`, `\U0041`,
		`\ud800`, "a\tb", "a\x00b", "a\x1fb", "a\x7fb", "caf\xc3\xa9", "\xff", "\xc3", "a\u2028b",
	} {
		bodies = append(bodies,
			`{"latitude":1,"longitude":2,"device_id":"`+s+`"}`,
			`{"latitude":1,"longitude":2,"`+s+`":1}`,
			`{"latitude":1,"longitude":2,"device_id":"`+s)
	}
	bodies = append(bodies,
		`{"lat\u0069tude":1,"\u006Congitude":2}`,
		`{"timestamp":"2025-01-23T12:00:00\u005a","latitude":1,"longitude":2}`,
		`{"timestamp":"2025-01-23T12:00:00Z\u0000","latitude":1,"longitude":2}`,
		// Punctuation.
		`{"latitude":1,"longitude":2,}`,
		`{"latitude":1,,"longitude":2}`,
		`{,"latitude":1,"longitude":2}`,
		`{"latitude" 1,"longitude":2}`,
		`{"latitude"::1,"longitude":2}`,
		`{"latitude":1 "longitude":2}`,
		`{"latitude":1,"longitude":2}}`,
		`{"latitude":1,"longitude":2}]`,
		`{latitude:1,longitude:2}`,
		`{'latitude':1,'longitude':2}`,
		`[`+ok+`,]`,
		`[,`+ok+`]`,
		`[`+ok+` `+ok+`]`,
		`[`+ok+`]]`,
		`[`+ok+`],`,
		`[[`+ok+`]]`,
		`[`+ok+`,[]]`,
		`[`+ok+`,1]`,
		`[`+ok+`,{}]`,
		`[`+ok+`,{]`,
		`[`+ok+`,}`,
		`[`+ok,
		`[`+ok+`,`,
		`[`,
		`[ ]`,
		ok+ok,
		ok+"\n"+ok,
		ok+" x",
		// Whitespace JSON has and has not.
		" \t\r\n"+ok+" \t\r\n",
		"[ \t\r\n"+ok+" ,\r\n\t"+ok+" ]",
		"{ \"latitude\" : 1 , \"longitude\" : 2 }",
		"\f"+ok,
		ok+"\v",
		"{\"latitude\":1,\u00a0\"longitude\":2}",
		"\xef\xbb\xbf"+ok,
		"\xef\xbb"+ok,
		// NDJSON framing.
		ok+"\n\n"+ok+"\r\n",
		ok+"\n"+`{"latitude":1,"longitude":`+"\n"+ok,
		ok+"\n[1]",
		ok+"\r\r\n"+ok,
		ok+"\n \t \n"+ok+"\n",
		strings.Repeat(ok+"\n", 4),
		"["+strings.TrimSuffix(strings.Repeat(ok+",", 4), ",")+"]",
		"["+strings.Repeat(ok+",", 3)+ok+",garbage",
		"["+strings.Repeat(ok+",", 3)+"garbage",
		"["+strings.Repeat(ok+",", 3)+"]",
		"[{},{},{},{}]",
	)
	return bodies
}()

// TestDecodeOnePassAgrees checks that DecodeBytes, which reads a valid
// body once, gives exactly what the thorough decode (json.Valid first)
// gives for bodies on the edge of the JSON grammar, and accepts no body
// that encoding/json rejects.
func TestDecodeOnePassAgrees(t *testing.T) {
	few := testOpts()
	few.MaxPoints = 3
	for _, opts := range []DecodeOptions{testOpts(), few} {
		for _, body := range append(onePassBodies, string(benchBody(1)), string(benchBody(20))) {
			for _, kind := range []BodyKind{BodyJSON, BodyNDJSON} {
				data := []byte(body)
				pts, err := DecodeBytes(data, kind, opts)
				wantPts, wantErr := decodeBytes(data, kind, opts, false)
				if !reflect.DeepEqual(pts, wantPts) || !reflect.DeepEqual(err, wantErr) {
					t.Errorf("%v %q (max %d points):\nsingle pass %s, %v\n   thorough %s, %v",
						kind, body, opts.MaxPoints, fmtPoints(pts), err, fmtPoints(wantPts), wantErr)
					continue
				}
				if err != nil {
					continue
				}
				if kind == BodyJSON && !json.Valid(trimBOM(data)) {
					t.Errorf("json %q: accepted, but not JSON", body)
				}
				if kind == BodyNDJSON {
					for _, l := range bytes.Split(trimBOM(data), []byte("\n")) {
						if len(bytes.TrimLeft(l, jsonSpace)) > 0 && !json.Valid(l) {
							t.Errorf("ndjson %q: line %q accepted, but not JSON", body, l)
						}
					}
				}
			}
		}
	}
}

// TestDecodeOnePassAccepts checks that valid bodies are accepted by the
// single pass itself, without falling back on the thorough decode.
func TestDecodeOnePassAccepts(t *testing.T) {
	for _, tt := range []struct {
		kind BodyKind
		body string
	}{
		{BodyJSON, string(benchBody(1))},
		{BodyJSON, string(benchBody(50))},
		{BodyJSON, " \t\r\n[ \t\r\n{ \"latitude\" : -0.5e+1 , \"longitude\" : 1E2 , \"speed\" : null } ]\r\n"},
		{BodyJSON, `{"lat\u0069tude":0,"longitude":0,"device_id":"d\u0065v","timestamp":"2025-01-23T12:00:00\u005a"}`},
		{BodyNDJSON, `{"latitude":1,"longitude":2}` + "\n\n" + `{"latitude":1,"longitude":2}` + "\r\n"},
	} {
		d := newDecoder(testOpts())
		d.fast = true
		d.body([]byte(tt.body), tt.kind)
		if d.stopped || len(d.err.Details) > 0 || len(d.points) == 0 {
			t.Errorf("%v %q: the single pass gave up", tt.kind, tt.body)
		}
	}
}
