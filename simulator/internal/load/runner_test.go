package load_test

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geostream/geostream/simulator/internal/apitest"
	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/simulator/internal/gen"
	"github.com/geostream/geostream/simulator/internal/load"
)

var start = time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)

// noWait makes the client retry at once.
func noWait() client.Option {
	return client.WithClock(time.Now, func(ctx context.Context, _ time.Duration) error { return ctx.Err() })
}

func config(target string) load.Config {
	return load.Config{
		Gen:    gen.Config{Devices: 5, Seed: 1, Start: start},
		Client: client.Config{Target: target, MaxRetries: 3},
	}
}

func run(t *testing.T, cfg load.Config, opts ...load.Option) load.Summary {
	t.Helper()
	var logs bytes.Buffer
	r, err := load.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sum, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestRunSendsExactlyCount(t *testing.T) {
	for _, tc := range []struct {
		name        string
		count       int64
		batch       int
		concurrency int
		format      string
		requests    int64
	}{
		{"one point per request", 57, 1, 3, "json", 57},
		{"batches with a partial last one", 1003, 50, 4, "json", 21},
		{"ndjson", 120, 7, 2, "ndjson", 18},
		{"count below batch", 3, 100, 8, "json", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := apitest.New(t)
			cfg := config(api.URL)
			cfg.Count, cfg.Batch, cfg.Concurrency, cfg.FormatText = tc.count, tc.batch, tc.concurrency, tc.format
			sum := run(t, cfg)
			want := load.Counts{Sent: tc.count, Acked: tc.count}
			if sum.Points != want || sum.Requests.Sent != tc.requests || sum.Requests.Acked != tc.requests {
				t.Fatalf("points %+v requests %+v, want points %+v in %d requests", sum.Points, sum.Requests, want, tc.requests)
			}
			if got := api.StoredPoints(); int64(got) != tc.count {
				t.Fatalf("server stored %d points, want %d", got, tc.count)
			}
			keys := map[string]bool{}
			for _, c := range api.Calls() {
				if c.Key == "" || keys[c.Key] {
					t.Fatalf("Idempotency-Key %q missing or reused by another request", c.Key)
				}
				keys[c.Key] = true
			}
		})
	}
}

func TestRunRespectsRate(t *testing.T) {
	// The pacer runs on a virtual clock: what is measured is the token
	// bucket's schedule, not the machine's speed.
	for _, tc := range []struct {
		name    string
		rate    float64
		batch   int
		burst   string
		count   int64
		wantSec float64
	}{
		{"200/s", 200, 10, "", 2000, 9.95},
		{"burst", 100, 1, "1s:3x/4s", 1200, 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := apitest.New(t)
			var mu sync.Mutex
			virtual := start
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return virtual }
			sleep := func(ctx context.Context, d time.Duration) error {
				mu.Lock()
				defer mu.Unlock()
				virtual = virtual.Add(d)
				return ctx.Err()
			}
			cfg := config(api.URL)
			cfg.Rate, cfg.Batch, cfg.Count, cfg.BurstText = tc.rate, tc.batch, tc.count, tc.burst
			sum := run(t, cfg, load.WithPacerClock(now, sleep))
			if sum.Points.Acked != tc.count {
				t.Fatalf("acked %d points, want %d", sum.Points.Acked, tc.count)
			}
			if got := virtual.Sub(start).Seconds(); math.Abs(got-tc.wantSec) > 0.05*tc.wantSec {
				t.Fatalf("sending %d points at %v/s took %.2fs of pacer time, want about %.2fs", tc.count, tc.rate, got, tc.wantSec)
			}
		})
	}
}

func TestRunRateOnTheRealClock(t *testing.T) {
	// A lower bound only: a token bucket can be slower than its rate on a
	// busy machine, never faster.
	api := apitest.New(t)
	cfg := config(api.URL)
	cfg.Rate, cfg.Batch, cfg.Count = 1000, 10, 300
	t0 := time.Now()
	run(t, cfg)
	if el := time.Since(t0); el < 250*time.Millisecond {
		t.Fatalf("300 points at 1000/s (bucket 10) took %v, want at least 290ms", el)
	}
}

