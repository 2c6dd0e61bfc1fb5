package ingest

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
)

// BenchmarkUploadDecodeValidateParallel sends POST /upload on every core at
// once with 100 points whose last is invalid: the handler reads, decodes and
// validates the whole body and answers 400 without touching Redis, so this
// measures the upload path before the store under concurrency.
func BenchmarkUploadDecodeValidateParallel(b *testing.B) {
	m := miniredis.RunT(b)
	schema, err := keys.New("", 4)
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultRouterConfig()
	cfg.RateLimit, cfg.ReadRateLimit, cfg.MaxInFlightPerClient = 0, 0, 0
	cfg.MaxInFlight = MaxMaxInFlight
	router := NewRouter(cfg, Deps{Redis: redis.NewClient(&redis.Options{Addr: m.Addr()}), Schema: schema})
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i := range 99 {
		fmt.Fprintf(&buf, `{"latitude":%.6f,"longitude":%.6f,"device_id":"dev-%d"},`, float64(i%180)-89.5, float64(i%360)-179.5, i%50)
	}
	buf.WriteString(`{"latitude":91,"longitude":0}]`)
	body := buf.Bytes()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/upload", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			router.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest {
				b.Errorf("status %d, want 400 (item 99 invalid): %s", rec.Code, rec.Body)
				return
			}
		}
	})
}
