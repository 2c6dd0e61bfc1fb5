package ingest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/ingest-svc/internal/apikey"
	"github.com/geostream/geostream/ingest-svc/internal/apikey/apikeytest"
)

func testKeySet(t *testing.T) *apikey.Set {
	t.Helper()
	ks, err := apikey.Load("", apikeytest.Defs(apikey.Hash))
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

// newAuthEnv is newEnv with the test keys configured.
func newAuthEnv(t *testing.T, tune ...func(*RouterConfig)) *env {
	t.Helper()
	e := newEnv(t, tune...)
	e.router = NewRouter(e.cfg, Deps{Redis: e.rdb, Schema: e.schema, Windows: e.wins,
		Now: func() time.Time { return e.now }, Keys: testKeySet(t)})
	return e
}

// call sends one request with header (which may repeat a name) from
// remote ("" keeps httptest's address).
func (e *env) call(method, path, body string, header http.Header, remote string) *httptest.ResponseRecorder {
	e.t.Helper()
	hr := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for k, vs := range header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	if remote != "" {
		hr.RemoteAddr = remote
	}
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, hr)
	return rec
}

func bearer(key string) http.Header { return http.Header{"Authorization": {"Bearer " + key}} }

const (
	truckPoint = `{"latitude": 52.5, "longitude": 13.4, "device_id": "truck-1", "timestamp": "2025-01-23T11:59:00Z"}`
	carPoint   = `{"latitude": 48.8, "longitude": 2.3, "device_id": "car-1", "timestamp": "2025-01-23T11:59:00Z"}`
)

