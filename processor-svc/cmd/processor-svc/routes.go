package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/metrics"
	"github.com/geostream/geostream/streamkit/service"
)

// newMux returns the processor's HTTP routes: liveness, readiness and
// metrics, each instrumented; anything else is a JSON 404 or 405, as on
// ingest-svc.
func newMux(c redis.UniversalClient, reg *prometheus.Registry) *http.ServeMux {
	m := metrics.NewHTTP(reg)
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", m.Wrap("/healthz", http.HandlerFunc(service.Healthz)))
	mux.Handle("GET /readyz", m.Wrap("/readyz", service.Readyz(c)))
	mux.Handle("GET /metrics", m.Wrap("/metrics", metrics.Handler(reg)))
	mux.HandleFunc("/", noRoute)
	return mux
}

const routesHelp = "processor-svc has GET /healthz, GET /readyz and GET /metrics"

func noRoute(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		w.Header().Set("Allow", "GET, HEAD")
		service.WriteError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path+"; use GET")
	default:
		service.WriteError(w, http.StatusNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path+"; "+routesHelp)
	}
}
