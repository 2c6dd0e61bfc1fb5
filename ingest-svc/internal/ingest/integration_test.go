package ingest

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redistest"
)

// TestIntegrationRealRedis runs the API over HTTP on a real redis-server:
// concurrent uploads store exactly their points; with Redis killed every
// upload answers 503 within the Redis timeout, never 200; after a restart
// (empty script cache) uploads succeed again.
func TestIntegrationRealRedis(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	srv := redistest.Start(t)
	cfg := DefaultRouterConfig()
	cfg.RedisTimeout = 500 * time.Millisecond
	schema, err := keys.New(fmt.Sprintf("it%d", time.Now().UnixNano()), 4)
	if err != nil {
		t.Fatal(err)
	}
	api := startAPI(t, srv.URL(), cfg, schema)
	e := &env{t: t, rdb: srv.Client(), schema: schema, cfg: cfg}

	post := func(body, key string) (int, string, error) {
		r, err := http.NewRequest(http.MethodPost, api.URL+"/upload", strings.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		r.Header.Set("Content-Type", "application/json")
		if key != "" {
			r.Header.Set("Idempotency-Key", key)
		}
		resp, err := api.Client().Do(r)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}

	const uploads, perUpload = 200, 5
	var wg sync.WaitGroup
	errs := make(chan error, uploads)
	for i := range uploads {
		wg.Go(func() {
			items := make([]string, perUpload)
			for j := range items {
				items[j] = fmt.Sprintf(`{"latitude":%d,"longitude":%d,"device_id":"d%d"}`, j, i%180, (i*perUpload+j)%37)
			}
			key := ""
			if i%2 == 0 {
				key = fmt.Sprintf("key-%d", i)
			}
			code, body, err := post("["+strings.Join(items, ",")+"]", key)
			want := fmt.Sprintf(`{"message":"Data uploaded successfully","accepted":%d}`, perUpload)
			if err != nil || code != http.StatusOK || body != want {
				errs <- fmt.Errorf("upload %d: %d %s %v", i, code, body, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.streamLen(); n != uploads*perUpload {
		t.Fatalf("%d stream entries after %d uploads of %d points, want %d", n, uploads, perUpload, uploads*perUpload)
	}
	// A retry of a keyed upload stores nothing more.
	if code, _, err := post(`{"latitude":1,"longitude":1}`, "key-0"); err != nil || code != http.StatusUnprocessableEntity {
		t.Errorf("reused key with other content: %d %v, want 422", code, err)
	}

	srv.Kill()
	for i := range 10 {
		start := time.Now()
		code, body, err := post(`{"latitude":1,"longitude":2}`, fmt.Sprintf("down-%d", i%2))
		took := time.Since(start)
		if err != nil || code != http.StatusServiceUnavailable {
			t.Fatalf("upload %d with Redis killed: %d %s %v, want 503", i, code, body, err)
		}
		if limit := cfg.RedisTimeout + time.Second; took > limit {
			t.Errorf("upload %d with Redis killed answered after %v, want under %v", i, took, limit)
		}
	}

	// The restarted server has no data and no scripts: EVALSHA answers
	// NOSCRIPT and the append falls back to EVAL.
	srv.Restart()
	if code, body, err := post(`{"latitude":1,"longitude":2}`, ""); err != nil || code != http.StatusOK {
		t.Fatalf("upload after restart: %d %s %v", code, body, err)
	}
	if n := e.streamLen(); n != 1 {
		t.Fatalf("%d entries after restart, want 1", n)
	}
}
