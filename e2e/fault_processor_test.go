package e2e

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// Fault 1 (docs/architecture.md#counted-exactly-once, #claimed-from-dead-consumers):
// processors are killed with SIGKILL ten
// times at random (seeded) moments while the simulator uploads 24,000 points
// at 2,000 points/s, with one and with three processor instances, each time
// while it holds entries it read and has not counted (procs.KillHolding). Each
// killed processor is restarted at once, about one time in three under a new
// consumer name, so that its predecessor's pending entries can only be
// counted through XAUTOCLAIM by another consumer. The verifier must find
// every acknowledged point counted exactly once, and nothing may stay
// pending, under the abandoned names either.
func TestFaultProcessorKilled(t *testing.T) {
	for _, instances := range []int{1, 3} {
		t.Run("instances="+strconv.Itoa(instances), func(t *testing.T) {
			processorKills(t, instances, 10)
		})
	}
}

func processorKills(t *testing.T, instances, kills int) {
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, uint64(instances)))
	// Redis is not the fault here: everysec spares the disk.
	c := newCluster(t, "--appendfsync", "everysec")
	// No linger: a processor then spends its time blocked in XREADGROUP,
	// where a freeze leaves it holding entries (procs.KillHolding).
	flags := []string{"--claim-interval", "300ms", "--claim-min-idle", "1s", "--batch-size", "100", "--linger", "-1ns"}
	procs := make([]*proc, instances)
	names := make([]string, instances)
	for i := range procs {
		names[i] = "p" + strconv.Itoa(i)
		procs[i] = c.startProcessor(names[i], flags...)
	}
	used := map[string]bool{}
	for _, n := range names {
		used[n] = true
	}

	const count, rate = 24_000, 2_000
	load := time.Duration(count/rate) * time.Second
	v := startVerifier(t, c.base, "--count", strconv.Itoa(count), "--rate", strconv.Itoa(rate),
		"--batch", "20", "--concurrency", "8", "--devices", "40", "--seed", strconv.FormatUint(seed, 10))

	rc := c.redis.Client()
	renamed := 0
	// Entries the killed processors had read but not acknowledged, and of
	// those the ones left under a name that never came back (only
	// XAUTOCLAIM can count them).
	var pendingAtKill, abandoned int64
	// The kills land in the first 65% of the load, leaving room for
	// restarts that are slow on a loaded machine.
	for i, at := range schedule(rng, kills, 500*time.Millisecond, load*65/100) {
		waitUntil(v.started.Add(at))
		if v.Exited() {
			t.Fatalf("the load ended before kill %d of %d (at %v): the kills must land under load", i+1, kills, at)
		}
		victim := rng.IntN(instances)
		procs[victim].KillHolding(func() bool { return consumerPending(t, rc, names[victim]) > 0 }, 2*time.Second)
		pending := consumerPending(t, rc, names[victim])
		pendingAtKill += pending
		if rng.IntN(3) == 0 || (i == kills-1 && renamed == 0) {
			// The old name never comes back: its pending entries must be
			// claimed by a live consumer.
			names[victim] = fmt.Sprintf("p%d-r%d", victim, i)
			used[names[victim]] = true
			renamed++
			abandoned += pending
		}
		procs[victim] = c.startProcessor(names[victim], flags...)
	}

	rep := v.wait(3 * time.Minute)
	v.requireExact(rep)
	waitDrained(t, rc, 30*time.Second)
	for name := range used {
		if n := consumerPending(t, rc, name); n != 0 {
			t.Errorf("consumer %s still has %d pending entries", name, n)
		}
	}
	var claimed, dups float64
	for _, p := range procs {
		m := mustScrape(t, p.base)
		claimed += metric(m, "geostream_processor_entries_claimed_total")
		dups += metric(m, "geostream_processor_duplicates_skipped_total")
	}
	f := figures{faults: kills}
	verifyFigures(&f, rep, countedTotal(t, rc))
	f.add("instances", instances, "renamed_restarts", renamed, "pending_at_kills", pendingAtKill, "pending_abandoned", abandoned,
		"claimed_by_survivors", claimed, "duplicates_skipped_by_survivors", dups, "seed", seed)
	logFigures(t, f)
	if f.lost != 0 || f.duplicated != 0 {
		t.Errorf("lost %d, duplicated %d points", f.lost, f.duplicated)
	}
	if abandoned == 0 {
		t.Errorf("no renamed victim died holding entries (pending at kills: %d): the claim path was not exercised", pendingAtKill)
	}
}
