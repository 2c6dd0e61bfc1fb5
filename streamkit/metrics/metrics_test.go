package metrics

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
)

func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestHTTPWrap(t *testing.T) {
	reg := NewRegistry()
	m := NewHTTP(reg)
	h := m.Wrap("/things/{id}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/things/missing" {
			http.NotFound(w, r)
		}
	}))
	for _, p := range []string{"/things/1", "/things/2", "/things/missing"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil))
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/things/{id}", "GET", "200")); got != 2 {
		t.Errorf("200s = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("/things/{id}", "GET", "404")); got != 1 {
		t.Errorf("404s = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.inFlight); got != 0 {
		t.Errorf("in flight = %v after all requests ended", got)
	}
	out := scrape(t, Handler(reg))
	for _, name := range []string{"geostream_http_requests_total", "geostream_http_request_duration_seconds_bucket", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(out, name) {
			t.Errorf("scrape lacks %s", name)
		}
	}
}

func TestRedisHook(t *testing.T) {
	reg := NewRegistry()
	hook := NewRedisHook(reg)
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	defer c.Close()
	c.AddHook(hook)
	ctx := context.Background()
	c.Set(ctx, "k", "v", 0)
	c.Get(ctx, "missing") // redis.Nil is not an error
	pipe := c.Pipeline()
	pipe.Get(ctx, "k")
	pipe.Exec(ctx)
	c.Do(ctx, "NOSUCHCOMMAND")
	out := scrape(t, Handler(reg))
	for _, cmd := range []string{"set", "get", "pipeline", "nosuchcommand"} {
		if !strings.Contains(out, `geostream_redis_command_duration_seconds_count{command="`+cmd+`"}`) {
			t.Errorf("no latency series for %s", cmd)
		}
	}
	if got := testutil.ToFloat64(hook.errors.WithLabelValues("get")); got != 0 {
		t.Errorf("get errors = %v: redis.Nil must not count", got)
	}
	if got := testutil.ToFloat64(hook.errors.WithLabelValues("nosuchcommand")); got != 1 {
		t.Errorf("errors = %v, want 1", got)
	}
}
