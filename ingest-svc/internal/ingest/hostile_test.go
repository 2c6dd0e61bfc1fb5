package ingest

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// hostile is one malformed or hostile request and the 4xx it must get.
type hostile struct {
	name   string
	method string // POST when empty
	path   string // /upload when empty
	ctype  string // application/json when empty; "-" for none
	header map[string]string
	body   []byte
	status int
}

func jsonCase(name, body string, status int) hostile {
	return hostile{name: name, body: []byte(body), status: status}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.Bytes()
}

// hostileRequests builds the table: every one must get its 4xx, never a 5xx,
// and store nothing.
func hostileRequests() []hostile {
	p := func(fields string) string { return `{"latitude": 1, "longitude": 2` + fields + `}` }
	var hs []hostile
	// Wrong types, field by field.
	for _, f := range []string{"latitude", "longitude"} {
		for _, v := range []string{`"1"`, `true`, `null`, `[1]`, `{"v":1}`} {
			hs = append(hs, jsonCase(f+" is "+v, strings.Replace(p(""), `"`+f+`": `+map[string]string{"latitude": "1", "longitude": "2"}[f], `"`+f+`": `+v, 1), 400))
		}
	}
	for _, v := range []string{`1`, `true`, `[]`, `{}`, `""`} {
		hs = append(hs, jsonCase("device_id is "+v, p(`, "device_id": `+v), 400))
	}
	for _, v := range []string{`1737633600`, `true`, `"yesterday"`, `"2025-01-23"`, `"2025-13-01T00:00:00Z"`, `"9999-01-01T00:00:00Z"`} {
		hs = append(hs, jsonCase("timestamp is "+v, p(`, "timestamp": `+v), 400))
	}
	for _, f := range []string{"altitude", "speed", "heading", "accuracy"} {
		hs = append(hs, jsonCase(f+" is a string", p(`, "`+f+`": "high"`), 400))
	}
	hs = append(hs,
		jsonCase("negative speed", p(`, "speed": -1`), 400),
		jsonCase("heading 361", p(`, "heading": 361`), 400),
		// Non-finite and huge numbers.
		jsonCase("NaN token", `{"latitude": NaN, "longitude": 2}`, 400),
		jsonCase("Infinity token", `{"latitude": Infinity, "longitude": 2}`, 400),
		jsonCase("-Infinity token", `{"latitude": 1, "longitude": -Infinity}`, 400),
		jsonCase("1e400", `{"latitude": 1e400, "longitude": 2}`, 400),
		jsonCase("-1e400", `{"latitude": 1, "longitude": -1e400}`, 400),
		jsonCase("latitude 90.0000001", `{"latitude": 90.0000001, "longitude": 2}`, 400),
		jsonCase("longitude -180.5", `{"latitude": 1, "longitude": -180.5}`, 400),
		jsonCase("hex number", `{"latitude": 0x10, "longitude": 2}`, 400),
		jsonCase("leading zero", `{"latitude": 01, "longitude": 2}`, 400),
		jsonCase("plus sign", `{"latitude": +1, "longitude": 2}`, 400),
		// Structure.
		jsonCase("duplicate key", `{"latitude": 1, "latitude": 2, "longitude": 2}`, 400),
		jsonCase("unknown field", p(`, "color": "red"`), 400),
		jsonCase("missing latitude", `{"longitude": 2}`, 400),
		jsonCase("missing longitude", `{"latitude": 2}`, 400),
		jsonCase("empty object", `{}`, 400),
		jsonCase("empty array", `[]`, 400),
		jsonCase("array of numbers", `[1, 2, 3]`, 400),
		jsonCase("nested array", `[[`+p("")+`]]`, 400),
		jsonCase("deep nesting", strings.Repeat("[", 10000)+strings.Repeat("]", 10000), 400),
		jsonCase("deep object nesting", p(`, "x": `+strings.Repeat(`{"a":`, 5000)+"1"+strings.Repeat("}", 5000)), 400),
		jsonCase("bare string", `"point"`, 400),
		jsonCase("bare number", `42`, 400),
		jsonCase("null body", `null`, 400),
		jsonCase("truncated object", `{"latitude": 1, "longi`, 400),
		jsonCase("truncated array", `[`+p("")+`,`, 400),
		jsonCase("trailing garbage", p("")+` garbage`, 400),
		jsonCase("two objects", p("")+p(""), 400),
		jsonCase("trailing comma", `{"latitude": 1, "longitude": 2,}`, 400),
		jsonCase("single quotes", `{'latitude': 1, 'longitude': 2}`, 400),
		jsonCase("comment", `{"latitude": 1, /* c */ "longitude": 2}`, 400),
		jsonCase("invalid UTF-8 in device id", "{\"latitude\": 1, \"longitude\": 2, \"device_id\": \"a\xff\xfe\"}", 400),
		jsonCase("invalid UTF-8 outside strings", "{\"latitude\": 1, \"longitude\": 2}\xff", 400),
		jsonCase("NUL byte", "{\"latitude\": 1,\x00 \"longitude\": 2}", 400),
		jsonCase("device id with space", p(`, "device_id": "a b"`), 400),
		jsonCase("device id with braces", p(`, "device_id": "{p0}"`), 400),
		jsonCase("device id 129 chars", p(`, "device_id": "`+strings.Repeat("d", 129)+`"`), 400),
		jsonCase("huge string", p(`, "device_id": "`+strings.Repeat("x", 1<<20)+`"`), 400),
		jsonCase("one bad in a batch", `[`+p("")+`,`+p("")+`,{"latitude": 100, "longitude": 0}]`, 400),
		jsonCase("huge array", "["+strings.Repeat(p("")+",", 10_001)+p("")+"]", 413),
		jsonCase("whitespace only", "   \n\t  ", 400),
	)
	// NDJSON.
	nd := func(name, body string, status int) hostile {
		return hostile{name: "ndjson " + name, ctype: "application/x-ndjson", body: []byte(body), status: status}
	}
	hs = append(hs,
		nd("array line", `[`+p("")+`]`, 400),
		nd("bad second line", p("")+"\n"+`{"latitude": "x", "longitude": 0}`, 400),
		nd("truncated last line", p("")+"\n"+`{"latitude": 1,`, 400),
	)
	// Encodings and content types.
	hs = append(hs,
		hostile{name: "no content type", ctype: "-", body: []byte(p("")), status: 415},
		hostile{name: "text/plain", ctype: "text/plain", body: []byte(p("")), status: 415},
		hostile{name: "multipart", ctype: "multipart/form-data; boundary=x", body: []byte(p("")), status: 415},
		hostile{name: "xml", ctype: "application/xml", body: []byte("<point/>"), status: 415},
		hostile{name: "garbage content type", ctype: "%%%", body: []byte(p("")), status: 415},
		hostile{name: "utf-16 charset", ctype: "application/json; charset=utf-16", body: []byte(p("")), status: 415},
		hostile{name: "deflate encoding", header: map[string]string{"Content-Encoding": "deflate"}, body: []byte(p("")), status: 415},
		hostile{name: "gzip header, plain body", header: map[string]string{"Content-Encoding": "gzip"}, body: []byte(p("")), status: 400},
		hostile{name: "truncated gzip", header: map[string]string{"Content-Encoding": "gzip"}, body: gz([]byte(p("")))[:15], status: 400},
		hostile{name: "gzip bomb", header: map[string]string{"Content-Encoding": "gzip"},
			body: gz([]byte("[" + strings.Repeat(" ", 20<<20) + p("") + "]")), status: 413},
		hostile{name: "gzip of invalid JSON", header: map[string]string{"Content-Encoding": "gzip"}, body: gz([]byte("{nope")), status: 400},
		hostile{name: "body over the limit", body: []byte("[" + strings.Repeat(" ", 9<<20) + p("") + "]"), status: 413},
		// Header abuse.
		hostile{name: "idempotency key 129 chars", header: map[string]string{"Idempotency-Key": strings.Repeat("k", 129)}, body: []byte(p("")), status: 400},
		hostile{name: "idempotency key with newline escape", header: map[string]string{"Idempotency-Key": "a\tb"}, body: []byte(p("")), status: 400},
		hostile{name: "idempotency key not ASCII", header: map[string]string{"Idempotency-Key": "ключ"}, body: []byte(p("")), status: 400},
		// Wrong methods and paths.
		hostile{name: "GET /upload", method: "GET", status: 405},
		hostile{name: "PUT /upload", method: "PUT", body: []byte(p("")), status: 405},
		hostile{name: "DELETE /retrieve", method: "DELETE", path: "/retrieve", status: 405},
		hostile{name: "unknown path", method: "GET", path: "/admin", status: 404},
		hostile{name: "path traversal", method: "GET", path: "/devices/..%2f..%2fetc", status: 404},
		hostile{name: "retrieve unknown parameter", method: "GET", path: "/retrieve?cmd=FLUSHALL", status: 400},
		hostile{name: "retrieve huge window", method: "GET", path: "/retrieve?window=100000000h&interval=1m", status: 400},
		hostile{name: "retrieve bad device", method: "GET", path: "/retrieve?device_id=%00", status: 400},
		hostile{name: "devices bad limit", method: "GET", path: "/devices?limit=-1", status: 400},
		hostile{name: "devices huge limit", method: "GET", path: "/devices?limit=99999999999999999999", status: 400},
	)
	return hs
}

