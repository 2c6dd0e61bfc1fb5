package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/redistest"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// startRun runs the service with args and the environment vars, logging
// to logs, until stop or the end of the test, and returns its base URL
// once it is ready. stop shuts it down through its context and checks
// that run returns nil.
func startRun(t *testing.T, args []string, vars map[string]string, logs io.Writer) (base string, stop func()) {
	t.Helper()
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, append([]string{"--http-addr", addr, "--log-format", "json", "--log-level", "debug"}, args...),
			env(vars), logs, logs)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("run: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("run did not return after its context was cancelled")
			}
		})
	}
	t.Cleanup(stop)
	base = "http://" + addr
	redistest.WaitFor(t, 10*time.Second, "ingest-svc to be ready on "+addr, func() bool {
		select {
		case err := <-done:
			done <- err // for stop
			t.Fatalf("run returned before serving: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return base, stop
}

func TestRunConfigErrors(t *testing.T) {
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string // each must be in the error; none: run returns nil
		stderr  string
	}{
		{name: "help", args: []string{"-h"}, stderr: "GEOSTREAM_MAX_BODY_BYTES"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: []string{"flag provided but not defined"}},
		{name: "positional argument", args: []string{"serve"}, wantErr: []string{"unexpected arguments"}},
		{name: "zero batch", args: []string{"--max-batch", "0"}, wantErr: []string{"max-batch must be 1..50000"}},
		{name: "write timeout under redis timeout", args: []string{"--write-timeout", "1s", "--redis-timeout", "2s"}, wantErr: []string{"write-timeout (1s) must exceed redis-timeout (2s)"}},
		{name: "bad environment", env: map[string]string{"GEOSTREAM_MAX_BODY_BYTES": "lots"}, wantErr: []string{"GEOSTREAM_MAX_BODY_BYTES"}},
		{name: "environment checked", env: map[string]string{"GEOSTREAM_BACKLOG_LIMIT": "-1"}, wantErr: []string{"backlog-limit must be 0 (off) or positive"}},
		{name: "several problems at once", args: []string{"--partitions", "0", "--idempotency-ttl", "1ms"}, wantErr: []string{"partitions must be 1..1024, got 0", "idempotency-ttl must be at least 1s"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			err := run(context.Background(), tt.args, env(tt.env), &stdout, &stderr)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("run: %v", err)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Fatalf("run error %v, want one containing %q", err, want)
				}
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr.String(), tt.stderr)
			}
		})
	}
}

// TestRunServes starts the service on its embedded Redis, uploads a point,
// and shuts it down through its context.
func TestRunServes(t *testing.T) {
	var logs syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", logs.String())
		}
	})
	base, stop := startRun(t, nil, map[string]string{"GEOSTREAM_MAX_BATCH": "7"}, &logs)

	resp, err := http.Post(base+"/upload", "application/json", strings.NewReader(`{"latitude":52.52,"longitude":13.405}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != `{"message":"Data uploaded successfully","accepted":1}` {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(base + "/retrieve")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	// No processor runs here, so nothing is aggregated yet.
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "No data available for processing") {
		t.Fatalf("retrieve: %d %s", resp.StatusCode, body)
	}

	stop()
	for _, want := range []string{`"msg":"starting ingest-svc"`, `"max-batch":"7"`, `"msg":"request"`, `"path":"/upload"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

// TestRunMetaMismatch checks that a Redis holding data of another partition
// count stops the start, and that the logged configuration hides the Redis
// password.
func TestRunMetaMismatch(t *testing.T) {
	m := miniredis.RunT(t)
	m.RequireAuth("hunter2")
	m.HSet("gs:meta", "partitions", "8")
	var logs syncBuffer
	err := run(context.Background(), []string{"--redis-url", "redis://:hunter2@" + m.Addr(), "--log-format", "json"},
		env(nil), &logs, &logs)
	if !errors.Is(err, redisconn.ErrMetaMismatch) {
		t.Fatalf("run error %v, want ErrMetaMismatch", err)
	}
	if !strings.Contains(logs.String(), `"redis-url":"redis://:xxxxx@`) || strings.Contains(logs.String(), "hunter2") {
		t.Errorf("logs do not mask the password:\n%s", logs.String())
	}
}

// TestRunResolutionsMismatch checks that ingest-svc refuses to start on a
// Redis whose processors keep other time buckets: its ranged answers
// would read buckets that do not exist.
func TestRunResolutionsMismatch(t *testing.T) {
	m := miniredis.RunT(t)
	m.HSet("gs:meta", "resolutions", "1m:1h0m0s:0s")
	var logs syncBuffer
	err := run(context.Background(), []string{"--redis-url", "redis://" + m.Addr()}, env(nil), &logs, &logs)
	if !errors.Is(err, redisconn.ErrMetaMismatch) || !strings.Contains(err.Error(), "resolutions") {
		t.Fatalf("run error %v, want ErrMetaMismatch naming resolutions", err)
	}
}
