package e2e

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
)

// Fault 5 (docs/architecture.md#stored-on-2xx):
// ingest-svc is killed with SIGKILL six times at random (seeded) moments
// while the simulator uploads 20,000 points with 8 requests in flight, and
// restarted on the same port each time. A request cut off mid-way (its
// connection reset, or refused until the restart) is retried by the
// verifier with its Idempotency-Key; one whose append had reached Redis
// before the kill is then answered from the idempotency marker. The
// verifier must find every acknowledged point stored and counted once, and
// the unacknowledged ones at most once.
func TestFaultIngestKilled(t *testing.T) {
	const kills = 6
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 5))
	c := newCluster(t, "--appendfsync", "everysec")
	c.startProcessor("p1")
	rc := c.redis.Client()

	const count, rate = 20_000, 2_000
	load := time.Duration(count/rate) * time.Second
	v := startVerifier(t, c.base, "--count", strconv.Itoa(count), "--rate", strconv.Itoa(rate),
		"--batch", "20", "--concurrency", "8", "--devices", "40", "--seed", strconv.FormatUint(seed, 10),
		"--max-retries", "30", "--backoff-max", "1s")
	var down time.Duration
	for i, at := range schedule(rng, kills, 500*time.Millisecond, load*65/100) {
		waitUntil(v.started.Add(at))
		if v.Exited() {
			t.Fatalf("the load ended before kill %d of %d (at %v)", i+1, kills, at)
		}
		t0 := time.Now()
		c.ingest.Kill()
		c.startIngest()
		down += time.Since(t0)
	}

	rep := v.wait(3 * time.Minute)
	v.requireExact(rep)
	waitDrained(t, rc, 30*time.Second)
	f := figures{faults: kills}
	verifyFigures(&f, rep, countedTotal(t, rc))
	f.add("ingest_down_s", round(down), "network_errors", rep.Load.Errors["network"], "seed", seed)
	logFigures(t, f)
}
