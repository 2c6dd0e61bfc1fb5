package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/processor-svc/internal/processor"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/scripts"
)

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestRunRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{"zero batch size", []string{"--batch-size", "0"}, nil, "batch-size must be 1.."},
		{"batch size from env", nil, map[string]string{"GEOSTREAM_BATCH_SIZE": "-3"}, "batch-size"},
		{"env not a duration", nil, map[string]string{"GEOSTREAM_CLAIM_MIN_IDLE": "soon"}, `GEOSTREAM_CLAIM_MIN_IDLE="soon": not a duration`},
		{"block forever", []string{"--block", "0s"}, nil, "block must be at least 1ms"},
		{"empty consumer", []string{"--consumer", ""}, nil, "set --consumer or GEOSTREAM_CONSUMER"},
		{"negative retention", []string{"--retention", "-1h"}, nil, "retention must not be negative"},
		{"no partitions", []string{"--partitions", "0"}, nil, "partitions must be"},
		{"unknown flag", []string{"--batchsize", "10"}, nil, "flag provided but not defined"},
		{"positional argument", []string{"extra"}, nil, "unexpected arguments"},
		{"several problems", []string{"--trim-step", "0", "--claim-interval", "0s"}, nil, "trim-step"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, tc.args, envOf(tc.env), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("run: %v, want an error containing %q", err, tc.wantErr)
			}
			if stdout.Len() != 0 {
				t.Errorf("logged before the configuration was valid:\n%s", stdout.String())
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr strings.Builder
	if err := run(context.Background(), []string{"-h"}, envOf(nil), &stdout, &stderr); err != nil {
		t.Fatalf("run -h: %v, want nil (help is not an error)", err)
	}
	for _, want := range []string{"-consumer", "GEOSTREAM_CONSUMER", "-claim-min-idle", "-retention", "-trim-step"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

// TestRunMetaMismatch: Redis pinned to 2 partitions, the processor
// configured with 4: a clear start-up error.
func TestRunMetaMismatch(t *testing.T) {
	m := miniredis.RunT(t)
	m.HSet("gs:meta", "partitions", "2")
	var stdout, stderr strings.Builder
	err := run(context.Background(), []string{"--partitions", "4", "--http-addr", "127.0.0.1:0"},
		envOf(map[string]string{"GEOSTREAM_REDIS_URL": "redis://" + m.Addr()}), &stdout, &stderr)
	if !errors.Is(err, redisconn.ErrMetaMismatch) {
		t.Fatalf("run: %v, want ErrMetaMismatch", err)
	}
}

// TestRunLogsEffectiveConfig: the effective configuration is logged with
// the Redis password masked.
func TestRunLogsEffectiveConfig(t *testing.T) {
	m := miniredis.RunT(t)
	m.RequireAuth("s3cret")
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr strings.Builder
	w := &syncWriter{w: &stdout}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--http-addr", "127.0.0.1:0", "--log-format", "json"},
			envOf(map[string]string{"GEOSTREAM_REDIS_URL": "redis://:s3cret@" + m.Addr(), "GEOSTREAM_CONSUMER": "c1"}),
			w, &stderr)
	}()
	// "processing" is logged once the groups exist: a cancel before would
	// end the start-up with the error of the call it cancels.
	redistest.WaitFor(t, 10*time.Second, "the processor to start", func() bool { return w.contains(`"msg":"processing"`) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	out := stdout.String()
	if strings.Contains(out, "s3cret") {
		t.Errorf("password logged:\n%s", out)
	}
	for _, want := range []string{`"consumer":"c1"`, `"redis-url":"redis://:xxxxx@`, `"batch-size":"` + strconv.Itoa(processor.DefaultBatchSize) + `"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

// TestRunServesAndProcesses: run against a real redis-server serves
// /healthz and /readyz, counts points, and returns nil when cancelled.
func TestRunServesAndProcesses(t *testing.T) {
	srv := redistest.Start(t)
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--block", "50ms", "--partitions", "2"},
			envOf(map[string]string{"GEOSTREAM_REDIS_URL": srv.URL(), "GEOSTREAM_HTTP_ADDR": addr, "GEOSTREAM_CONSUMER": "p1"}),
			io.Discard, io.Discard)
	}()
	for _, path := range []string{"/healthz", "/readyz"} {
		waitStatus(t, "http://"+addr+path, http.StatusOK)
	}

	c := srv.Client()
	s, err := keys.New("", 2)
	if err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		pt := point.Point{DeviceID: fmt.Sprintf("d%d", i%7), TimeMs: int64(i), LatE7: int64(i), LonE7: -int64(i)}
		p := s.PartitionOf(pt.DeviceID)
		b := scripts.AppendBatch{Stream: s.Stream(p), Backlog: s.Backlog(p)}
		b.Add(&pt)
		if _, err := b.Run(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	redistest.WaitFor(t, 20*time.Second, fmt.Sprintf("%d points counted", n), func() bool { return count(t, c, s) == n })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}

func count(tb testing.TB, c redis.UniversalClient, s *keys.Schema) int64 {
	tb.Helper()
	var n int64
	for p := range s.Partitions() {
		v, err := c.HGet(context.Background(), s.Total(p), "n").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			tb.Fatal(err)
		}
		n += v
	}
	return n
}

func waitStatus(tb testing.TB, url string, want int) {
	tb.Helper()
	redistest.WaitFor(tb, 20*time.Second, fmt.Sprintf("%s to answer %d", url, want), func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == want
	})
}
