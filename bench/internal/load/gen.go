package load

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// newClient returns an HTTP client keeping up to conns connections open.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
			DisableCompression: true,
		},
	}
}

// send makes one request and reports whether it was answered 2xx.
func send(ctx context.Context, c *http.Client, method, url, ctype string, body []byte) (answered, ok bool) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, r)
	if err != nil {
		return false, false
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true, resp.StatusCode/100 == 2
}

// Closed runs the closed-loop load of s with Go's HTTP client: the
// fallback when wrk is missing. maxRequests > 0 also stops it after that
// many 2xx answers (to store a known number of points).
func Closed(ctx context.Context, s Spec, maxRequests int64) Result {
	c := newClient(s.Conns)
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, s.Duration)
	defer cancel()
	var okN, errN, sent atomic.Int64
	lat := make([][]time.Duration, s.Conns)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range s.Conns {
		wg.Go(func() {
			for i := w; ctx.Err() == nil; i++ {
				if maxRequests > 0 && sent.Add(1) > maxRequests {
					return
				}
				var body []byte
				if len(s.Bodies) > 0 {
					body = s.Bodies[i%len(s.Bodies)]
				}
				t := time.Now()
				answered, ok := send(ctx, c, s.Method, s.URL, s.ContentType, body)
				if ctx.Err() != nil && !answered {
					return // cut off by the end of the run, not an error
				}
				lat[w] = append(lat[w], time.Since(t))
				if ok {
					okN.Add(1)
				} else {
					errN.Add(1)
				}
			}
		})
	}
	wg.Wait()
	r := summarize(slices.Concat(lat...), time.Since(start))
	r.OK, r.Errors = okN.Load(), errN.Load()
	return r
}

// Open sends s's requests at a fixed rate (per second) for s.Duration,
// whatever the answers' latency, up to s.Conns at a time. A request's
// latency counts from when it was due, so a stall is not hidden by the
// requests it delayed (no coordinated omission).
func Open(ctx context.Context, s Spec, rate float64) Result {
	c := newClient(s.Conns)
	defer c.CloseIdleConnections()
	sem := make(chan struct{}, s.Conns)
	var (
		mu   sync.Mutex
		lat  []time.Duration
		okN  atomic.Int64
		errN atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	n := int(rate * s.Duration.Seconds())
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if d := time.Until(due); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			var body []byte
			if len(s.Bodies) > 0 {
				body = s.Bodies[i%len(s.Bodies)]
			}
			_, ok := send(ctx, c, s.Method, s.URL, s.ContentType, body)
			d := time.Since(due)
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
			if ok {
				okN.Add(1)
			} else {
				errN.Add(1)
			}
		})
	}
	wg.Wait()
	r := summarize(lat, time.Since(start))
	r.OK, r.Errors = okN.Load(), errN.Load()
	return r
}

func summarize(lat []time.Duration, d time.Duration) Result {
	slices.Sort(lat)
	return Result{
		Generator: "go", Requests: int64(len(lat)), Duration: d,
		P50: Percentile(lat, 50), P90: Percentile(lat, 90), P99: Percentile(lat, 99), Max: Percentile(lat, 100),
	}
}

// Percentile returns the p-th percentile (nearest rank) of sorted values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
