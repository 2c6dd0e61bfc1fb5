package e2e

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/redistest"
)

// Fault 6 (docs/architecture.md#graceful-shutdown):
// graceful shutdown with SIGTERM under load.
//
// ingest: three uploads are held in flight (headers and half the body sent,
// read by the server) when ingest-svc gets SIGTERM. Once its listener is
// closed (shutdown has begun), the rest of each body is sent: each must be
// answered 200 and stored, not reset. ingest-svc must exit 0 within its
// shutdown grace; it is then restarted on the same port, and the
// simulator's verifier, uploading throughout, must end exact.
//
// processor: the processor is stopped with SIGTERM three times at random
// (seeded) moments under load and restarted under the same name. Each time
// it must exit 0 within its grace leaving no entry pending under its name
// (it finished and acknowledged its batch), and no incarnation may skip a
// duplicate or claim anything (nothing was redelivered needlessly); the
// verifier ends exact.
func TestFaultGracefulShutdown(t *testing.T) {
	t.Run("ingest", gracefulIngest)
	t.Run("processor", gracefulProcessor)
}

func gracefulIngest(t *testing.T) {
	const grace = 10 * time.Second // ingest-svc's default --shutdown-grace
	seed := faultSeed(t)
	c := newCluster(t, "--appendfsync", "everysec")
	c.startProcessor("p1")
	rc := c.redis.Client()
	// Per device only (--fresh=false): the in-flight uploads share the
	// deployment.
	v := startVerifier(t, c.base, "--fresh=false", "--count", "16000", "--rate", "2000", "--batch", "20",
		"--concurrency", "8", "--devices", "40", "--seed", strconv.FormatUint(seed, 10),
		"--max-retries", "30", "--backoff-max", "1s")
	redistest.WaitFor(t, 20*time.Second, "2000 points counted", func() bool { return countedTotal(t, rc) >= 2000 })

	r := rand.New(rand.NewPCG(seed, 6))
	var slow []*slowUpload
	var reqs []*request
	for i := range 3 {
		dev := fmt.Sprintf("inflight-%d", i)
		req := newRequest("inflight-key-"+strconv.Itoa(i), randomWire(r, 200, func(int) string { return dev }))
		reqs = append(reqs, req)
		slow = append(slow, startSlowUpload(t, c.ingestAddr, req))
	}
	termAt := time.Now()
	c.ingest.Terminate()
	waitRefused(t, c.ingestAddr, grace)
	for _, s := range slow {
		s.finish()
		if s.req.code != http.StatusOK {
			t.Errorf("in-flight upload %s: status %d (%v), want 200: a request being served when the shutdown began was not finished",
				s.req.name(), s.req.code, s.req.err)
		}
	}
	c.ingest.WaitExit(grace + 5*time.Second)
	exitAfter := time.Since(termAt)
	c.startIngest()

	rep := v.wait(3 * time.Minute)
	v.requireExact(rep)
	waitDrained(t, rc, 30*time.Second)
	o := judgeCounted(t, rc, reqs)
	for _, p := range o.problems {
		t.Error(p)
	}
	if o.lost != 0 {
		t.Errorf("%d points of in-flight uploads answered 200 are not counted", o.lost)
	}
	f := figures{faults: 1}
	verifyFigures(&f, rep, countedTotal(t, rc)-o.counted)
	f.sent += o.sent
	f.acked += o.acked
	f.counted += o.counted
	f.lost += o.lost
	f.duplicated += o.duplicated
	f.add("inflight_requests", len(reqs), "inflight_acked", o.ackedReqs, "exit_after_sigterm_s", round(exitAfter),
		"verifier_network_errors", rep.Load.Errors["network"])
	logFigures(t, f)
}

func gracefulProcessor(t *testing.T) {
	const stops = 3
	seed := faultSeed(t)
	rng := rand.New(rand.NewPCG(seed, 7))
	c := newCluster(t, "--appendfsync", "everysec")
	rc := c.redis.Client()
	flags := []string{"--batch-size", "200"}
	p := c.startProcessor("p1", flags...)

	const count, rate = 20_000, 2_000
	load := time.Duration(count/rate) * time.Second
	v := startVerifier(t, c.base, "--count", strconv.Itoa(count), "--rate", strconv.Itoa(rate),
		"--batch", "20", "--concurrency", "8", "--devices", "40", "--seed", strconv.FormatUint(seed, 10))

	var dups, claimed, applied float64
	var exits []string
	tally := func(p *proc) {
		m := mustScrape(t, p.base)
		dups += metric(m, "geostream_processor_duplicates_skipped_total")
		claimed += metric(m, "geostream_processor_entries_claimed_total")
		applied += metric(m, "geostream_processor_points_applied_total")
	}
	for i, at := range schedule(rng, stops, time.Second, load*65/100) {
		waitUntil(v.started.Add(at))
		if v.Exited() {
			t.Fatalf("the load ended before stop %d of %d", i+1, stops)
		}
		// The counters up to now; the last batch adds applied entries only.
		tally(p)
		t0 := time.Now()
		p.Stop(15 * time.Second)
		exits = append(exits, strconv.FormatFloat(round(time.Since(t0)), 'f', 3, 64))
		if n := consumerPending(t, rc, "p1"); n != 0 {
			t.Errorf("stop %d: %d entries pending under p1 after its graceful exit: its last batch was not acknowledged", i+1, n)
		}
		p = c.startProcessor("p1", flags...)
	}

	rep := v.wait(3 * time.Minute)
	v.requireExact(rep)
	waitDrained(t, rc, 30*time.Second)
	tally(p)
	if dups != 0 || claimed != 0 {
		t.Errorf("after clean restarts: %v duplicates skipped, %v entries claimed; want 0 (nothing redelivered)", dups, claimed)
	}
	f := figures{faults: stops}
	verifyFigures(&f, rep, countedTotal(t, rc))
	f.add("duplicates_skipped", dups, "claimed", claimed, "exit_after_sigterm_s", strings.Join(exits, ","))
	logFigures(t, f)
}