func TestRunRetriesAndLosses(t *testing.T) {
	api := apitest.New(t, apitest.WithFault(func(c apitest.Call) apitest.Fault {
		switch {
		case c.KeySeq == 3:
			return apitest.Fault{Status: 503, RetryAfter: "0"} // never succeeds: lost
		case c.KeySeq == 5:
			return apitest.Fault{Status: 400} // rejected, not retried
		case c.Attempt == 1 && c.KeySeq%2 == 0:
			return apitest.Fault{Status: 429, RetryAfter: "0"}
		}
		return apitest.Fault{}
	}))
	cfg := config(api.URL)
	cfg.Count, cfg.Batch, cfg.Concurrency = 100, 10, 2
	sum := run(t, cfg, load.WithClientOptions(noWait()))
	wantPts := load.Counts{Sent: 100, Acked: 80, Rejected: 10, Lost: 10}
	if sum.Points != wantPts {
		t.Fatalf("points %+v, want %+v", sum.Points, wantPts)
	}
	// Keys 0, 2, 4, 6, 8 get one 429 each; key 3 fails 4 times (3 retries).
	if sum.Errors["status_429"] != 5 || sum.Errors["status_503"] != 4 || sum.Errors["status_400"] != 1 {
		t.Fatalf("errors %v, want status_429=5 status_503=4 status_400=1", sum.Errors)
	}
	if sum.Retries != 8 {
		t.Fatalf("retries %d, want 8", sum.Retries)
	}
	var text bytes.Buffer
	sum.WriteText(&text)
	if !strings.Contains(text.String(), "lost 10") || !strings.Contains(text.String(), "status_503=4") {
		t.Fatalf("summary text lacks the losses or errors:\n%s", text.String())
	}
}

func TestRunStopsOnDurationAndInterrupt(t *testing.T) {
	t.Run("duration", func(t *testing.T) {
		api := apitest.New(t)
		cfg := config(api.URL)
		cfg.Duration, cfg.Batch = 100*time.Millisecond, 5
		sum := run(t, cfg)
		if sum.Interrupted || sum.Points.Sent == 0 || sum.Points.Acked != sum.Points.Sent || int64(api.StoredPoints()) != sum.Points.Sent {
			t.Fatalf("summary %+v, server stored %d: want every point sent acked and stored", sum, api.StoredPoints())
		}
	})
	t.Run("interrupt", func(t *testing.T) {
		api := apitest.New(t)
		cfg := config(api.URL)
		ctx, cancel := context.WithCancel(context.Background())
		var once sync.Once
		var n int
		var mu sync.Mutex
		r, err := load.New(cfg, slog.New(slog.DiscardHandler), load.WithResult(func(*load.Request, client.Result) {
			mu.Lock()
			defer mu.Unlock()
			if n++; n == 50 {
				once.Do(cancel)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		sum, err := r.Run(ctx)
		if err != nil || !sum.Interrupted || sum.Points.Acked < 50 || sum.Points.Sent != sum.Points.Acked+sum.Points.Lost {
			t.Fatalf("summary %+v err %v: want an interrupted run with every sent point acked or lost", sum, err)
		}
	})
}

func TestProgressLogLines(t *testing.T) {
	api := apitest.New(t, apitest.WithFault(func(c apitest.Call) apitest.Fault {
		if c.KeySeq == 0 {
			// Hold the first request until the client times out, so that
			// the run lasts several progress intervals.
			return apitest.Fault{Hang: true}
		}
		return apitest.Fault{}
	}))
	cfg := config(api.URL)
	cfg.Count, cfg.ProgressInterval = 20, 10*time.Millisecond
	cfg.Client.RequestTimeout, cfg.Client.MaxRetries = 200*time.Millisecond, 0
	var logs bytes.Buffer
	var mu sync.Mutex
	w := writerFunc(func(p []byte) (int, error) { mu.Lock(); defer mu.Unlock(); return logs.Write(p) })
	r, err := load.New(cfg, slog.New(slog.NewTextHandler(w, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := r.Run(context.Background())
	if err != nil || sum.Points.Lost != 1 || sum.Errors["timeout"] != 1 {
		t.Fatalf("summary %+v, %v: want one point lost to a timeout", sum, err)
	}
	mu.Lock()
	defer mu.Unlock()
	out := logs.String()
	for _, want := range []string{"msg=progress", "points_sent=", "points_acked=", "rate_per_s=", "errors=", "p50_ms=", "p99_ms="} {
		if !strings.Contains(out, want) {
			t.Fatalf("progress log lacks %q:\n%s", want, out)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
