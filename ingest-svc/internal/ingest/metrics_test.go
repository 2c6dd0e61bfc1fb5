package ingest

import (
	"net/http"
	"strings"
	"testing"
)

func TestMetricsCountUploads(t *testing.T) {
	e := newEnv(t)
	if rec := e.upload(`[{"latitude": 1, "longitude": 2}, {"latitude": 3, "longitude": 4}]`); rec.Code != 200 {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	if rec := e.upload(`{"latitude": 91, "longitude": 2}`); rec.Code != 400 {
		t.Fatalf("bad upload: %d", rec.Code)
	}
	e.do(req{method: "GET", path: "/nope"})
	rec := e.do(req{method: "GET", path: "/metrics"})
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	out := rec.Body.String()
	for _, want := range []string{
		"geostream_ingest_points_accepted_total 2",
		`geostream_ingest_uploads_rejected_total{reason="invalid"} 1`,
		"geostream_ingest_batch_points_count 1",
		`geostream_http_requests_total{code="200",method="POST",route="/upload"} 1`,
		`geostream_http_requests_total{code="400",method="POST",route="/upload"} 1`,
		`geostream_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
