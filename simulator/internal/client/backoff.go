package client

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxRetryAfter caps a server's Retry-After: a misconfigured server asking
// for hours should make the client give up (see GiveUpAfter), not hang.
const maxRetryAfter = time.Hour

// retryable reports whether an HTTP status is worth retrying. 429 and 503
// are the API's backpressure; 500, 502, 504 and 408 are transient failures
// of a server or a proxy in front of it. Retrying is safe for all of them
// because every retry carries the request's Idempotency-Key. Every other
// status is the server's final word (400, 413, 415, 422: the batch was
// rejected whole and nothing was stored).
func retryable(status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return true
	}
	return false
}

// wait returns the wait before retry number retry, given the server's
// Retry-After (0 when absent): full-jitter backoff, or at least Retry-After
// plus up to one base backoff of jitter, so that clients told the same
// value do not return in the same millisecond.
func (c *Client) wait(retry int, retryAfter time.Duration) time.Duration {
	d := c.backoff.Delay(retry)
	if retryAfter > 0 && d < retryAfter {
		d = retryAfter + time.Duration(c.backoff.Jitter(int64(c.backoff.Base)+1))
	}
	return d
}

// parseRetryAfter reads a Retry-After header: delay seconds (decimals
// accepted, for tests and sub-second backpressure) or an HTTP date.
func parseRetryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(h, 64); err == nil {
		if s < 0 || s != s {
			return 0, false
		}
		return min(maxRetryAfter, time.Duration(s*float64(time.Second))), true
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(maxRetryAfter, max(0, t.Sub(now))), true
	}
	return 0, false
}
