package main

import (
	"net/http"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/service"
)

// newMux returns the processor's HTTP routes: liveness and readiness.
func newMux(c redis.UniversalClient) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", service.Healthz)
	mux.Handle("GET /readyz", service.Readyz(c))
	return mux
}
