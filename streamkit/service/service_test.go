package service

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/envflag"
	"github.com/geostream/geostream/streamkit/logx"
)

func TestReadyz(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	defer c.Close()
	h := Readyz(c)
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 {
		t.Fatalf("up: %d %s", rec.Code, rec.Body)
	}
	m.Close()
	rec = httptest.NewRecorder()
	start := time.Now()
	h(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "redis is not reachable") {
		t.Fatalf("down: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if d := time.Since(start); d > ReadyTimeout+time.Second {
		t.Errorf("readyz took %v", d)
	}
	rec = httptest.NewRecorder()
	Healthz(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("healthz: %d %v", rec.Code, rec.Header())
	}
}

func TestCommonValidate(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, ""},
		{[]string{"--partitions", "0"}, "partitions"},
		{[]string{"--key-prefix", "a{b"}, "key-prefix"},
		{[]string{"--http-addr", "nope"}, "http-addr"},
		{[]string{"--log-level", "loud"}, "log-level"},
		{[]string{"--log-format", "xml"}, "log-format"},
		{[]string{"--shutdown-grace", "0s"}, "shutdown-grace"},
		{[]string{"--resolutions", "1m:1h,90s:1h"}, "resolutions"},
	}
	for _, tt := range tests {
		var c Common
		s := envflag.New("t", func(string) (string, bool) { return "", false })
		c.Register(s, "127.0.0.1:8080")
		if err := s.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("done"))
	})}
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	log, _ := logx.New(&logs, "text", "info")
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, srv, ln, 5*time.Second, log) }()
	resp := make(chan string, 1)
	go func() {
		r, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			resp <- err.Error()
			return
		}
		defer r.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		resp <- b.String()
	}()
	<-started
	cancel() // shutdown begins while the request is in flight
	close(release)
	if got := <-resp; got != "done" {
		t.Errorf("in-flight request got %q, want done", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}
