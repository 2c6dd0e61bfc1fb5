// Package metrics holds the Prometheus instrumentation every geostream
// service shares: a non-global registry with the Go and process collectors,
// HTTP request metrics, and Redis command latency (a go-redis hook).
//
// Names follow Prometheus conventions: a geostream_ prefix, base units
// (seconds), _total for counters.
package metrics

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
)

// Namespace prefixes every geostream metric.
const Namespace = "geostream"

// NewRegistry returns a registry (never the global one) holding the Go
// runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// Handler serves the registry in the Prometheus exposition format.
func Handler(r *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(r, promhttp.HandlerOpts{Registry: r, EnableOpenMetrics: false})
}

// HTTP holds the request metrics of one service.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
	// series caches the children of requests and duration per label set
	// (routes × methods × codes: a few dozen): WithLabelValues hashes its
	// labels and takes a lock on every call.
	series sync.Map // httpLabels → httpSeries
}

type httpLabels struct {
	route, method string
	code          int
}

type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// NewHTTP registers the request metrics on r.
func NewHTTP(r prometheus.Registerer) *HTTP {
	m := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Subsystem: "http", Name: "requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	r.MustRegister(m.requests, m.duration, m.inFlight)
	return m
}

// Start counts a request in flight and returns the function that records
// its outcome. route must be the route pattern (never the raw path, whose
// values are unbounded); "" is recorded as "unmatched".
func (m *HTTP) Start() func(route, method string, code int) {
	m.inFlight.Inc()
	t0 := time.Now()
	return func(route, method string, code int) {
		m.Done(t0, route, method, code)
	}
}

// Begin counts a request in flight and returns its start time, for Done:
// Start without the closure.
func (m *HTTP) Begin() time.Time {
	m.inFlight.Inc()
	return time.Now()
}

// Done records the outcome of a request begun at t0 (see Start).
func (m *HTTP) Done(t0 time.Time, route, method string, code int) {
	m.inFlight.Dec()
	if route == "" {
		route = "unmatched"
	}
	k := httpLabels{route, method, code}
	v, ok := m.series.Load(k)
	if !ok {
		v, _ = m.series.LoadOrStore(k, httpSeries{
			requests: m.requests.WithLabelValues(route, method, strconv.Itoa(code)),
			duration: m.duration.WithLabelValues(route, method),
		})
	}
	s := v.(httpSeries)
	s.requests.Inc()
	s.duration.Observe(time.Since(t0).Seconds())
}

// Wrap instruments a net/http handler serving one route.
func (m *HTTP) Wrap(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		done := m.Start()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		defer func() { done(route, r.Method, sw.code) }()
		h.ServeHTTP(sw, r)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// RedisHook is a go-redis hook recording the latency and errors of every
// command (a pipeline counts as one call named "pipeline", a script call as
// "evalsha"/"eval").
type RedisHook struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
}

// NewRedisHook registers the Redis metrics on r; add the hook to a client
// with AddHook.
func NewRedisHook(r prometheus.Registerer) *RedisHook {
	h := &RedisHook{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Subsystem: "redis", Name: "command_duration_seconds",
			Help:    "Latency of Redis calls as the service sees them, by command.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"command"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Subsystem: "redis", Name: "errors_total",
			Help: "Redis calls that failed (network errors, timeouts, error replies other than nil), by command.",
		}, []string{"command"}),
	}
	r.MustRegister(h.duration, h.errors)
	return h
}

// DialHook implements redis.Hook.
func (h *RedisHook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessHook implements redis.Hook.
func (h *RedisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		t0 := time.Now()
		err := next(ctx, cmd)
		h.observe(strings.ToLower(cmd.Name()), t0, err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h *RedisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		t0 := time.Now()
		err := next(ctx, cmds)
		h.observe("pipeline", t0, err)
		return err
	}
}

func (h *RedisHook) observe(name string, t0 time.Time, err error) {
	h.duration.WithLabelValues(name).Observe(time.Since(t0).Seconds())
	if err != nil && err != redis.Nil {
		h.errors.WithLabelValues(name).Inc()
	}
}
