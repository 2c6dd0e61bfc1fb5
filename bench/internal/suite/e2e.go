package suite

import (
	"context"
	"time"

	"github.com/geostream/geostream/bench/internal/harness"
	"github.com/geostream/geostream/bench/internal/load"
	"github.com/geostream/geostream/streamkit/keys"
)

// endToEnd runs the load s (perReq points a request) as fast as ingest
// takes it while the processor counts the points, as phase name, and
// measures the points per second from the first POST to the moment
// /retrieve counts the last point, and how far the processor fell behind
// meanwhile. Points are those the processor counted into the totals: at
// least what ingest-svc acknowledged (its counter), and the points of
// requests cut off at the end of the load that were stored nonetheless.
func (e *env) endToEnd(ctx context.Context, r *RepResult, name string, sc *keys.Schema, ingest, proc *harness.Proc, s load.Spec, perReq int) (E2EResult, error) {
	var out E2EResult
	// Whatever ingest-svc stores from now on is counted on top of c0.
	a0, _, err := e.settled(ctx, ingest)
	if err != nil {
		return out, err
	}
	c0, err := e.countedRedis(ctx, sc)
	if err != nil {
		return out, err
	}
	if err := e.warm(ctx, s); err != nil {
		return out, err
	}
	a1, _, err := e.settled(ctx, ingest)
	if err != nil {
		return out, err
	}
	c1, _, err := e.waitStable(ctx, sc, c0+a1-a0, 2*time.Minute)
	if err != nil {
		return out, err
	}
	var t0, t1, t2 time.Time
	err = e.measure(ctx, r, name, map[string]int{"ingest": ingest.Pid(), "processor": proc.Pid()}, func(p *phase) error {
		stop := every(250*time.Millisecond, func() {
			a, _, err1 := e.accepted(ctx, ingest)
			c, err2 := e.countedRedis(ctx, sc)
			if err1 == nil && err2 == nil {
				out.MaxBacklog = max(out.MaxBacklog, (a-a0)-(c-c0))
				out.Samples++
			}
		})
		t0 = time.Now()
		var err error
		out.Load, err = e.load(ctx, s)
		t1 = time.Now()
		stop()
		if err != nil {
			return err
		}
		a2, _, err := e.settled(ctx, ingest)
		if err != nil {
			return err
		}
		c2, reached, err := e.waitStable(ctx, sc, c1+a2-a1, 5*time.Minute)
		out.Points, t2 = c2-c1, reached
		p.points = out.Points
		return err
	})
	if err != nil {
		return out, err
	}
	out.PointsPS = float64(out.Points) / t2.Sub(t0).Seconds()
	out.IngestPS = out.Load.Rate() * float64(perReq)
	out.DrainAfter = t2.Sub(t1)
	if out.IngestPS > 0 {
		out.MaxLag = time.Duration(float64(out.MaxBacklog) / out.IngestPS * float64(time.Second))
	}
	return out, nil
}
