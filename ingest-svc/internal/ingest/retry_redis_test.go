package ingest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/redistest"
)

// redis-server killed, and restarted on its port while an upload waits:
// the append finds no connection (refused), is sent again with backoff,
// and is stored on the restarted server (NOSCRIPT there, then EVAL): the
// upload answers 200 instead of 503, its points stored once.
func TestResendRedisRestarted(t *testing.T) {
	srv := redistest.Start(t)
	cfg := DefaultRouterConfig()
	cfg.RedisTimeout = 10 * time.Second
	conn, err := redisconn.Open(srv.URL(), redisconn.Options{MaxRetries: -1, ReadTimeout: cfg.RedisTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	hook := &failHook{} // counts the script round trips, fails none
	conn.Client.AddHook(hook)
	schema, err := keys.New("rs", 4)
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(NewRouter(cfg, Deps{Redis: conn.Client, Schema: schema}))
	t.Cleanup(api.Close)
	e := &env{schema: schema}
	body := e.pointsIn(1, 5)

	srv.Kill()
	type answer struct {
		code int
		body string
		err  error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.Post(api.URL+"/upload", "application/json", strings.NewReader(body))
		if err != nil {
			done <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- answer{code: resp.StatusCode, body: string(b)}
	}()
	redistest.WaitFor(t, 5*time.Second, "two refused appends", func() bool { return hook.trips.Load() >= 2 })
	srv.Restart()
	a := <-done
	if a.err != nil || a.code != 200 {
		t.Fatalf("upload across the restart: %d %s %v, want 200", a.code, a.body, a.err)
	}
	var pts []point.Point
	for p := range schema.Partitions() {
		msgs := srv.Client().XRange(context.Background(), schema.Stream(p), "-", "+").Val()
		for _, m := range msgs {
			var err error
			if pts, _, err = point.DecodeEntry(m.Values, pts); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(pts) != 5 {
		t.Errorf("%d points, want 5 (stored once)", len(pts))
	}
	t.Logf("stored after %d round trips with the append", hook.trips.Load())
}