// TestHostileRequests sends every request of the table: each gets its
// precise 4xx with a JSON error, none a 5xx, nothing is stored and the
// accepted-points counter does not move. (Slow clients, whose connection is
// closed by the server's timeouts, are in TestHTTPServerLimits.)
func TestHostileRequests(t *testing.T) {
	hs := hostileRequests()
	if len(hs) < 60 {
		t.Fatalf("only %d hostile requests; the table must hold at least 60", len(hs))
	}
	e := newEnv(t)
	for _, h := range hs {
		t.Run(h.name, func(t *testing.T) {
			method, path := h.method, h.path
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = "/upload"
			}
			r := httptest.NewRequest(method, path, bytes.NewReader(h.body))
			switch h.ctype {
			case "":
				r.Header.Set("Content-Type", "application/json")
			case "-":
			default:
				r.Header.Set("Content-Type", h.ctype)
			}
			for k, v := range h.header {
				r.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			e.router.ServeHTTP(rec, r)
			if rec.Code != h.status {
				body := rec.Body.String()
				if len(body) > 300 {
					body = body[:300]
				}
				t.Fatalf("status %d, want %d: %s", rec.Code, h.status, body)
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q: errors are JSON", ct)
			}
			if b := errorOf(t, rec); b.Error == "" {
				t.Error("no error message")
			}
		})
	}
	if n := e.streamLen(); n != 0 {
		t.Errorf("%d points stored by rejected requests", n)
	}
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), "geostream_ingest_points_accepted_total 0") {
		t.Error("the accepted-points counter moved")
	}
	if strings.Contains(rec.Body.String(), `code="5`) {
		t.Error("a 5xx was answered")
	}
	t.Logf("%d hostile requests refused", len(hs))
}