// TestAuthRefusals is every 401 and 403 path: each answer's status, JSON
// error, WWW-Authenticate, and that nothing was stored.
func TestAuthRefusals(t *testing.T) {
	e := newAuthEnv(t)
	type tc struct {
		name         string
		method, path string
		body         string
		header       http.Header
		status       int
		errHas       string
		wwwAuth      string // part of WWW-Authenticate; "" for none
		detailHas    string
	}
	var tests []tc
	// Every protected endpoint refuses a request without a key or with an
	// unknown one.
	for _, ep := range []struct{ method, path, body string }{
		{"POST", "/upload", truckPoint}, {"GET", "/retrieve", ""}, {"GET", "/devices", ""},
		{"GET", "/devices/truck-1", ""}, {"GET", "/metrics", ""},
	} {
		tests = append(tests,
			tc{name: "no key " + ep.path, method: ep.method, path: ep.path, body: ep.body,
				status: 401, errHas: "needs an API key", wwwAuth: `Bearer realm="geostream"`},
			tc{name: "unknown key " + ep.path, method: ep.method, path: ep.path, body: ep.body, header: bearer(apikeytest.Unknown),
				status: 401, errHas: "API key is not valid", wwwAuth: `error="invalid_token"`},
		)
	}
	tests = append(tests, []tc{
		{name: "key too short", method: "GET", path: "/retrieve", header: bearer("short"), status: 401,
			errHas: "not valid", wwwAuth: "invalid_token"},
		{name: "a known key's hash as the key", method: "GET", path: "/retrieve", header: bearer(apikey.Hash(apikeytest.Reader)), status: 401,
			errHas: "not valid"},
		{name: "basic scheme", method: "GET", path: "/retrieve", header: http.Header{"Authorization": {"Basic " + apikeytest.Reader}},
			status: 401, errHas: "not valid", detailHas: "Bearer scheme"},
		{name: "empty bearer", method: "GET", path: "/retrieve", header: http.Header{"Authorization": {"Bearer "}},
			status: 401, errHas: "not valid", detailHas: "empty"},
		{name: "two Authorization headers", method: "GET", path: "/retrieve",
			header: http.Header{"Authorization": {"Bearer " + apikeytest.Reader, "Bearer " + apikeytest.Reader}}, status: 401, detailHas: "one Authorization"},
		{name: "two X-API-Key headers", method: "GET", path: "/retrieve",
			header: http.Header{"X-Api-Key": {apikeytest.Reader, apikeytest.Writer}}, status: 401, detailHas: "one X-API-Key"},
		{name: "different keys in the two headers", method: "GET", path: "/retrieve",
			header: http.Header{"Authorization": {"Bearer " + apikeytest.Reader}, "X-Api-Key": {apikeytest.Writer}}, status: 401, detailHas: "different keys"},

		// 403: a valid key without the scope.
		{name: "read-only key uploads", method: "POST", path: "/upload", body: truckPoint, header: bearer(apikeytest.Reader),
			status: 403, errHas: `"reader" may not upload points`, wwwAuth: `error="insufficient_scope", scope="write"`},
		{name: "write-only key reads /retrieve", method: "GET", path: "/retrieve", header: bearer(apikeytest.Writer),
			status: 403, errHas: "needs the scope read", wwwAuth: `scope="read"`},
		{name: "write-only key lists devices", method: "GET", path: "/devices", header: bearer(apikeytest.Writer), status: 403, errHas: "scope read"},
		{name: "write-only key reads a device", method: "GET", path: "/devices/truck-1", header: bearer(apikeytest.Writer), status: 403, errHas: "scope read"},
		{name: "metrics key reads", method: "GET", path: "/retrieve", header: bearer(apikeytest.Metrics), status: 403, errHas: "scope read"},
		{name: "reader key scrapes metrics", method: "GET", path: "/metrics", header: bearer(apikeytest.Reader),
			status: 403, errHas: "needs the scope metrics"},

		// 403: a key limited to truck-* and another device.
		{name: "truck key uploads car-1", method: "POST", path: "/upload", body: carPoint, header: bearer(apikeytest.Truck),
			status: 403, errHas: `"truck" may only write devices whose id starts with truck-; nothing was stored`, detailHas: `"car-1"`},
		{name: "truck key uploads a batch with car-1", method: "POST", path: "/upload", body: "[" + truckPoint + "," + carPoint + "]",
			header: bearer(apikeytest.Truck), status: 403, errHas: "may only write", detailHas: "car-1"},
		{name: "truck key uploads the default device", method: "POST", path: "/upload", body: `{"latitude": 1, "longitude": 2}`,
			header: bearer(apikeytest.Truck), status: 403, detailHas: `"default"`},
		{name: "truck key reads car-1", method: "GET", path: "/retrieve?device_id=car-1", header: bearer(apikeytest.Truck),
			status: 403, errHas: `may only read devices whose id starts with truck-; device "car-1"`},
		{name: "truck key reads car-1 in a range", method: "GET", path: "/retrieve?device_id=car-1&window=1h", header: bearer(apikeytest.Truck),
			status: 403, errHas: "may only read"},
		{name: "truck key reads device car-1", method: "GET", path: "/devices/car-1", header: bearer(apikeytest.Truck), status: 403, errHas: "car-1"},
		{name: "truck key reads the global summary", method: "GET", path: "/retrieve", header: bearer(apikeytest.Truck),
			status: 403, errHas: "give device_id"},
		{name: "truck key reads a global range", method: "GET", path: "/retrieve?window=1h", header: bearer(apikeytest.Truck),
			status: 403, errHas: "give device_id"},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := e.call(tt.method, tt.path, tt.body, tt.header, "")
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
			b := errorOf(t, rec)
			if !strings.Contains(b.Error, tt.errHas) {
				t.Errorf("error %q does not contain %q", b.Error, tt.errHas)
			}
			if got := rec.Header().Get("WWW-Authenticate"); tt.wwwAuth != "" && !strings.Contains(got, tt.wwwAuth) {
				t.Errorf("WWW-Authenticate %q does not contain %q", got, tt.wwwAuth)
			}
			if tt.detailHas != "" {
				found := false
				for _, d := range b.Details {
					found = found || strings.Contains(d.Message, tt.detailHas)
				}
				if !found {
					t.Errorf("details %+v do not mention %q", b.Details, tt.detailHas)
				}
			}
		})
	}
	if n := e.streamLen(); n != 0 {
		t.Errorf("%d points stored by refused requests", n)
	}
}

