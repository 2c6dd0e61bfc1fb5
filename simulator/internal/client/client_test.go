package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/geostream/geostream/simulator/internal/apitest"
	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/streamkit/point"
)

// clock is a virtual clock: sleeping advances it at once and records the
// wait, so retry schedules are tested without waiting.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	return ctx.Err()
}

func newClient(t *testing.T, target string, cfg client.Config, clk *clock, kinds *[]string) *client.Client {
	t.Helper()
	cfg.Target = target
	var mu sync.Mutex
	c, err := client.New(cfg,
		client.WithClock(clk.now, clk.sleep),
		client.WithObserver(func(a client.Attempt) {
			mu.Lock()
			defer mu.Unlock()
			*kinds = append(*kinds, a.Kind)
		}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var onePoint = []point.Point{{DeviceID: "sim-0001", TimeMs: 1737633600000, LatE7: 525200000, LonE7: 134050000}}

// failFirst answers f to the first n attempts of every request.
func failFirst(n int, f apitest.Fault) func(apitest.Call) apitest.Fault {
	return func(c apitest.Call) apitest.Fault {
		if c.Attempt <= n {
			return f
		}
		return apitest.Fault{}
	}
}

func TestUploadRetries(t *testing.T) {
	base := client.Config{MaxRetries: 3, GiveUpAfter: time.Minute, BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}
	for _, tc := range []struct {
		name         string
		cfg          client.Config
		fault        func(apitest.Call) apitest.Fault
		outcome      client.Outcome
		attempts     int
		minWait      time.Duration // every wait at least this
		maxWait      time.Duration // every wait at most this (0: no bound)
		stored       int           // points the server stored
		wantReplayed bool
		wantKinds    string
	}{
		{name: "503 honours Retry-After", cfg: base,
			fault:   failFirst(2, apitest.Fault{Status: 503, RetryAfter: "2"}),
			outcome: client.Acked, attempts: 3, minWait: 2 * time.Second, maxWait: 2*time.Second + 100*time.Millisecond,
			stored: 1, wantKinds: "status_503 status_503 ok"},
		{name: "429 honours fractional Retry-After", cfg: base,
			fault:   failFirst(1, apitest.Fault{Status: 429, RetryAfter: "0.5"}),
			outcome: client.Acked, attempts: 2, minWait: 500 * time.Millisecond, stored: 1,
			wantKinds: "status_429 ok"},
		{name: "503 without Retry-After backs off with jitter", cfg: base,
			fault:   failFirst(3, apitest.Fault{Status: 503}),
			outcome: client.Acked, attempts: 4, maxWait: 400 * time.Millisecond, stored: 1},
		{name: "dropped connection is retried", cfg: base,
			fault:   failFirst(1, apitest.Fault{Drop: true}),
			outcome: client.Acked, attempts: 2, stored: 1, wantKinds: "network ok"},
		{name: "lost answer is replayed, stored once", cfg: base,
			fault:   failFirst(1, apitest.Fault{Status: 503, StoreFirst: true, RetryAfter: "1"}),
			outcome: client.Acked, attempts: 2, stored: 1, wantReplayed: true},
		{name: "gives up after max retries", cfg: base,
			fault:   failFirst(100, apitest.Fault{Status: 503, RetryAfter: "1"}),
			outcome: client.Lost, attempts: 4, minWait: time.Second, stored: 0,
			wantKinds: "status_503 status_503 status_503 status_503"},
		{name: "gives up after the time bound",
			cfg:     client.Config{MaxRetries: 100, GiveUpAfter: 12 * time.Second, BackoffBase: 10 * time.Millisecond, BackoffMax: time.Second},
			fault:   failFirst(100, apitest.Fault{Status: 429, RetryAfter: "5"}),
			outcome: client.Lost, attempts: 3, minWait: 5 * time.Second},
		{name: "500 is retried", cfg: base,
			fault:   failFirst(1, apitest.Fault{Status: 500}),
			outcome: client.Acked, attempts: 2, stored: 1},
		{name: "400 is not retried", cfg: base,
			fault:   failFirst(100, apitest.Fault{Status: 400, RetryAfter: "1"}),
			outcome: client.Rejected, attempts: 1, wantKinds: "status_400"},
		{name: "413 is not retried", cfg: base,
			fault:   failFirst(100, apitest.Fault{Status: 413}),
			outcome: client.Rejected, attempts: 1},
		{name: "422 is not retried", cfg: base,
			fault:   failFirst(100, apitest.Fault{Status: 422}),
			outcome: client.Rejected, attempts: 1},
		{name: "no retries configured", cfg: client.Config{MaxRetries: 0},
			fault:   failFirst(100, apitest.Fault{Status: 503}),
			outcome: client.Lost, attempts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := apitest.New(t, apitest.WithFault(tc.fault))
			clk := &clock{t: time.Unix(1e9, 0)}
			var kinds []string
			c := newClient(t, api.URL, tc.cfg, clk, &kinds)
			body, ct := client.Encode(nil, onePoint, client.FormatJSON)
			res := c.Upload(context.Background(), "key-1", body, ct)

			if res.Outcome != tc.outcome || res.Attempts != tc.attempts {
				t.Fatalf("outcome %v after %d attempts (err %v), want %v after %d", res.Outcome, res.Attempts, res.Err, tc.outcome, tc.attempts)
			}
			switch tc.outcome {
			case client.Lost:
				if !errors.Is(res.Err, client.ErrGaveUp) {
					t.Errorf("err = %v, want ErrGaveUp", res.Err)
				}
			case client.Rejected:
				if !errors.Is(res.Err, client.ErrRejected) {
					t.Errorf("err = %v, want ErrRejected", res.Err)
				}
			case client.Acked:
				if res.Accepted != 1 {
					t.Errorf("accepted = %d, want 1", res.Accepted)
				}
			}
			if res.Replayed != tc.wantReplayed {
				t.Errorf("replayed = %v, want %v", res.Replayed, tc.wantReplayed)
			}
			if len(clk.waits) != tc.attempts-1 {
				t.Errorf("waited %d times, want %d", len(clk.waits), tc.attempts-1)
			}
			for _, w := range clk.waits {
				if w < tc.minWait || (tc.maxWait > 0 && w > tc.maxWait) {
					t.Errorf("waits %v: want each in [%v, %v]", clk.waits, tc.minWait, tc.maxWait)
					break
				}
			}
			calls := api.Calls()
			if len(calls) != tc.attempts {
				t.Fatalf("server saw %d calls, want %d", len(calls), tc.attempts)
			}
			for _, call := range calls {
				if call.Key != "key-1" {
					t.Errorf("attempt %d sent Idempotency-Key %q, want key-1 on every attempt", call.Attempt, call.Key)
				}
			}
			if got := api.StoredPoints(); got != tc.stored {
				t.Errorf("server stored %d points, want %d", got, tc.stored)
			}
			if tc.wantKinds != "" && strings.Join(kinds, " ") != tc.wantKinds {
				t.Errorf("attempt kinds %q, want %q", strings.Join(kinds, " "), tc.wantKinds)
			}
		})
	}
}

func TestUploadTimeoutIsRetried(t *testing.T) {
	api := apitest.New(t, apitest.WithFault(failFirst(1, apitest.Fault{Hang: true})))
	clk := &clock{}
	var kinds []string
	c := newClient(t, api.URL, client.Config{MaxRetries: 2, RequestTimeout: 50 * time.Millisecond}, clk, &kinds)
	body, ct := client.Encode(nil, onePoint, client.FormatJSON)
	res := c.Upload(context.Background(), "k", body, ct)
	if res.Outcome != client.Acked || strings.Join(kinds, " ") != "timeout ok" {
		t.Fatalf("outcome %v, kinds %v; want acked after a timeout", res.Outcome, kinds)
	}
}

func TestUploadCancelled(t *testing.T) {
	api := apitest.New(t, apitest.WithFault(failFirst(100, apitest.Fault{Status: 503})))
	ctx, cancel := context.WithCancel(context.Background())
	clk := &clock{}
	var kinds []string
	c := newClient(t, api.URL, client.Config{MaxRetries: 5}, clk, &kinds)
	cancel()
	body, ct := client.Encode(nil, onePoint, client.FormatJSON)
	res := c.Upload(ctx, "k", body, ct)
	if res.Outcome != client.Lost || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("outcome %v err %v, want lost with context.Canceled", res.Outcome, res.Err)
	}
}

func TestRetrieve(t *testing.T) {
	api := apitest.New(t, apitest.WithFault(func(apitest.Call) apitest.Fault { return apitest.Fault{} }))
	clk := &clock{}
	var kinds []string
	c := newClient(t, api.URL, client.Config{}, clk, &kinds)
	ctx := context.Background()
	if _, err := c.Retrieve(ctx, nil); !errors.Is(err, client.ErrNoData) {
		t.Fatalf("empty store: err = %v, want ErrNoData", err)
	}
	body, ct := client.Encode(nil, onePoint, client.FormatNDJSON)
	if res := c.Upload(ctx, "k", body, ct); res.Outcome != client.Acked {
		t.Fatalf("upload: %v", res.Err)
	}
	s, err := c.Retrieve(ctx, url.Values{"device_id": {"sim-0001"}})
	if err != nil || s.DataCount != 1 || s.AverageLatitude != 52.52 || s.Centroid == nil {
		t.Fatalf("retrieve = %+v, %v", s, err)
	}
	if _, err := c.Retrieve(ctx, url.Values{"bogus": {"1"}}); err == nil || errors.Is(err, client.ErrNoData) {
		t.Fatalf("bad parameter: err = %v, want an error that is not ErrNoData", err)
	}
}

func TestRetrieveRetriesBackpressure(t *testing.T) {
	api := apitest.New(t, apitest.WithRetrieveFault(func(n int) apitest.Fault {
		if n < 2 {
			return apitest.Fault{Status: 503, RetryAfter: "1"}
		}
		return apitest.Fault{}
	}))
	clk := &clock{}
	var kinds []string
	c := newClient(t, api.URL, client.Config{MaxRetries: 2}, clk, &kinds)
	if _, err := c.Retrieve(context.Background(), nil); !errors.Is(err, client.ErrNoData) {
		t.Fatalf("err = %v, want ErrNoData after two 503s", err)
	}
	if len(clk.waits) != 2 || clk.waits[0] < time.Second || clk.waits[1] < time.Second {
		t.Fatalf("waits %v, want two of at least 1s", clk.waits)
	}
}

// With an API key, every request carries it as a Bearer token; without,
// none carries an Authorization header.
func TestAPIKeySent(t *testing.T) {
	for _, key := range []string{"", "gs_test_key"} {
		var mu sync.Mutex
		var seen []string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Method+" "+r.Header.Get("Authorization"))
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			if r.Method == http.MethodPost {
				io.Copy(io.Discard, r.Body)
				w.Write([]byte(`{"message":"Data uploaded successfully","accepted":1}`))
				return
			}
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":"No data available for processing","details":[]}`))
		}))
		clk := &clock{}
		var kinds []string
		c := newClient(t, srv.URL, client.Config{APIKey: key}, clk, &kinds)
		body, ct := client.Encode(nil, onePoint, client.FormatNDJSON)
		if res := c.Upload(context.Background(), "k", body, ct); res.Outcome != client.Acked {
			t.Fatalf("upload: %v", res.Err)
		}
		if _, err := c.Retrieve(context.Background(), nil); !errors.Is(err, client.ErrNoData) {
			t.Fatalf("retrieve: %v", err)
		}
		srv.Close()
		want := ""
		if key != "" {
			want = "Bearer " + key
		}
		if len(seen) != 2 || seen[0] != "POST "+want || seen[1] != "GET "+want {
			t.Errorf("key %q: requests carried %q, want Authorization %q on both", key, seen, want)
		}
	}
}
