package e2e

import (
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Settings of the fault tests, from the environment:
//
//	GEOSTREAM_FAULT_SEED    seed of the fault schedules (when and whom to kill); default 1
//	GEOSTREAM_FAULT_OUTAGE  how long Redis stays unreachable in TestFaultRedisUnreachable;
//	                        default 30s, 10s when CI is set
//	GEOSTREAM_FIGURES_FILE  append every FIGURES line to this file
const (
	envFaultSeed   = "GEOSTREAM_FAULT_SEED"
	envFaultOutage = "GEOSTREAM_FAULT_OUTAGE"
)

// faultSeed returns the seed of the fault schedules.
func faultSeed(t *testing.T) uint64 {
	t.Helper()
	v := os.Getenv(envFaultSeed)
	if v == "" {
		return 1
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: %v", envFaultSeed, v, err)
	}
	return n
}

// outageDuration returns how long Redis stays unreachable.
func outageDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv(envFaultOutage)
	if v == "" {
		if os.Getenv("CI") != "" {
			return 10 * time.Second
		}
		return 30 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second {
		t.Fatalf("%s=%q: want a duration of at least 1s", envFaultOutage, v)
	}
	return d
}

// schedule returns n moments, sorted, drawn uniformly from [from, to).
func schedule(r *rand.Rand, n int, from, to time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = from + time.Duration(r.Int64N(int64(to-from)))
	}
	slices.Sort(out)
	return out
}

// waitUntil waits until the moment t: the fault schedule's clock, not a
// synchronisation (what the test then checks is polled with deadlines).
func waitUntil(t time.Time) {
	if d := time.Until(t); d > 0 {
		time.Sleep(d)
	}
}
