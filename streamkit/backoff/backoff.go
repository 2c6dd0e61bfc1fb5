// Package backoff is geostream's one retry delay and one context-aware
// sleep: exponential backoff with a cap, optionally with full jitter.
package backoff

import (
	"context"
	"time"
)

// Policy is exponential backoff: Base before the first retry, doubling per
// retry, never above Max.
type Policy struct {
	Base, Max time.Duration
	// Jitter, when set, makes each delay "full jitter": a uniform random
	// duration in [0, the exponential delay], drawn as Jitter(n) in [0, n)
	// (math/rand/v2's Int64N). It keeps clients that failed together from
	// coming back together.
	Jitter func(n int64) int64
}

// Delay returns the wait before retry number retry (from 1).
func (p Policy) Delay(retry int) time.Duration {
	d := p.Max
	if shift := retry - 1; shift < 0 {
		d = min(d, p.Base)
	} else if shift < 62 && p.Base <= p.Max>>shift {
		d = p.Base << shift
	}
	if d <= 0 {
		return 0
	}
	if p.Jitter != nil {
		return time.Duration(p.Jitter(int64(d) + 1))
	}
	return d
}

// Retry counts the retries of one loop: Next is the delay before the next
// retry, Reset starts over after a success.
type Retry struct {
	Policy
	n int
}

// Next returns the delay before the next retry and counts it.
func (r *Retry) Next() time.Duration {
	r.n++
	return r.Delay(r.n)
}

// Reset forgets the retries so far.
func (r *Retry) Reset() { r.n = 0 }

// Sleep waits for d or until ctx is done; it returns ctx's error in the
// latter case (also when d <= 0 and ctx is already done), nil otherwise.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
