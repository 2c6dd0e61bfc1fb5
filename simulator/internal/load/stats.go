package load

import (
	"maps"
	"math"
	"sync"
	"time"

	"github.com/geostream/geostream/simulator/internal/client"
)

// Counts are requests or points by how they ended.
type Counts struct {
	// Sent were handed to the client (first attempt started).
	Sent int64 `json:"sent"`
	// Acked were answered 2xx: stored.
	Acked int64 `json:"acked"`
	// Rejected were refused with a final 4xx: not stored.
	Rejected int64 `json:"rejected"`
	// Lost were given up on: maybe stored, maybe not.
	Lost int64 `json:"lost"`
}

// InFlight returns how many were sent and have not ended yet.
func (c Counts) InFlight() int64 { return c.Sent - c.Acked - c.Rejected - c.Lost }

// Snapshot is the state of a run at one moment.
type Snapshot struct {
	Elapsed  time.Duration
	Requests Counts
	Points   Counts
	// Retries counts attempts after the first.
	Retries int64
	// Replayed counts 2xx answers marked Idempotent-Replayed.
	Replayed int64
	// Errors counts failed upload attempts by kind ("status_503",
	// "network", "timeout", …).
	Errors map[string]int64
	// Latency percentiles of upload attempts that got an answer.
	P50, P90, P99, Max time.Duration
}

// Stats collects a run's counters. It is safe for concurrent use.
type Stats struct {
	start time.Time
	now   func() time.Time

	mu       sync.Mutex
	requests Counts
	points   Counts
	retries  int64
	replayed int64
	errors   map[string]int64
	latency  histogram
}

// NewStats starts collecting at now().
func NewStats(now func() time.Time) *Stats {
	return &Stats{start: now(), now: now, errors: map[string]int64{}}
}

// Observe records one client attempt; pass it to client.WithObserver.
func (s *Stats) Observe(a client.Attempt) {
	if a.Op != "upload" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.N > 1 {
		s.retries++
	}
	if a.Kind != client.KindOK {
		s.errors[a.Kind]++
	}
	if a.Status != 0 {
		s.latency.add(a.Latency)
	}
}

// Sent records a request of n points handed to the client.
func (s *Stats) Sent(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Sent++
	s.points.Sent += int64(n)
}

// Done records the result of a request of n points.
func (s *Stats) Done(n int, r client.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var req, pts *int64
	switch r.Outcome {
	case client.Acked:
		req, pts = &s.requests.Acked, &s.points.Acked
		if r.Replayed {
			s.replayed++
		}
	case client.Rejected:
		req, pts = &s.requests.Rejected, &s.points.Rejected
	default:
		req, pts = &s.requests.Lost, &s.points.Lost
	}
	*req++
	*pts += int64(n)
}

// Snapshot returns the current state.
func (s *Stats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Snapshot{
		Elapsed:  s.now().Sub(s.start),
		Requests: s.requests, Points: s.points,
		Retries: s.retries, Replayed: s.replayed,
		Errors: maps.Clone(s.errors),
		P50:    s.latency.quantile(0.50), P90: s.latency.quantile(0.90),
		P99: s.latency.quantile(0.99), Max: s.latency.max,
	}
}

// histogram counts durations in logarithmic buckets, eight per doubling
// from 1 µs, so a quantile is off by at most 9% whatever the run's length,
// in constant memory.
type histogram struct {
	buckets [8 * 40]int64
	n       int64
	max     time.Duration
}

func (h *histogram) add(d time.Duration) {
	us := max(1, float64(d)/float64(time.Microsecond))
	i := min(len(h.buckets)-1, int(math.Log2(us)*8))
	h.buckets[i]++
	h.n++
	h.max = max(h.max, d)
}

// quantile returns the upper bound of the bucket holding quantile q
// (capped at the largest value seen), 0 when empty.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(h.n)))
	var seen int64
	for i, c := range h.buckets {
		seen += c
		if seen >= rank {
			upper := time.Duration(math.Exp2(float64(i+1)/8) * float64(time.Microsecond))
			return min(upper, h.max)
		}
	}
	return h.max
}
