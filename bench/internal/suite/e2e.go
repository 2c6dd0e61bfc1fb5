package suite

import (
	"context"
	"sync"
	"time"

	"github.com/geostream/geostream/bench/internal/harness"
	"github.com/geostream/geostream/bench/internal/load"
	"github.com/geostream/geostream/streamkit/keys"
)

// endToEnd posts batches as fast as ingest takes them while the processor
// counts them, and measures the points per second from the first POST to
// the moment /retrieve counts the last point, and how far the processor
// fell behind meanwhile.
func (e *env) endToEnd(ctx context.Context, r *RepResult, sc *keys.Schema, ingest, proc *harness.Proc, batch load.Spec) (E2EResult, error) {
	var out E2EResult
	if err := e.warm(ctx, batch); err != nil {
		return out, err
	}
	s0, err := e.stored(ctx, sc)
	if err != nil {
		return out, err
	}
	if _, err := e.waitCounted(ctx, ingest, s0, 2*time.Minute); err != nil {
		return out, err
	}
	var t0, t1, t2 time.Time
	err = e.measure(ctx, r, "e2e", map[string]int{"ingest": ingest.Pid(), "processor": proc.Pid()}, func(func(string, int)) error {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-stop:
					return
				case <-t.C:
				}
				s, err1 := e.stored(ctx, sc)
				c, err2 := e.countedRedis(ctx, sc)
				if err1 == nil && err2 == nil {
					out.MaxBacklog = max(out.MaxBacklog, s-c)
					out.Samples++
				}
			}
		})
		t0 = time.Now()
		var err error
		out.Load, err = e.load(ctx, batch)
		t1 = time.Now()
		close(stop)
		wg.Wait()
		if err != nil {
			return err
		}
		s1, err := e.stored(ctx, sc)
		if err != nil {
			return err
		}
		out.Points = s1 - s0
		t2, err = e.waitCounted(ctx, ingest, s1, 5*time.Minute)
		return err
	})
	if err != nil {
		return out, err
	}
	out.PointsPS = float64(out.Points) / t2.Sub(t0).Seconds()
	out.IngestPS = out.Load.Rate() * float64(e.cfg.BatchPoints)
	out.DrainAfter = t2.Sub(t1)
	if out.IngestPS > 0 {
		out.MaxLag = time.Duration(float64(out.MaxBacklog) / out.IngestPS * float64(time.Second))
	}
	return out, nil
}
