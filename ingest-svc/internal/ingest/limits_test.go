package ingest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geostream/geostream/ingest-svc/internal/apikey/apikeytest"
)

// TestRateLimitRefusals is every 429 path: Retry-After is what the bucket
// needs, the answer is JSON, nothing is stored; with the clock moved on
// the key passes again.
func TestRateLimitRefusals(t *testing.T) {
	e := newAuthEnv(t, func(c *RouterConfig) {
		c.MaxBatch, c.RateLimit, c.RateBurst = 5, 1, 5 // points
		c.ReadRateLimit, c.ReadRateBurst = 0.5, 2      // requests
	})
	batch := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(carPoint+",", n), ",") + "]"
	}
	steps := []struct {
		name      string
		advance   time.Duration
		method    string
		path      string
		body      string
		key       string
		status    int
		retry     string
		errHas    string
		wantSaved int64 // points in the streams after the step
	}{
		{name: "a full burst", method: "POST", path: "/upload", body: batch(5), key: apikeytest.Writer, status: 200, wantSaved: 5},
		{name: "empty bucket", method: "POST", path: "/upload", body: batch(1), key: apikeytest.Writer, status: 429, retry: "1",
			errHas: `the API key "writer" is over its rate limit of 1 points/s; retry after 1 s`, wantSaved: 5},
		{name: "2 s later, 5 points need 3 s more", advance: 2 * time.Second, method: "POST", path: "/upload", body: batch(5),
			key: apikeytest.Writer, status: 429, retry: "3", wantSaved: 5},
		{name: "another writer is not limited", method: "POST", path: "/upload", body: batch(5), key: apikeytest.All, status: 200, wantSaved: 10},
		{name: "the first token is still there", method: "POST", path: "/upload", body: batch(1), key: apikeytest.Writer, status: 200, wantSaved: 11},
		{name: "read 1", method: "GET", path: "/devices", key: apikeytest.Reader, status: 200, wantSaved: 11},
		{name: "read 2", method: "GET", path: "/devices", key: apikeytest.Reader, status: 200, wantSaved: 11},
		{name: "read 3 over the burst", method: "GET", path: "/retrieve", key: apikeytest.Reader, status: 429, retry: "2",
			errHas: "rate limit of 0.5 requests/s", wantSaved: 11},
		{name: "a device read counts too", method: "GET", path: "/devices/truck-1", key: apikeytest.Reader, status: 429, retry: "2", wantSaved: 11},
		{name: "2 s later", advance: 2 * time.Second, method: "GET", path: "/devices", key: apikeytest.Reader, status: 200, wantSaved: 11},
	}
	for _, st := range steps {
		e.advance(st.advance)
		rec := e.call(st.method, st.path, st.body, bearer(st.key), "")
		if rec.Code != st.status {
			t.Fatalf("%s: status %d, want %d: %s", st.name, rec.Code, st.status, rec.Body)
		}
		if got := rec.Header().Get("Retry-After"); got != st.retry {
			t.Errorf("%s: Retry-After %q, want %q", st.name, got, st.retry)
		}
		if st.status == 429 {
			if b := errorOf(t, rec); !strings.Contains(b.Error, st.errHas) {
				t.Errorf("%s: error %q does not contain %q", st.name, b.Error, st.errHas)
			}
		}
		if n := e.streamLen(); n != st.wantSaved {
			t.Errorf("%s: %d points stored, want %d", st.name, n, st.wantSaved)
		}
	}
	rec := e.call("GET", "/metrics", "", bearer(apikeytest.Metrics), "")
	for _, want := range []string{
		`geostream_ingest_requests_refused_total{key="writer",reason="rate_limited"} 2`,
		`geostream_ingest_requests_refused_total{key="reader",reason="rate_limited"} 2`,
		`geostream_ingest_uploads_rejected_total{reason="rate_limited"} 2`,
		`geostream_ingest_key_points_accepted_total{key="writer"} 6`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRateLimitFloodIsolated floods the API with one key from many
// goroutines while another key uploads and reads: the flood gets 429s
// (exactly its burst passes: the test clock stands still), the other key
// gets every answer it should.
func TestRateLimitFloodIsolated(t *testing.T) {
	e := newAuthEnv(t, func(c *RouterConfig) {
		c.MaxBatch, c.RateLimit, c.RateBurst = 10, 1, 20
		c.ReadRateLimit, c.ReadRateBurst = 1, 20
	})
	const floodRequests = 400
	var (
		mu     sync.Mutex
		counts = map[int]int{}
		wg     sync.WaitGroup
	)
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var rec *httptest.ResponseRecorder
				if i%2 == 0 {
					rec = e.call("POST", "/upload", carPoint, bearer(apikeytest.All), "")
				} else {
					rec = e.call("GET", "/devices", "", bearer(apikeytest.All), "")
				}
				mu.Lock()
				counts[rec.Code]++
				mu.Unlock()
			}
		}()
	}
	// The other key works while the flood runs.
	otherFailed := make(chan string, 40)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 20 {
			if rec := e.call("POST", "/upload", truckPoint, bearer(apikeytest.Truck), ""); rec.Code != 200 {
				otherFailed <- "upload: " + rec.Body.String()
			}
			if rec := e.call("GET", "/retrieve?device_id=truck-1", "", bearer(apikeytest.Truck), ""); rec.Code != 400 { // no processor: no data
				otherFailed <- "retrieve: " + rec.Body.String()
			}
		}
	}()
	for i := range floodRequests {
		work <- i
	}
	close(work)
	wg.Wait()
	close(otherFailed)
	for f := range otherFailed {
		t.Errorf("the other key was refused during the flood: %s", f)
	}
	if counts[200] != 40 || counts[429] != floodRequests-40 || len(counts) != 2 {
		t.Errorf("flood answers %v, want 40 × 200 (the bursts) and the rest 429", counts)
	}
	if n := e.streamLen(); n != 20+20 {
		t.Errorf("%d points stored, want 40", n)
	}
}

