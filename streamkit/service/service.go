// Package service holds what every geostream binary does the same way:
// building its logger, serving HTTP with a graceful shutdown, and answering
// the health endpoints.
package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redisconn"
)

// Listen opens the service's HTTP listener on c.HTTPAddr. A port in use is
// named in the error with the flag and variable that move it; services
// listen before they connect to Redis, so this fails at once.
func (c *Common) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", c.HTTPAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen on %s: the port is in use by another process; stop it, or listen elsewhere with --http-addr or GEOSTREAM_HTTP_ADDR", c.HTTPAddr)
	}
	if err != nil {
		return nil, fmt.Errorf("listen on %s (--http-addr, GEOSTREAM_HTTP_ADDR): %w", c.HTTPAddr, err)
	}
	return ln, nil
}

// Serve runs srv on ln until ctx is done, then shuts it down gracefully:
// in-flight requests get up to grace to finish. It returns nil after a
// clean shutdown.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down http server", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("shutdown http: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	return nil
}

// ReadyTimeout bounds the Redis ping of the readiness check.
const ReadyTimeout = time.Second

// Healthz answers 200 while the process runs: it checks nothing else, so
// that an orchestrator restarts only a wedged process, not one whose Redis is
// away.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz returns a handler answering 200 when Redis answers a PING within
// ReadyTimeout, and 503 otherwise.
func Readyz(c redis.UniversalClient) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), ReadyTimeout)
		defer cancel()
		if err := redisconn.Ping(ctx, c); err != nil {
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{
				"status": "unavailable", "error": "redis is not reachable: " + err.Error(),
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	}
}

// WriteError answers code with the API's error body,
// {"error": msg, "details": []}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, struct {
		Error   string   `json:"error"`
		Details []string `json:"details"`
	}{msg, []string{}})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
