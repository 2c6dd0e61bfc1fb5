package load

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
)

// Pacer holds the sender to a rate of points per second with a token bucket
// (golang.org/x/time/rate), changed over time by a Burst. It takes the
// clock and the sleep as functions so that tests can run it in virtual
// time. It is used by one goroutine.
type Pacer struct {
	lim    *rate.Limiter // nil: unlimited
	base   float64
	burst  Burst
	start  time.Time
	factor float64
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

// NewPacer returns a pacer of perSecond points per second (0: unlimited)
// whose bucket holds bucket points: the largest request it lets through at
// once, and the burst allowed after an idle time.
func NewPacer(perSecond float64, bucket int, burst Burst, now func() time.Time, sleep func(context.Context, time.Duration) error) *Pacer {
	p := &Pacer{base: perSecond, burst: burst, now: now, sleep: sleep, factor: 1, start: now()}
	if perSecond > 0 {
		p.lim = rate.NewLimiter(rate.Limit(perSecond), max(1, bucket))
		p.lim.SetLimitAt(p.start, rate.Limit(perSecond))
	}
	return p
}

// Wait blocks until n more points may be sent, or ctx is done.
func (p *Pacer) Wait(ctx context.Context, n int) error {
	if p.lim == nil {
		return ctx.Err()
	}
	for {
		now := p.now()
		f, remaining := p.burst.FactorAt(now.Sub(p.start))
		if f != p.factor {
			p.factor = f
			p.lim.SetLimitAt(now, rate.Limit(p.base*f))
		}
		if f == 0 {
			// A pause: nothing is sent until the phase ends.
			if err := p.sleep(ctx, remaining); err != nil {
				return err
			}
			continue
		}
		r := p.lim.ReserveN(now, n)
		if !r.OK() {
			return fmt.Errorf("pacer: %d points exceed the bucket of %d", n, p.lim.Burst())
		}
		d := r.DelayFrom(now)
		if d <= 0 {
			return nil
		}
		if err := p.sleep(ctx, d); err != nil {
			r.CancelAt(p.now())
			return err
		}
		return nil
	}
}
