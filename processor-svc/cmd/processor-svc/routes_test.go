package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestUnknownRoutesAnswerJSON: 404 and 405 are JSON errors, as on ingest-svc.
func TestUnknownRoutesAnswerJSON(t *testing.T) {
	mux := newMux(nil, prometheus.NewRegistry())
	for _, tt := range []struct {
		method, path string
		status       int
		errHas       string
	}{
		{"GET", "/nope", http.StatusNotFound, "no such endpoint: GET /nope; processor-svc has GET /healthz"},
		{"GET", "/", http.StatusNotFound, "no such endpoint"},
		{"POST", "/healthz", http.StatusMethodNotAllowed, "method POST is not allowed on /healthz"},
		{"GET", "/healthz", http.StatusOK, ""},
	} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.path, rec.Code, tt.status)
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, rec.Header().Get("Content-Type"))
		}
		if tt.errHas == "" {
			continue
		}
		var body struct {
			Error   string `json:"error"`
			Details []any  `json:"details"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !strings.Contains(body.Error, tt.errHas) || body.Details == nil {
			t.Errorf("%s %s: body %s (%v), want an error containing %q and details []", tt.method, tt.path, rec.Body, err, tt.errHas)
		}
	}
}
