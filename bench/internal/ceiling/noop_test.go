package ceiling

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNoopRouter(t *testing.T) {
	h := NoopRouter()

	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/upload",
		strings.NewReader(`[{"timestamp":"2026-11-28T10:00:00Z","latitude":1.5,"longitude":2.5},{"latitude":3,"longitude":4}]`)))
	if w.Code != http.StatusOK || w.Body.String() != `{"message":"Data uploaded successfully","accepted":2}` {
		t.Fatalf("POST /upload: %d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader(`{"latitude":91,"longitude":0}`)))
	if w.Code != http.StatusBadRequest {
		t.Fatalf("POST /upload of an invalid point: %d %s", w.Code, w.Body)
	}

	// GET /retrieve: a summary with the keys ingest-svc answers.
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/retrieve", nil))
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusOK || err != nil {
		t.Fatalf("GET /retrieve: %d %s %v", w.Code, w.Body, err)
	}
	for _, k := range []string{"average_latitude", "average_longitude", "data_count", "centroid", "bbox", "first_timestamp", "last_timestamp"} {
		if _, ok := got[k]; !ok {
			t.Errorf("GET /retrieve: no %q in %s", k, w.Body)
		}
	}
}
