// Package suite is the side-by-side benchmark of issue 6: in one run it
// measures the machine's ceilings (a no-op gin handler, redis-benchmark
// XADD, a bare consumer-group drain) and geostream's real binaries against
// a redis-server of its own, repeats everything, and reports medians and
// the ratios of each figure to its ceiling (docs/performance.md).
package suite

import (
	"errors"
	"fmt"
	"time"
)

// Config is one benchmark run's settings.
type Config struct {
	// BinDir holds the ingest-svc, processor-svc and bench binaries.
	BinDir string
	// WorkDir receives Redis's files, the services' logs and the wrk
	// scripts; a temporary directory when empty.
	WorkDir string
	// Reps is how many times every measure is repeated; figures are medians.
	Reps int
	// Duration is the length of each timed load.
	Duration time.Duration
	// Warmup is a short untimed load before each timed one.
	Warmup time.Duration
	// Conns is the number of connections of the single-point loads (64).
	Conns int
	// BatchConns is the number of connections of the 500-point loads.
	BatchConns int
	// BatchPoints is the points per batch request (500).
	BatchPoints int
	// Partitions is the services' partition count (docker-compose's 4).
	Partitions int
	// SmallStore and BigStore are the stored points at which /retrieve is
	// timed (10k and 1M).
	SmallStore, BigStore int64
	// RetrieveRate is GET /retrieve requests per second while timing it.
	RetrieveRate float64
	// BackgroundRate is batch uploads per second of the ingest load under
	// which /retrieve is timed.
	BackgroundRate float64
	// XAddN is redis-benchmark's -n.
	XAddN int
	// SteadyRate, SteadyDevices and SteadyBatch shape the steady phase's
	// simulator load (points/s, devices, points a request); SteadyDuration
	// is its length (at most 55 s: its event times stay in one minute).
	SteadyRate     float64
	SteadyDevices  int
	SteadyBatch    int
	SteadyDuration time.Duration
	// IdemTTL is ingest-svc's --idempotency-ttl in the steady phase: short,
	// so that the markers' memory reaches its steady state and its end is
	// seen within the phase.
	IdemTTL time.Duration
	// UseWrk selects wrk as the HTTP load generator (else Go's).
	UseWrk bool
	// ProfileDir, when set, receives perf profiles of the services and of
	// Redis taken during the first repetition.
	ProfileDir string
	// Quick marks a smoke run (reported in the results).
	Quick bool
	// ProcessorFlags are added to every processor-svc's flags (after the
	// benchmark's own, so they win), e.g. --linger=1s.
	ProcessorFlags []string
}

// Full returns the settings of a full run.
func Full() Config {
	return Config{
		Reps: 3, Duration: 8 * time.Second, Warmup: time.Second,
		Conns: 64, BatchConns: 16, BatchPoints: 500, Partitions: 4,
		SmallStore: 10_000, BigStore: 1_000_000,
		RetrieveRate: 200, BackgroundRate: 4, XAddN: 1_000_000,
		SteadyRate: 2000, SteadyDevices: 500, SteadyBatch: 20,
		SteadyDuration: 30 * time.Second, IdemTTL: 8 * time.Second,
	}
}

// Quick returns the settings of a smoke run: one repetition, short loads,
// a smaller big store. Its figures are not comparable with a full run's.
func Quick() Config {
	c := Full()
	c.Reps, c.Duration, c.Warmup = 1, 2*time.Second, 0
	c.BigStore, c.XAddN = 200_000, 200_000
	c.SteadyDuration, c.IdemTTL = 10*time.Second, 3*time.Second
	c.Quick = true
	return c
}

// Validate checks the settings.
func (c Config) Validate() error {
	var errs []error
	if c.BinDir == "" {
		errs = append(errs, errors.New("bin dir is required"))
	}
	if c.Reps < 1 || c.Reps > 20 {
		errs = append(errs, fmt.Errorf("reps must be 1..20, got %d", c.Reps))
	}
	if c.Duration < time.Second || c.Duration > 5*time.Minute {
		errs = append(errs, fmt.Errorf("duration must be 1s..5m, got %v", c.Duration))
	}
	if c.Conns < 1 || c.BatchConns < 1 || c.BatchPoints < 1 || c.Partitions < 1 {
		errs = append(errs, errors.New("conns, batch conns, batch points and partitions must be positive"))
	}
	if c.SmallStore < int64(c.BatchPoints) || c.BigStore <= c.SmallStore {
		errs = append(errs, fmt.Errorf("stores must satisfy batch points ≤ small (%d) < big (%d)", c.SmallStore, c.BigStore))
	}
	if c.SteadyRate <= 0 || c.SteadyDevices < 1 || c.SteadyBatch < 1 {
		errs = append(errs, errors.New("steady rate, devices and batch must be positive"))
	}
	// 3 TTLs: the markers' memory is periodic from 2 TTLs on (IdemMemory).
	if c.IdemTTL < time.Second || c.SteadyDuration < 3*c.IdemTTL+time.Second || c.SteadyDuration > 55*time.Second {
		errs = append(errs, fmt.Errorf("steady phase must satisfy 1s ≤ idempotency TTL (%v), 3 × TTL + 1s ≤ duration (%v) ≤ 55s",
			c.IdemTTL, c.SteadyDuration))
	}
	return errors.Join(errs...)
}
