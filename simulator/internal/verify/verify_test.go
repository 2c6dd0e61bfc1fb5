package verify_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/simulator/internal/apitest"
	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/simulator/internal/gen"
	"github.com/geostream/geostream/simulator/internal/load"
	"github.com/geostream/geostream/simulator/internal/verify"
	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/point"
)

func config(target string, timeout time.Duration) verify.Config {
	return verify.Config{
		Load: load.Config{
			Gen:         gen.Config{Devices: 10, Seed: 42, DevicePrefix: "vfy-", Start: time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)},
			Client:      client.Config{Target: target, MaxRetries: 2},
			Count:       400,
			Batch:       7,
			Concurrency: 3,
		},
		Fresh:        true,
		Timeout:      timeout,
		PollInterval: 2 * time.Millisecond,
		Settle:       -1,
	}
}

func verifyAgainst(t *testing.T, cfg verify.Config) *verify.Report {
	t.Helper()
	noWait := client.WithClock(time.Now, func(ctx context.Context, _ time.Duration) error { return ctx.Err() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rep, err := verify.Run(ctx, cfg, slog.New(slog.DiscardHandler), load.WithClientOptions(noWait))
	if err != nil {
		t.Fatalf("verify.Run: %v", err)
	}
	return rep
}

func text(t *testing.T, rep *verify.Report) string {
	t.Helper()
	var b bytes.Buffer
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// hasDiff reports whether rep has a diff of field in a scope starting with
// scope.
func hasDiff(rep *verify.Report, scope, field string) bool {
	for _, d := range rep.Diffs {
		if strings.HasPrefix(d.Scope, scope) && d.Field == field {
			return true
		}
	}
	return false
}

func onDevice(id string, f func(*agg.Summary)) apitest.Option {
	return apitest.WithMutate(func(q url.Values, s *agg.Summary) {
		if q.Get("device_id") == id {
			f(s)
		}
	})
}

func TestVerify(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    []apitest.Option
		timeout time.Duration
		wantOK  bool
		diffs   [][2]string // scope prefix, field
		ident   string
		stored  int64
	}{
		{name: "exact data", wantOK: true, ident: verify.IdentNotNeeded},
		{name: "exact data, visible with lag", opts: []apitest.Option{apitest.WithLag(9)}, wantOK: true},
		{name: "one point dropped", timeout: 100 * time.Millisecond,
			opts: []apitest.Option{apitest.WithApply(func(i int, p point.Point) []point.Point {
				if i == 42 {
					return nil
				}
				return []point.Point{p}
			})},
			diffs: [][2]string{{"global", "data_count"}}},
		{name: "one point counted twice",
			opts: []apitest.Option{apitest.WithApply(func(i int, p point.Point) []point.Point {
				if i == 123 {
					return []point.Point{p, p}
				}
				return []point.Point{p}
			})},
			diffs: [][2]string{{"global", "data_count"}, {"device ", "data_count"}}},
		{name: "mean perturbed by 1e-6",
			opts:  []apitest.Option{onDevice("vfy-0004", func(s *agg.Summary) { s.AverageLatitude += 1e-6 })},
			diffs: [][2]string{{"device vfy-0004", "average_latitude"}}},
		{name: "centroid perturbed by 1e-6",
			opts:  []apitest.Option{onDevice("vfy-0002", func(s *agg.Summary) { s.Centroid.Longitude += 1e-6 })},
			diffs: [][2]string{{"device vfy-0002", "centroid.longitude"}}},
		{name: "bbox off by one unit",
			opts:  []apitest.Option{onDevice("vfy-0005", func(s *agg.Summary) { s.BBox.MaxLongitude += 1e-7 })},
			diffs: [][2]string{{"device vfy-0005", "bbox.max_longitude"}}},
		{name: "last timestamp off by 1ms",
			opts: []apitest.Option{onDevice("vfy-0001", func(s *agg.Summary) {
				ts, _ := time.Parse(time.RFC3339Nano, s.LastTimestamp)
				s.LastTimestamp = agg.FormatTime(ts.UnixMilli() + 1)
			})},
			diffs: [][2]string{{"device vfy-0001", "last_timestamp"}}},
		{name: "stored although unacknowledged", wantOK: true, ident: verify.IdentIdentified, stored: 7,
			opts: []apitest.Option{apitest.WithFault(func(c apitest.Call) apitest.Fault {
				if c.KeySeq == 5 {
					return apitest.Fault{Status: 503, StoreFirst: true, RetryAfter: "0"}
				}
				return apitest.Fault{}
			})}},
		{name: "unacknowledged and not stored", wantOK: true, ident: verify.IdentIdentified, stored: 0,
			opts: []apitest.Option{apitest.WithFault(func(c apitest.Call) apitest.Fault {
				if c.KeySeq == 5 || c.KeySeq == 17 {
					return apitest.Fault{Status: 503}
				}
				return apitest.Fault{}
			})}},
		{name: "one of two unacknowledged stored", wantOK: true, ident: verify.IdentIdentified, stored: 7,
			opts: []apitest.Option{apitest.WithFault(func(c apitest.Call) apitest.Fault {
				switch c.KeySeq {
				case 5:
					return apitest.Fault{Status: 503}
				case 17:
					return apitest.Fault{Drop: true, StoreFirst: true}
				}
				return apitest.Fault{}
			})}},
		{name: "unacknowledged stored, but points altered", ident: verify.IdentUnexplained,
			opts: []apitest.Option{
				apitest.WithFault(func(c apitest.Call) apitest.Fault {
					if c.KeySeq == 5 {
						return apitest.Fault{Status: 503, StoreFirst: true}
					}
					return apitest.Fault{}
				}),
				apitest.WithApply(func(i int, p point.Point) []point.Point {
					p.LatE7 += int64(i % 2) // every other point off by 1e-7 degrees
					return []point.Point{p}
				}),
			},
			diffs: [][2]string{{"global", "data_count"}}},
		{name: "rejected request",
			opts: []apitest.Option{apitest.WithFault(func(c apitest.Call) apitest.Fault {
				if c.KeySeq == 3 {
					return apitest.Fault{Status: 422}
				}
				return apitest.Fault{}
			})},
			diffs: [][2]string{{"upload", "status"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := apitest.New(t, tc.opts...)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			rep := verifyAgainst(t, config(api.URL, timeout))
			out := text(t, rep)
			if rep.OK != tc.wantOK || (rep.Err() == nil) != tc.wantOK {
				t.Fatalf("OK = %v, want %v:\n%s", rep.OK, tc.wantOK, out)
			}
			if !tc.wantOK && !errors.Is(rep.Err(), verify.ErrMismatch) {
				t.Fatalf("Err() = %v, want ErrMismatch", rep.Err())
			}
			for _, d := range tc.diffs {
				if !hasDiff(rep, d[0], d[1]) {
					t.Errorf("no difference of %s in scope %q:\n%s", d[1], d[0], out)
				}
				if !strings.Contains(out, d[1]) {
					t.Errorf("text report does not name the field %s", d[1])
				}
			}
			if tc.ident != "" && rep.Identification != tc.ident {
				t.Errorf("identification %q, want %q:\n%s", rep.Identification, tc.ident, out)
			}
			if rep.StoredUnacked != tc.stored {
				t.Errorf("stored although unacknowledged = %d, want %d:\n%s", rep.StoredUnacked, tc.stored, out)
			}
			if tc.stored > 0 && !strings.Contains(out, "stored although unacknowledged: 7 (requests ") {
				t.Errorf("text report does not report the stored unacknowledged request:\n%s", out)
			}
			if tc.wantOK && rep.Points.Acked+rep.StoredUnacked != int64(api.StoredPoints()) {
				t.Errorf("acked %d + stored unacked %d != %d points stored", rep.Points.Acked, rep.StoredUnacked, api.StoredPoints())
			}
		})
	}
}

func TestVerifyPollsUntilCaughtUp(t *testing.T) {
	api := apitest.New(t, apitest.WithLag(5))
	cfg := config(api.URL, 5*time.Second)
	rep := verifyAgainst(t, cfg)
	// 400 points at 5 per /retrieve need at least 80 reads before the
	// global count is reached.
	if !rep.OK || !rep.CaughtUp || api.Retrieves() < 80 {
		t.Fatalf("OK %v caught up %v after %d reads; want a match after polling:\n%s", rep.OK, rep.CaughtUp, api.Retrieves(), text(t, rep))
	}
}

func TestVerifyRefusesDataPresentBeforeTheRun(t *testing.T) {
	for _, tc := range []struct {
		name   string
		device string
		fresh  bool
	}{
		{"own device id taken", "vfy-0003", false},
		{"foreign data with --fresh", "someone-else", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := apitest.New(t)
			c, err := client.New(client.Config{Target: api.URL})
			if err != nil {
				t.Fatal(err)
			}
			body, ct := client.Encode(nil, []point.Point{{DeviceID: tc.device, TimeMs: 1, LatE7: 1, LonE7: 1}}, client.FormatJSON)
			if res := c.Upload(context.Background(), "pre", body, ct); res.Outcome != client.Acked {
				t.Fatal(res.Err)
			}
			cfg := config(api.URL, time.Second)
			cfg.Fresh = tc.fresh
			_, err = verify.Run(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if !errors.Is(err, verify.ErrNotFresh) {
				t.Fatalf("err = %v, want ErrNotFresh", err)
			}
		})
	}
	t.Run("foreign data without --fresh is fine", func(t *testing.T) {
		api := apitest.New(t)
		c, _ := client.New(client.Config{Target: api.URL})
		body, ct := client.Encode(nil, []point.Point{{DeviceID: "other", TimeMs: 1, LatE7: 1, LonE7: 1}}, client.FormatJSON)
		c.Upload(context.Background(), "pre", body, ct)
		cfg := config(api.URL, 5*time.Second)
		cfg.Fresh = false
		if rep := verifyAgainst(t, cfg); !rep.OK || rep.ScopesCount != 10 {
			t.Fatalf("OK %v with %d scopes, want a match on 10 device scopes:\n%s", rep.OK, rep.ScopesCount, text(t, rep))
		}
	})
}

func TestReportJSON(t *testing.T) {
	api := apitest.New(t, onDevice("vfy-0004", func(s *agg.Summary) { s.AverageLongitude -= 1e-6 }))
	rep := verifyAgainst(t, config(api.URL, 5*time.Second))
	var b bytes.Buffer
	if err := rep.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"ok": false`, `"field": "average_longitude"`, `"scope": "device vfy-0004"`, `"stored_although_unacknowledged": 0`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON report lacks %s:\n%s", want, b.String())
		}
	}
}

// TestVerifyWindow checks the windowed scopes against the fake, which
// answers from/to from the points in [from, to): 40 s of data in 10 s
// steps gives the window 12:00:10 to 12:00:40, which leaves points out on
// both sides.
func TestVerifyWindow(t *testing.T) {
	const window = "2025-01-23T12:00:10Z/2025-01-23T12:00:40Z"
	cfg := func(target string) verify.Config {
		c := config(target, 5*time.Second)
		c.WindowStep = 10 * time.Second
		return c
	}
	t.Run("exact", func(t *testing.T) {
		api := apitest.New(t)
		rep := verifyAgainst(t, cfg(api.URL))
		out := text(t, rep)
		if !rep.OK || rep.ScopesCount != 22 || rep.Window != window {
			t.Fatalf("OK %v, %d scopes, window %q; want a match on 2 × 11 scopes:\n%s", rep.OK, rep.ScopesCount, rep.Window, out)
		}
		if api.RangedRetrieves() < 11 || !strings.Contains(out, "all time and window "+window) {
			t.Errorf("%d ranged reads:\n%s", api.RangedRetrieves(), out)
		}
	})
	t.Run("wrong windowed answers", func(t *testing.T) {
		api := apitest.New(t, apitest.WithMutate(func(q url.Values, s *agg.Summary) {
			switch {
			case !q.Has("from"):
			case q.Get("device_id") == "vfy-0003":
				s.DataCount++ // e.g. a point at to counted in
			case !q.Has("device_id"):
				s.AverageLatitude += 1e-6
			}
		}))
		rep := verifyAgainst(t, cfg(api.URL))
		if rep.OK || !hasDiff(rep, "device vfy-0003 "+window, "data_count") || !hasDiff(rep, "global "+window, "average_latitude") {
			t.Fatalf("want window differences:\n%s", text(t, rep))
		}
		if hasDiff(rep, "device vfy-0003", "average_latitude") || len(rep.Diffs) != 2 {
			t.Errorf("want exactly the two window differences:\n%s", text(t, rep))
		}
	})
	t.Run("window refused", func(t *testing.T) {
		// Reads 0..10 are the all-time scopes; 11 is the first window.
		api := apitest.New(t, apitest.WithRetrieveFault(func(n int) apitest.Fault {
			if n == 11 {
				return apitest.Fault{Status: http.StatusBadRequest}
			}
			return apitest.Fault{}
		}))
		_, err := verify.Run(context.Background(), cfg(api.URL), slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), "refuses the windowed check") || api.StoredPoints() != 0 {
			t.Fatalf("err = %v with %d points stored; want a refusal before sending", err, api.StoredPoints())
		}
	})
}
