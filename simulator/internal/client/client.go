// Package client is the simulator's HTTP client for the geostream API: a
// well-behaved uploader that retries backpressure (429, 503) and network
// failures with exponential backoff and full jitter, honours Retry-After,
// sends one Idempotency-Key per request on every attempt, and gives up after
// a bounded number of retries or time, reporting the request as lost.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/geostream/geostream/streamkit/backoff"
)

// Outcome is how a request ended.
type Outcome int

const (
	// Acked: the server answered 2xx, every point of the request is stored.
	Acked Outcome = iota
	// Rejected: the server refused the request with a final 4xx; by the
	// API's contract none of its points is stored.
	Rejected
	// Lost: the client gave up (retries or time exhausted, or cancelled).
	// The points may or may not be stored.
	Lost
)

// String returns "acked", "rejected" or "lost".
func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Rejected:
		return "rejected"
	case Lost:
		return "lost"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

var (
	// ErrGaveUp wraps the last failure of a request the client stopped
	// retrying.
	ErrGaveUp = errors.New("gave up")
	// ErrRejected wraps a final 4xx answer.
	ErrRejected = errors.New("rejected")
)

// Error kinds reported in Attempt.Kind besides "status_NNN".
const (
	KindOK        = "ok"
	KindNetwork   = "network"
	KindTimeout   = "timeout"
	KindCancelled = "cancelled"
)

// Attempt describes one HTTP attempt, for live statistics.
type Attempt struct {
	// Op is "upload" or "retrieve".
	Op string
	// N is the attempt number of its request, from 1.
	N int
	// Status is the HTTP status, 0 when there was no answer.
	Status int
	// Kind is KindOK, "status_NNN" for an HTTP error status, KindNetwork,
	// KindTimeout or KindCancelled.
	Kind string
	// Latency is the time from sending to the end of the answer.
	Latency time.Duration
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// Wait is the pause before the next attempt; 0 when this was the last.
	Wait time.Duration
	// Key is the request's Idempotency-Key (uploads only).
	Key string
}

// Result is the end of one upload request.
type Result struct {
	Outcome  Outcome
	Status   int // the last HTTP status, 0 when none
	Attempts int
	// Accepted is the server's "accepted" count of a 2xx answer, -1 when
	// absent.
	Accepted int
	// Replayed is true when the server answered Idempotent-Replayed: an
	// earlier attempt had stored the points.
	Replayed bool
	// Err explains a Rejected or Lost outcome.
	Err error
	// Elapsed is the time from the first attempt to the outcome.
	Elapsed time.Duration
}

// Client talks to one geostream API. It is safe for concurrent use.
type Client struct {
	cfg     Config
	base    *url.URL
	hc      *http.Client
	sleep   func(context.Context, time.Duration) error
	now     func() time.Time
	backoff backoff.Policy
	observe func(Attempt)
}

// Option customises a Client.
type Option func(*Client)

// WithObserver calls f after every attempt, from the goroutine that made
// it.
func WithObserver(f func(Attempt)) Option { return func(c *Client) { c.observe = f } }

// WithClock replaces the clock and the wait between attempts, so tests can
// run retries in virtual time.
func WithClock(now func() time.Time, sleep func(context.Context, time.Duration) error) Option {
	return func(c *Client) { c.now, c.sleep = now, sleep }
}

// New returns a client for cfg.
func New(cfg Config, opts ...Option) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	base, err := url.Parse(strings.TrimRight(cfg.Target, "/"))
	if err != nil {
		return nil, fmt.Errorf("target: %w", err)
	}
	c := &Client{cfg: cfg, base: base, sleep: backoff.Sleep, now: time.Now, observe: func(Attempt) {},
		backoff: backoff.Policy{Base: cfg.BackoffBase, Max: cfg.BackoffMax, Jitter: rand.Int64N}}
	for _, o := range opts {
		o(c)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = cfg.MaxConns + 2
	tr.MaxIdleConnsPerHost = cfg.MaxConns + 2
	c.hc = &http.Client{Transport: tr}
	return c, nil
}

// Target returns the API base URL.
func (c *Client) Target() string { return c.base.String() }

// Upload POSTs body to /upload with the given content type and
// Idempotency-Key, retrying as the package documentation describes. The
// body is sent unchanged on every attempt.
func (c *Client) Upload(ctx context.Context, key string, body []byte, contentType string) Result {
	return c.Send(ctx, key, Payload{Method: http.MethodPost, Path: "upload", Body: body, ContentType: contentType})
}

