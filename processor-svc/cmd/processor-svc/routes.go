package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/metrics"
	"github.com/geostream/geostream/streamkit/service"
)

// newMux returns the processor's HTTP routes: liveness, readiness and
// metrics, each instrumented.
func newMux(c redis.UniversalClient, reg *prometheus.Registry) *http.ServeMux {
	m := metrics.NewHTTP(reg)
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", m.Wrap("/healthz", http.HandlerFunc(service.Healthz)))
	mux.Handle("GET /readyz", m.Wrap("/readyz", service.Readyz(c)))
	mux.Handle("GET /metrics", m.Wrap("/metrics", metrics.Handler(reg)))
	return mux
}