// TestAuthAllowed is the other side: each key does what its scopes and
// prefixes allow, in either header, and the open endpoints need no key.
func TestAuthAllowed(t *testing.T) {
	e := newAuthEnv(t)
	for _, tt := range []struct {
		name         string
		method, path string
		body         string
		header       http.Header
		status       int
	}{
		{"writer uploads", "POST", "/upload", carPoint, bearer(apikeytest.Writer), 200},
		{"X-API-Key header", "POST", "/upload", carPoint, http.Header{"X-Api-Key": {apikeytest.Writer}}, 200},
		{"both headers, same key", "POST", "/upload", carPoint, http.Header{"Authorization": {"Bearer " + apikeytest.Writer}, "X-Api-Key": {apikeytest.Writer}}, 200},
		{"lower-case scheme", "POST", "/upload", carPoint, http.Header{"Authorization": {"bearer " + apikeytest.Writer}}, 200},
		{"truck key uploads truck-1", "POST", "/upload", truckPoint, bearer(apikeytest.Truck), 200},
		{"truck key uploads a truck batch", "POST", "/upload",
			"[" + truckPoint + "," + strings.Replace(truckPoint, "truck-1", "truck-2", 1) + "]", bearer(apikeytest.Truck), 200},
		{"reader reads all", "GET", "/retrieve", "", bearer(apikeytest.Reader), 400}, // no data yet: the seed's 400
		{"reader lists devices", "GET", "/devices", "", bearer(apikeytest.Reader), 200},
		{"truck key reads truck-1", "GET", "/retrieve?device_id=truck-1", "", bearer(apikeytest.Truck), 400},
		{"truck key reads device truck-1", "GET", "/devices/truck-1", "", bearer(apikeytest.Truck), 404},
		{"metrics key scrapes", "GET", "/metrics", "", bearer(apikeytest.Metrics), 200},
		{"healthz is open", "GET", "/healthz", "", nil, 200},
		{"readyz is open", "GET", "/readyz", "", nil, 200},
		{"openapi is open", "GET", "/openapi.json", "", nil, 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if rec := e.call(tt.method, tt.path, tt.body, tt.header, ""); rec.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
			}
		})
	}
	if n := e.streamLen(); n != 7 {
		t.Errorf("%d points stored, want 7", n)
	}
}