// TestRateLimitByIP checks the per-IP buckets of a service without keys.
func TestRateLimitByIP(t *testing.T) {
	e := newEnv(t, func(c *RouterConfig) {
		c.RateLimitByIP = true
		c.ReadRateLimit, c.ReadRateBurst = 1, 2
	})
	for i, tt := range []struct {
		remote string
		status int
	}{
		{"10.0.0.1:5000", 200}, {"10.0.0.1:5001", 200}, {"10.0.0.1:5002", 429}, {"10.0.0.2:5000", 200},
	} {
		rec := e.call("GET", "/devices", "", nil, tt.remote)
		if rec.Code != tt.status {
			t.Fatalf("request %d from %s: %d, want %d: %s", i, tt.remote, rec.Code, tt.status, rec.Body)
		}
		if rec.Code == 429 && !strings.Contains(errorOf(t, rec).Error, "this client is over its rate limit") {
			t.Errorf("429 body %s", rec.Body)
		}
	}
	// Off by default: no limit at all without keys.
	e = newEnv(t, func(c *RouterConfig) { c.ReadRateLimit, c.ReadRateBurst = 1, 1 })
	for range 5 {
		if rec := e.call("GET", "/devices", "", nil, "10.0.0.1:5000"); rec.Code != 200 {
			t.Fatalf("without --rate-limit-by-ip: %d", rec.Code)
		}
	}
}

// TestBucketsBounded checks that the per-client buckets stay bounded:
// idle clients are forgotten, and past the bound new clients share one.
func TestBucketsBounded(t *testing.T) {
	now := testNow
	b := newBuckets(1, 1, func() time.Time { return now })
	for i := range MaxLimitedClients {
		if b.take("ip:"+strconv.Itoa(i), 1) != 0 {
			t.Fatal("a new client was limited")
		}
	}
	// Full, every bucket empty: a newcomer gets the shared bucket.
	if b.take("newcomer-1", 1) != 0 || b.take("newcomer-2", 1) == 0 {
		t.Error("past the bound, newcomers do not share one bucket")
	}
	if len(b.m) != MaxLimitedClients {
		t.Errorf("%d buckets, want %d", len(b.m), MaxLimitedClients)
	}
	now = now.Add(2 * time.Second) // every bucket full again: all forgettable
	if b.take("newcomer-3", 1) != 0 || len(b.m) != 1 {
		t.Errorf("idle buckets not swept: %d left", len(b.m))
	}
}

