package ingest

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestRoutesJSONErrors(t *testing.T) {
	e := newEnv(t)
	for _, tt := range []struct {
		method, path string
		status       int
		errHas       string
		allow        string
	}{
		{http.MethodGet, "/nope", 404, "no such endpoint: GET /nope", ""},
		{http.MethodGet, "/upload/", 404, "no such endpoint", ""},
		{http.MethodGet, "/upload", 405, "method GET is not allowed on /upload; use POST", "POST"},
		{http.MethodPost, "/retrieve", 405, "use GET", "GET"},
		{http.MethodDelete, "/healthz", 405, "not allowed", "GET"},
	} {
		rec := e.do(req{method: tt.method, path: tt.path})
		if rec.Code != tt.status {
			t.Errorf("%s %s: status %d, want %d", tt.method, tt.path, rec.Code, tt.status)
			continue
		}
		if b := errorOf(t, rec); !strings.Contains(b.Error, tt.errHas) {
			t.Errorf("%s %s: error %q does not contain %q", tt.method, tt.path, b.Error, tt.errHas)
		}
		if got := rec.Header().Get("Allow"); got != tt.allow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
		}
	}
}

func TestRoutesHealth(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if rec := e.do(req{method: http.MethodGet, path: path}); rec.Code != http.StatusOK {
			t.Errorf("%s: status %d: %s", path, rec.Code, rec.Body)
		}
	}
	e.m.Close()
	if rec := e.do(req{method: http.MethodGet, path: "/healthz"}); rec.Code != http.StatusOK {
		t.Errorf("/healthz with Redis down: status %d", rec.Code)
	}
	if rec := e.do(req{method: http.MethodGet, path: "/readyz"}); rec.Code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down: status %d", rec.Code)
	}
}

// TestRoutesPanic checks that a panicking handler answers a JSON 500 and is
// logged, and that the server goes on answering.
func TestRoutesPanic(t *testing.T) {
	e := newEnv(t)
	var logs bytes.Buffer
	cfg := e.cfg
	e.router = NewRouter(cfg, Deps{Redis: e.rdb, Schema: e.schema, Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	e.router.GET("/boom", func(*gin.Context) { panic("kaboom") })

	rec := e.do(req{method: http.MethodGet, path: "/boom"})
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	errorOf(t, rec)
	if !strings.Contains(logs.String(), "kaboom") {
		t.Errorf("panic not logged: %s", logs.String())
	}
	if !strings.Contains(logs.String(), "status=500") {
		t.Errorf("request not logged at debug level: %s", logs.String())
	}
	if rec := e.do(req{method: http.MethodGet, path: "/healthz"}); rec.Code != http.StatusOK {
		t.Errorf("after a panic: /healthz %d", rec.Code)
	}
}