// TestAuthPrefixedKeyReads checks what a key limited to truck-* reads once
// points are counted: its devices' summaries and, in GET /devices, its
// devices only (paginated).
func TestAuthPrefixedKeyReads(t *testing.T) {
	e := newAuthEnv(t)
	var pts []string
	for _, id := range []string{"car-1", "truck-1", "truck-2", "truck-3", "trucker-9", "van-1"} {
		pts = append(pts, strings.Replace(truckPoint, "truck-1", id, 1))
	}
	if rec := e.call("POST", "/upload", "["+strings.Join(pts, ",")+"]", bearer(apikeytest.All), ""); rec.Code != 200 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	e.process()
	if rec := e.call("GET", "/retrieve?device_id=truck-2", "", bearer(apikeytest.Truck), ""); rec.Code != 200 ||
		!strings.Contains(rec.Body.String(), `"data_count":1`) {
		t.Fatalf("retrieve truck-2: %d %s", rec.Code, rec.Body)
	}
	if rec := e.call("GET", "/devices/truck-3", "", bearer(apikeytest.Truck), ""); rec.Code != 200 {
		t.Fatalf("device truck-3: %d %s", rec.Code, rec.Body)
	}
	var got []string
	cursor := ""
	for range 10 {
		path := "/devices?limit=2"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		rec := e.call("GET", path, "", bearer(apikeytest.Truck), "")
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", path, rec.Code, rec.Body)
		}
		var page pageBody
		decodeStrict(t, path, rec, &page)
		for _, d := range page.Devices {
			got = append(got, d.DeviceID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if strings.Join(got, ",") != "truck-1,truck-2,truck-3" {
		t.Errorf("truck key lists %v, want truck-1..3 only", got)
	}
	// An unlimited key lists every device.
	var page pageBody
	decodeStrict(t, "/devices", e.call("GET", "/devices", "", bearer(apikeytest.Reader), ""), &page)
	if len(page.Devices) != 6 {
		t.Errorf("reader lists %d devices, want 6", len(page.Devices))
	}
}

// TestLexRanges checks the ZRANGE BYLEX bounds of a prefixed device list.
func TestLexRanges(t *testing.T) {
	for _, tt := range []struct {
		cursor   string
		prefixes []string
		want     [][2]string
	}{
		{"", nil, [][2]string{{"-", "+"}}},
		{"b", nil, [][2]string{{"(b", "+"}}},
		{"", []string{"truck-", "van-"}, [][2]string{{"[truck-", "(truck-\xff"}, {"[van-", "(van-\xff"}}},
		{"truck-5", []string{"truck-", "van-"}, [][2]string{{"(truck-5", "(truck-\xff"}, {"[van-", "(van-\xff"}}},
		// truck-* lies before the cursor: min above max, ZRANGE returns nothing.
		{"van-2", []string{"truck-", "van-"}, [][2]string{{"(van-2", "(truck-\xff"}, {"(van-2", "(van-\xff"}}},
		{"a", []string{"truck-"}, [][2]string{{"[truck-", "(truck-\xff"}}},
	} {
		got := lexRanges(tt.cursor, tt.prefixes)
		if len(got) != len(tt.want) {
			t.Errorf("lexRanges(%q, %v) = %q, want %q", tt.cursor, tt.prefixes, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("lexRanges(%q, %v) = %q, want %q", tt.cursor, tt.prefixes, got, tt.want)
			}
		}
	}
}

// TestIdempotencyKeysPerAPIKey checks that two API keys using the same
// Idempotency-Key do not meet: neither replays nor blocks the other.
func TestIdempotencyKeysPerAPIKey(t *testing.T) {
	e := newAuthEnv(t)
	idem := http.Header{"Idempotency-Key": {"batch-1"}}
	with := func(key string) http.Header {
		h := bearer(key)
		h["Idempotency-Key"] = idem["Idempotency-Key"]
		return h
	}
	for _, st := range []struct {
		key, body string
		status    int
		replayed  string
	}{
		{apikeytest.Writer, carPoint, 200, ""},
		{apikeytest.All, truckPoint, 200, ""},      // other content, other API key: stored, no 422
		{apikeytest.Writer, carPoint, 200, "true"}, // the writer's retry: a replay
		{apikeytest.All, truckPoint, 200, "true"},
		{apikeytest.Writer, truckPoint, 422, ""}, // the writer's key reused for other content
	} {
		rec := e.call("POST", "/upload", st.body, with(st.key), "")
		if rec.Code != st.status || rec.Header().Get("Idempotent-Replayed") != st.replayed {
			t.Fatalf("%.12s…: %d replayed %q, want %d %q: %s", st.key, rec.Code, rec.Header().Get("Idempotent-Replayed"),
				st.status, st.replayed, rec.Body)
		}
	}
	if n := e.streamLen(); n != 2 {
		t.Errorf("%d points stored, want 2", n)
	}
}

func TestOpenWarning(t *testing.T) {
	ks := testKeySet(t)
	for _, tt := range []struct {
		addr string
		keys *apikey.Set
		warn bool
	}{
		{"127.0.0.1:8080", nil, false},
		{"127.0.0.2:8080", nil, false},
		{"localhost:8080", nil, false},
		{"[::1]:8080", nil, false},
		{"0.0.0.0:8080", nil, true},
		{":8080", nil, true},
		{"[::]:8080", nil, true},
		{"10.1.2.3:8080", nil, true},
		{"ingest.example:8080", nil, true},
		{"0.0.0.0:8080", ks, false},
	} {
		c := Config{}
		c.HTTPAddr = tt.addr
		w := c.OpenWarning(tt.keys)
		if (w != "") != tt.warn {
			t.Errorf("%s, keys %v: warning %q, want one: %v", tt.addr, tt.keys != nil, w, tt.warn)
		}
		if w != "" && !strings.Contains(w, "AUTHENTICATION IS OFF") {
			t.Errorf("warning %q is not loud", w)
		}
	}
}
