package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/point"
)

const seedPoint = `{"timestamp": "2025-01-23T12:00:00Z", "latitude": 52.5200, "longitude": 13.4050}`

// deviceIn returns a device id of partition p.
func (e *env) deviceIn(p int) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("dev-%d", i); e.schema.PartitionOf(id) == p {
			return id
		}
	}
}

// pointsOf builds a JSON array of n points spread over every partition.
func (e *env) pointsOf(n int, lat float64) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"latitude":%g,"longitude":%d,"device_id":%q}`, lat, i%180, e.deviceIn(i%e.schema.Partitions()))
	}
	return "[" + strings.Join(items, ",") + "]"
}

func TestUploadOK(t *testing.T) {
	e0 := newEnv(t)
	spread := e0.pointsOf(12, 1.5)
	ndjson := seedPoint + "\n\n" + `{"latitude":-1,"longitude":-2,"device_id":"b","speed":3.5}` + "\r\n"
	for _, tt := range []struct {
		name        string
		body        string
		contentType string
		encoding    string // a gzip encoding compresses the body
		want        int
	}{
		{"seed object", seedPoint, "application/json", "", 1},
		{"object with charset", seedPoint, "application/json; charset=UTF-8", "", 1},
		{"array over every partition", spread, "application/json", "", 12},
		{"ndjson", ndjson, "application/x-ndjson", "", 2},
		{"jsonl", ndjson, "application/jsonl", "", 2},
		{"gzip json", spread, "application/json", "gzip", 12},
		{"gzip ndjson", ndjson, "application/x-ndjson", "GZIP", 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			h := map[string]string{"Content-Type": tt.contentType}
			body := []byte(tt.body)
			if tt.encoding != "" {
				h["Content-Encoding"] = tt.encoding
				body = gzipBytes(t, body)
			}
			rec := e.do(req{method: http.MethodPost, path: "/upload", body: body, header: h})
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			want := fmt.Sprintf(`{"message":"Data uploaded successfully","accepted":%d}`, tt.want)
			if got := rec.Body.String(); got != want {
				t.Errorf("body %s, want %s", got, want)
			}
			if rec.Header().Get("Idempotent-Replayed") != "" {
				t.Errorf("Idempotent-Replayed set on a first upload")
			}
			// The streams hold exactly the decoded points, in request order
			// within each partition.
			kind, _ := bodyKind(tt.contentType)
			decoded, err := point.DecodeBytes([]byte(tt.body), kind, point.DecodeOptions{Now: func() time.Time { return testNow }})
			if err != nil {
				t.Fatal(err)
			}
			if len(decoded) != tt.want {
				t.Fatalf("test body holds %d points, want %d", len(decoded), tt.want)
			}
			if got, want := e.storedPoints(), byPartition(e, decoded); !reflect.DeepEqual(got, want) {
				t.Errorf("stored points\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

// byPartition orders points as storedPoints reads them back.
func byPartition(e *env, pts []point.Point) []point.Point {
	var out []point.Point
	for p := range e.schema.Partitions() {
		for _, pt := range pts {
			if e.schema.PartitionOf(pt.DeviceID) == p {
				out = append(out, pt)
			}
		}
	}
	return out
}

func TestUploadSeedPointStored(t *testing.T) {
	e := newEnv(t)
	if rec := e.upload(seedPoint); rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	want := []point.Point{{DeviceID: "default", TimeMs: testNow.UnixMilli(), LatE7: 525200000, LonE7: 134050000}}
	if got := e.storedPoints(); !reflect.DeepEqual(got, want) {
		t.Fatalf("stored %+v, want %+v", got, want)
	}
}

func TestUploadRejected(t *testing.T) {
	bomb := gzipBytes(t, []byte("["+strings.Repeat(" ", 2<<20)+seedPoint+"]")) // 2 MiB of spaces: a few KiB gzipped
	for _, tt := range []struct {
		name    string
		tune    func(*RouterConfig)
		req     req
		status  int
		errHas  string
		details []errorDetail // index, field and a message substring to find, in order
	}{
		{name: "no content type", req: req{body: []byte(seedPoint)}, status: 415, errHas: "application/x-ndjson"},
		{name: "text/plain", req: req{body: []byte(seedPoint), header: map[string]string{"Content-Type": "text/plain"}},
			status: 415, errHas: "send the header Content-Type: application/json"},
		{name: "form (curl -d)", req: req{body: []byte("a=1"), header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
			status: 415, errHas: "Content-Type: application/json", details: []errorDetail{{Message: "add -H 'Content-Type: application/json'"}}},
		{name: "latin1 charset", req: req{body: []byte(seedPoint), header: map[string]string{"Content-Type": "application/json; charset=latin1"}},
			status: 415, details: []errorDetail{{Message: "must be UTF-8"}}},
		{name: "brotli", req: req{body: []byte(seedPoint), header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "br"}},
			status: 415, errHas: "Content-Encoding must be gzip or absent"},
		{name: "gzip twice", req: req{body: []byte(seedPoint), header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip, gzip"}},
			status: 415, errHas: "Content-Encoding"},
		{name: "bad gzip", req: req{body: []byte(seedPoint), header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}},
			status: 400, errHas: "not valid gzip"},
		{name: "truncated gzip", req: req{body: gzipBytes(t, []byte(seedPoint))[:20], header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}},
			status: 400, errHas: "not valid gzip"},
		{name: "empty body", req: req{header: map[string]string{"Content-Type": "application/json"}},
			status: 400, errHas: msgInvalidPoints, details: []errorDetail{{Message: "body is empty"}}},
		{name: "bad item names index and field",
			req: req{body: []byte(`[` + seedPoint + `,` + seedPoint + `,{"latitude":91.5,"longitude":0},{"latitude":0,"longitude":0,"color":"red"}]`),
				header: map[string]string{"Content-Type": "application/json"}},
			status: 400, errHas: msgInvalidPoints, details: []errorDetail{
				{Index: ptr(2), Field: "latitude", Message: "item 2: latitude: must be between -90 and 90, got 91.5"},
				{Index: ptr(3), Field: "color", Message: "unknown field"},
			}},
		{name: "ndjson bad line names line",
			req: req{body: []byte(seedPoint + "\n" + `{"latitude":0,"longitude":0,"device_id":"no spaces"}`),
				header: map[string]string{"Content-Type": "application/x-ndjson"}},
			status: 400, details: []errorDetail{{Index: ptr(1), Line: 2, Field: "device_id", Message: "must be 1-128 characters"}}},
		{name: "NaN", req: req{body: []byte(`{"latitude":NaN,"longitude":0}`), header: map[string]string{"Content-Type": "application/json"}},
			status: 400, details: []errorDetail{{Index: ptr(0), Message: "NaN and Infinity"}}},
		{name: "future timestamp", req: req{body: []byte(`{"timestamp":"2025-01-23T13:00:00Z","latitude":0,"longitude":0}`), header: map[string]string{"Content-Type": "application/json"}},
			status: 400, details: []errorDetail{{Index: ptr(0), Field: "timestamp", Message: "ahead of the server's clock"}}},
		{name: "idempotency key too long", req: req{body: []byte(seedPoint), header: map[string]string{"Content-Type": "application/json", "Idempotency-Key": strings.Repeat("k", 129)}},
			status: 400, errHas: "Idempotency-Key must be 1-128 printable ASCII characters"},
		{name: "idempotency key not ASCII", req: req{body: []byte(seedPoint), header: map[string]string{"Content-Type": "application/json", "Idempotency-Key": "clé"}},
			status: 400, errHas: "Idempotency-Key"},
		{name: "body over limit by Content-Length", tune: func(c *RouterConfig) { c.MaxBodyBytes = 100 },
			req:    req{body: []byte(strings.Repeat(" ", 101)), header: map[string]string{"Content-Type": "application/json"}},
			status: 413, errHas: "larger than 100 bytes; split"},
		{name: "body over limit while reading", tune: func(c *RouterConfig) { c.MaxBodyBytes = 100 },
			req:    req{body: []byte(strings.Repeat(" ", 101) + seedPoint), hideLength: true, header: map[string]string{"Content-Type": "application/json"}},
			status: 413, errHas: "larger than 100 bytes; split"},
		{name: "gzip bomb", tune: func(c *RouterConfig) { c.MaxDecompressedBytes = 1 << 20 },
			req:    req{body: bomb, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}},
			status: 413, errHas: "larger than 1048576 bytes after gzip decompression"},
		{name: "too many points", tune: func(c *RouterConfig) { c.MaxBatch = 2 },
			req:    req{body: []byte("[" + seedPoint + "," + seedPoint + "," + seedPoint + "]"), header: map[string]string{"Content-Type": "application/json"}},
			status: 413, errHas: "more than 2 points; split the batch"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tune := []func(*RouterConfig){}
			if tt.tune != nil {
				tune = append(tune, tt.tune)
			}
			e := newEnv(t, tune...)
			tt.req.method, tt.req.path = http.MethodPost, "/upload"
			rec := e.do(tt.req)
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.status, rec.Body)
			}
			b := errorOf(t, rec)
			if !strings.Contains(b.Error, tt.errHas) {
				t.Errorf("error %q does not contain %q", b.Error, tt.errHas)
			}
			checkDetails(t, b.Details, tt.details)
			if n := e.streamLen(); n != 0 {
				t.Errorf("%d entries stored by a rejected upload", n)
			}
		})
	}
}

func ptr(i int) *int { return &i }

// checkDetails checks that want's details appear in got in order: same
// index, line and field, and a message containing want's.
func checkDetails(t *testing.T, got, want []errorDetail) {
	t.Helper()
	i := 0
	for _, g := range got {
		if i == len(want) {
			break
		}
		w := want[i]
		if reflect.DeepEqual(g.Index, w.Index) && g.Line == w.Line && g.Field == w.Field && strings.Contains(g.Message, w.Message) {
			i++
		}
	}
	if i < len(want) {
		js, _ := json.Marshal(got)
		t.Errorf("details %s lack %+v (index %v)", js, want[i], deref(want[i].Index))
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestUploadAllOrNothing checks that a batch with one bad point stores
// nothing, in any partition, however many good points it holds.
func TestUploadAllOrNothing(t *testing.T) {
	e := newEnv(t)
	if rec := e.upload(e.pointsOf(8, 1)); rec.Code != http.StatusOK {
		t.Fatalf("first upload: %d %s", rec.Code, rec.Body)
	}
	good := strings.TrimSuffix(e.pointsOf(40, 2), "]")
	for _, bad := range []string{
		good + `,{"latitude":2,"longitude":500}]`,
		good + `,{"latitude":2,"longitude":5,"speed":-1}]`,
		good + `,{"latitude":2,"longitude":5}`, // truncated
		good + `,{"latitude":2,"longitude":5}] trailing`,
	} {
		rec := e.upload(bad)
		if rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d, want 400: %s", rec.Code, rec.Body)
		}
		if d := errorOf(t, rec).Details; len(d) == 0 || !strings.Contains(d[0].Message, "item 40") && !strings.Contains(d[0].Message, "body") {
			t.Errorf("details %+v do not name item 40 or the body", d)
		}
		if n := e.streamLen(); n != 8 {
			t.Fatalf("stream length %d after a rejected batch, want 8", n)
		}
	}
}

func TestUploadRedisDown(t *testing.T) {
	e := newEnv(t)
	e.m.Close()
	rec := e.upload(seedPoint)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if b := errorOf(t, rec); b.Error != msgStorageUnavailable {
		t.Errorf("error %q, want %q", b.Error, msgStorageUnavailable)
	}
}

// TestUploadNoScript checks the EVAL fallback when Redis lost its script
// cache (a restart, SCRIPT FLUSH).
func TestUploadNoScript(t *testing.T) {
	e := newEnv(t)
	for i := range 2 {
		if err := e.rdb.ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
		if rec := e.upload(e.pointsOf(5, 3)); rec.Code != http.StatusOK {
			t.Fatalf("upload %d after SCRIPT FLUSH: %d %s", i, rec.Code, rec.Body)
		}
	}
	if n := e.streamLen(); n != 10 {
		t.Fatalf("%d entries, want 10", n)
	}
}

func TestUploadResponseEncoding(t *testing.T) {
	for _, n := range []int64{0, 1, 500, 1 << 40} {
		want, err := json.Marshal(uploadResponse{Message: "Data uploaded successfully", Accepted: n})
		if err != nil {
			t.Fatal(err)
		}
		if got := appendUploadResponse(nil, n); string(got) != string(want) {
			t.Errorf("%d points: %s, want %s", n, got, want)
		}
	}
}