// TestInFlightLimit holds one upload in flight (its body arrives slowly)
// with --max-in-flight 1: the next API request answers 503 at once with
// Retry-After, the health endpoints still answer, and the held upload
// completes.
func TestInFlightLimit(t *testing.T) {
	e := newEnv(t, func(c *RouterConfig) { c.MaxInFlight = 1 })
	pr, pw := io.Pipe()
	reading := make(chan struct{})
	held := httptest.NewRequest("POST", "/upload", &signalReader{r: pr, first: reading})
	held.Header.Set("Content-Type", "application/json")
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		e.router.ServeHTTP(rec, held)
		done <- rec
	}()
	<-reading // the held upload is in its handler

	rec := e.call("GET", "/retrieve", "", nil, "")
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("second request: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if b := errorOf(t, rec); !strings.Contains(b.Error, "limit of 1 requests") {
		t.Errorf("error %q", b.Error)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if rec := e.call("GET", path, "", nil, ""); rec.Code != 200 {
			t.Errorf("%s during the flood: %d", path, rec.Code)
		}
	}
	pw.Write([]byte(carPoint))
	pw.Close()
	if rec := <-done; rec.Code != 200 {
		t.Fatalf("held upload: %d %s", rec.Code, rec.Body)
	}
	if rec := e.call("GET", "/devices", "", nil, ""); rec.Code != 200 {
		t.Errorf("after the held upload: %d", rec.Code)
	}
	m := e.call("GET", "/metrics", "", nil, "").Body.String()
	if !strings.Contains(m, `geostream_ingest_requests_refused_total{key="",reason="overloaded"} 1`) {
		t.Errorf("/metrics does not count the refusal")
	}
}

// signalReader closes first on its first Read.
type signalReader struct {
	r     io.Reader
	first chan struct{}
	once  sync.Once
}

func (s *signalReader) Read(p []byte) (int, error) {
	s.once.Do(func() { close(s.first) })
	return s.r.Read(p)
}

// TestClientInFlightLimit holds one upload of a key in flight with
// --max-in-flight-per-client 1: the same key's next request is 429, another
// key's passes.
func TestClientInFlightLimit(t *testing.T) {
	e := newAuthEnv(t, func(c *RouterConfig) { c.MaxInFlight, c.MaxInFlightPerClient = 4, 1 })
	pr, pw := io.Pipe()
	reading := make(chan struct{})
	held := httptest.NewRequest("POST", "/upload", &signalReader{r: pr, first: reading})
	held.Header.Set("Content-Type", "application/json")
	held.Header.Set("Authorization", "Bearer "+apikeytest.All)
	done := make(chan *httptest.ResponseRecorder)
	go func() {
		rec := httptest.NewRecorder()
		e.router.ServeHTTP(rec, held)
		done <- rec
	}()
	<-reading

	rec := e.call("GET", "/devices", "", bearer(apikeytest.All), "")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "1" ||
		!strings.Contains(errorOf(t, rec).Error, `the API key "all" already has 1 requests in flight`) {
		t.Fatalf("same key: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := e.call("GET", "/devices", "", bearer(apikeytest.Reader), ""); rec.Code != 200 {
		t.Fatalf("other key: %d %s", rec.Code, rec.Body)
	}
	pw.Write([]byte(carPoint))
	pw.Close()
	if rec := <-done; rec.Code != 200 {
		t.Fatalf("held upload: %d %s", rec.Code, rec.Body)
	}
	if rec := e.call("GET", "/devices", "", bearer(apikeytest.All), ""); rec.Code != 200 {
		t.Fatalf("same key after the upload: %d %s", rec.Code, rec.Body)
	}
}
