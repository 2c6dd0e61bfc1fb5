package suite

import (
	"context"
	"sync"
	"time"

	"github.com/geostream/geostream/bench/internal/harness"
)

// uploadSamples are ingest-svc's uploads counter read every 200 ms while
// the steady load runs, to tell how many uploads came after an instant.
type uploadSamples struct {
	mu   sync.Mutex
	t    []time.Time
	u    []int64
	stop func()
}

// sampleUploads samples ingest's uploads until stop is called or ctx ends.
func sampleUploads(ctx context.Context, e *env, ingest *harness.Proc) *uploadSamples {
	s := &uploadSamples{}
	s.stop = every(200*time.Millisecond, func() {
		if _, u, err := e.accepted(ctx, ingest); err == nil {
			s.add(time.Now(), u)
		}
	})
	return s
}

func (s *uploadSamples) add(t time.Time, u int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t, s.u = append(s.t, t), append(s.u, u)
}

// at returns the uploads at t, interpolated between the samples around
// it; false when t is not between two samples.
func (s *uploadSamples) at(t time.Time) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 1; i < len(s.t); i++ {
		if t0, t1 := s.t[i-1], s.t[i]; !t.Before(t0) && !t.After(t1) {
			if !t1.After(t0) {
				return s.u[i], true
			}
			f := float64(t.Sub(t0)) / float64(t1.Sub(t0))
			return s.u[i-1] + int64(f*float64(s.u[i]-s.u[i-1])+0.5), true
		}
	}
	return 0, false
}

// prevSliceStart is when the marker slice before t's began: markers live
// by slices of the TTL (streamkit/scripts/markers.lua, s = Unix ms / L),
// so at t the keys remembered are those stored since then.
func prevSliceStart(t time.Time, ttl time.Duration) time.Time {
	l := ttl.Milliseconds()
	return time.UnixMilli((t.UnixMilli()/l - 1) * l)
}