// Send sends one request of any protocol (see EncodePayload) with
// Idempotency-Key key, retrying as Upload does.
func (c *Client) Send(ctx context.Context, key string, p Payload) Result {
	start := c.now()
	res := Result{Accepted: -1}
	u := c.base.JoinPath(p.Path)
	u.RawQuery = p.Query
	target := u.String()
	for n := 1; ; n++ {
		a := Attempt{Op: "upload", N: n, Key: key}
		ans := c.do(ctx, &a, func(actx context.Context) (*http.Request, error) {
			var body io.Reader
			if p.Body != nil {
				body = bytes.NewReader(p.Body)
			}
			req, err := http.NewRequestWithContext(actx, p.Method, target, body)
			if err != nil {
				return nil, err
			}
			if p.ContentType != "" {
				req.Header.Set("Content-Type", p.ContentType)
			}
			for k, v := range p.Header {
				req.Header.Set(k, v)
			}
			req.Header.Set("Idempotency-Key", key)
			return req, nil
		})
		res.Attempts, res.Status = n, a.Status
		switch {
		case ans.err == nil && a.Status/100 == 2 && p.WantBody != "" && strings.TrimSpace(string(ans.body)) != p.WantBody:
			// The app would not count it as delivered, and send it again.
			res.Outcome = Lost
			res.Err = fmt.Errorf("%s: %w: answer %q, the app needs %s", p.Path, ErrGaveUp, describe(a.Status, ans.body), p.WantBody)
			c.observe(a)
			res.Elapsed = c.now().Sub(start)
			return res
		case ans.err == nil && a.Status/100 == 2:
			res.Outcome = Acked
			res.Replayed = strings.EqualFold(ans.header.Get("Idempotent-Replayed"), "true")
			var ok struct {
				Accepted *int `json:"accepted"`
			}
			if json.Unmarshal(ans.body, &ok) == nil && ok.Accepted != nil {
				res.Accepted = *ok.Accepted
			}
			c.observe(a)
			res.Elapsed = c.now().Sub(start)
			return res
		case ans.err == nil && !retryable(a.Status):
			res.Outcome = Rejected
			res.Err = fmt.Errorf("%s: %w: %s", p.Path, ErrRejected, describe(a.Status, ans.body))
			c.observe(a)
			res.Elapsed = c.now().Sub(start)
			return res
		}
		if stop := c.retryWait(ctx, &a, n, start, ans.err); stop != nil {
			res.Outcome, res.Err = Lost, stop
			res.Elapsed = c.now().Sub(start)
			return res
		}
	}
}

// retryWait decides whether attempt n, which failed with a retryable status
// or err, is retried. It reports the attempt, waits, and returns nil to
// retry, or the reason to give up.
func (c *Client) retryWait(ctx context.Context, a *Attempt, n int, start time.Time, err error) error {
	last := a.Kind
	if err != nil {
		last = err.Error()
	}
	if ctx.Err() != nil {
		a.Kind = KindCancelled
		c.observe(*a)
		return fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, n, ctx.Err())
	}
	if n > c.cfg.MaxRetries {
		c.observe(*a)
		return fmt.Errorf("%w after %d attempts, last: %s", ErrGaveUp, n, last)
	}
	w := c.wait(n, a.RetryAfter)
	if elapsed := c.now().Sub(start); elapsed+w > c.cfg.GiveUpAfter {
		c.observe(*a)
		return fmt.Errorf("%w after %d attempts in %v (next wait %v would pass give-up-after %v), last: %s",
			ErrGaveUp, n, elapsed.Round(time.Millisecond), w.Round(time.Millisecond), c.cfg.GiveUpAfter, last)
	}
	a.Wait = w
	c.observe(*a)
	if err := c.sleep(ctx, w); err != nil {
		return fmt.Errorf("%w after %d attempts: %w", ErrGaveUp, n, err)
	}
	return nil
}

// answer is what one attempt got back.
type answer struct {
	header http.Header
	body   []byte
	err    error // no (complete) answer
}

// maxAnswer bounds how much of an answer is read: summaries and errors are
// small.
const maxAnswer = 1 << 20

// do runs one attempt with its own timeout and fills a's status, kind,
// latency and Retry-After.
func (c *Client) do(ctx context.Context, a *Attempt, build func(context.Context) (*http.Request, error)) answer {
	actx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	req, err := build(actx)
	if err != nil {
		a.Kind = KindNetwork
		return answer{err: err}
	}
	req.Header.Set("User-Agent", "geostream-simulator")
	if c.cfg.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.cfg.APIKey)
	}
	t0 := c.now()
	resp, err := c.hc.Do(req)
	var body []byte
	if err == nil {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
		resp.Body.Close()
	}
	a.Latency = c.now().Sub(t0)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			a.Kind = KindCancelled
		case actx.Err() != nil:
			a.Kind = KindTimeout
		default:
			a.Kind = KindNetwork
		}
		return answer{err: err}
	}
	a.Status = resp.StatusCode
	a.Kind = KindOK
	if resp.StatusCode/100 != 2 {
		a.Kind = fmt.Sprintf("status_%d", resp.StatusCode)
	}
	if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), c.now()); ok {
		a.RetryAfter = ra
	}
	return answer{header: resp.Header, body: body}
}

// describe renders an error answer: its status and the API's "error" and
// "details", or the start of the body when it is not the API's JSON.
func describe(status int, body []byte) string {
	var e struct {
		Error   string `json:"error"`
		Details []any  `json:"details"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		if len(e.Details) > 0 {
			d, _ := json.Marshal(e.Details)
			return fmt.Sprintf("%d %s %s", status, e.Error, d)
		}
		return fmt.Sprintf("%d %s", status, e.Error)
	}
	b := strings.TrimSpace(string(body))
	if len(b) > 200 {
		b = b[:200] + "…"
	}
	return fmt.Sprintf("%d %s", status, b)
}
