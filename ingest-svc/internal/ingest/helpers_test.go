package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/scripts"
	"github.com/geostream/geostream/streamkit/window"
)

// testNow is the server clock of the tests.
var testNow = time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)

// env is an API on a fresh miniredis.
type env struct {
	t      *testing.T
	m      *miniredis.Miniredis
	rdb    *redis.Client
	schema *keys.Schema
	wins   window.Set
	cfg    RouterConfig
	router *gin.Engine
	// commit is the router's committer.
	commit *committer
	// now is the clock of the API, of the processing (process) and of
	// miniredis's expiries; advance moves all three.
	now time.Time
}

func newEnv(t *testing.T, tune ...func(*RouterConfig)) *env {
	t.Helper()
	return newEnvWith(t, nil, tune...)
}

// newEnvWith is newEnv with prepare run on the client before the API is
// built (to load scripts or add hooks).
func newEnvWith(t *testing.T, prepare func(*redis.Client), tune ...func(*RouterConfig)) *env {
	t.Helper()
	m := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	if prepare != nil {
		prepare(rdb)
	}
	schema, err := keys.New("gs", 4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultRouterConfig()
	for _, f := range tune {
		f(&cfg)
	}
	e := &env{t: t, m: m, rdb: rdb, schema: schema, wins: defaultWindows(), cfg: cfg, now: testNow}
	m.SetTime(testNow) // PEXPIREAT is relative to miniredis's clock
	var h *handlers
	e.router, h = newRouter(cfg, Deps{Redis: rdb, Schema: schema, Windows: e.wins, Now: func() time.Time { return e.now }})
	e.commit = h.commit
	return e
}

// advance moves the clock of the API and of miniredis forward by d:
// buckets whose expiry time passes are deleted, as Redis would.
func (e *env) advance(d time.Duration) {
	e.t.Helper()
	e.now = e.now.Add(d)
	e.m.SetTime(e.now)
	e.m.FastForward(d)
}

// req is one test request.
type req struct {
	method, path string
	body         []byte
	header       map[string]string
	// hideLength sends the body without a Content-Length (chunked), so that
	// only reading it can find it too large.
	hideLength bool
}

func (e *env) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	var body io.Reader = bytes.NewReader(r.body)
	if r.hideLength {
		body = io.MultiReader(body) // not a type httptest.NewRequest measures
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.router.ServeHTTP(rec, hr)
	return rec
}

// upload POSTs a JSON body.
func (e *env) upload(body string, header ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return e.do(req{method: http.MethodPost, path: "/upload", body: []byte(body), header: h})
}

// streamLen returns the number of points stored in every partition stream.
func (e *env) streamLen() int64 {
	e.t.Helper()
	return int64(len(e.storedPoints()))
}

// storedPoints decodes every stream entry, partition by partition.
func (e *env) storedPoints() []point.Point {
	e.t.Helper()
	var pts []point.Point
	for p := range e.schema.Partitions() {
		msgs, err := e.rdb.XRange(context.Background(), e.schema.Stream(p), "-", "+").Result()
		if err != nil {
			e.t.Fatalf("xrange: %v", err)
		}
		for _, m := range msgs {
			if pts, _, err = point.DecodeEntry(m.Values, pts); err != nil {
				e.t.Fatalf("entry %s: %v", m.ID, err)
			}
		}
	}
	return pts
}

// writeSums writes an aggregate hash as the processor would.
func (e *env) writeSums(key string, s agg.Sums) {
	e.t.Helper()
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	err := e.rdb.HSet(context.Background(), key,
		agg.FieldCount, i(s.Count), agg.FieldSumLat, i(s.SumLat), agg.FieldSumLon, i(s.SumLon),
		agg.FieldSumX, i(s.SumX), agg.FieldSumY, i(s.SumY), agg.FieldSumZ, i(s.SumZ),
		agg.FieldLatMin, i(s.LatMin), agg.FieldLatMax, i(s.LatMax),
		agg.FieldLonMin, i(s.LonMin), agg.FieldLonMax, i(s.LonMax),
		agg.FieldTMin, i(s.TMin), agg.FieldTMax, i(s.TMax),
	).Err()
	if err != nil {
		e.t.Fatalf("hset %s: %v", key, err)
	}
}

// errorOf decodes an error answer and checks its shape.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder) errorBody {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON; body %s", ct, rec.Body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatalf("error body %q: %v", rec.Body, err)
	}
	if _, ok := raw["details"]; !ok || len(raw) != 2 {
		t.Fatalf("error body %s: want exactly the keys error and details", rec.Body)
	}
	var b errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error == "" || b.Details == nil {
		t.Fatalf("error body %s: %v", rec.Body, err)
	}
	return b
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sumsOf aggregates points as the processor does.
func sumsOf(pts ...point.Point) agg.Sums {
	var s agg.Sums
	for _, p := range pts {
		s.AddPoint(p)
	}
	return s
}

// startAPI serves the router on the real Redis at url (its own
// connections, timeouts of cfg.RedisTimeout), with schema pinned and the
// append script loaded, until the test ends.
func startAPI(t *testing.T, url string, cfg RouterConfig, schema *keys.Schema) *httptest.Server {
	t.Helper()
	conn, err := redisconn.Open(url, redisconn.Options{
		MaxRetries: -1, DialTimeout: cfg.RedisTimeout, ReadTimeout: cfg.RedisTimeout, WriteTimeout: cfg.RedisTimeout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := context.Background()
	if err := redisconn.CheckMeta(ctx, conn.Client, schema); err != nil {
		t.Fatal(err)
	}
	if err := scripts.Append.Load(ctx, conn.Client).Err(); err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(NewRouter(cfg, Deps{Redis: conn.Client, Schema: schema}))
	t.Cleanup(api.Close)
	return api
}
