package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault 7 (docs/architecture.md#trimming-never-loses-an-entry):
// trimming under sustained load. Two processors
// trim every 200 ms in steps of 200 entries while the simulator uploads
// 45,000 points at 3,000 points/s; midway one processor is killed with
// SIGKILL and replaced under a new name, so that its read-but-unacknowledged
// entries sit pending for over a second (until claimed) while the survivor
// keeps trimming. Ten times a second the test reads each partition's
// stream and group state in one MULTI and checks:
//   - no pending entry has been trimmed: the stream's first entry is not
//     above the oldest pending one;
//   - no undelivered entry has been trimmed: XLEN ≥ lag + pending;
//   - the stream stays short while the processors keep up: at most four
//     seconds of its partition's share of the load (3,000 entries), against
//     11,250 sent to each partition.
//
// The verifier must end exact: nothing unacknowledged was lost to a trim.
func TestFaultTrimUnderLoad(t *testing.T) {
	const count, rate, partitions = 45_000, 3_000, 4
	const bound = rate / partitions * 4
	c := newCluster(t, "--appendfsync", "everysec")
	rc := c.redis.Client()
	flags := []string{"--trim-interval", "200ms", "--trim-step", "200",
		"--claim-interval", "300ms", "--claim-min-idle", "1s", "--batch-size", "100"}
	p0 := c.startProcessor("p0", flags...)
	p1 := c.startProcessor("p1", flags...)
	load := time.Duration(count/rate) * time.Second
	v := startVerifier(t, c.base, "--count", strconv.Itoa(count), "--rate", strconv.Itoa(rate),
		"--batch", "25", "--concurrency", "8", "--devices", "40", "--seed", strconv.FormatUint(faultSeed(t), 10))

	s := mustSchema(t)
	var (
		mu                   sync.Mutex
		samples, lagKnown    int
		maxLen, maxUntrimmed int64
		maxPending, maxLag   int64
		violations           []string
		maxMetric            float64
		stopSampling         = make(chan struct{})
		wg                   sync.WaitGroup
	)
	wg.Go(func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
			for p := 0; p < s.Partitions(); p++ {
				g, err := readGroup(context.Background(), rc, s, p)
				if err != nil {
					continue // the stream or group may not exist yet
				}
				mu.Lock()
				samples++
				maxLen, maxPending = max(maxLen, g.xlen), max(maxPending, g.pending)
				if g.pending > 0 && (g.first == "" || streamIDLess(g.oldest, g.first)) {
					violations = append(violations, fmt.Sprintf("partition %d: oldest pending %s but the stream starts at %q: a pending entry was trimmed", p, g.oldest, g.first))
				}
				if g.lag >= 0 {
					lagKnown++
					maxLag = max(maxLag, g.lag)
					maxUntrimmed = max(maxUntrimmed, g.xlen-g.lag-g.pending)
					if g.xlen < g.lag+g.pending {
						violations = append(violations, fmt.Sprintf("partition %d: %d entries but %d undelivered and %d pending: an unacknowledged entry was trimmed", p, g.xlen, g.lag, g.pending))
					}
				}
				mu.Unlock()
			}
			if n%10 == 0 {
				if m, err := scrape(p0.base); err == nil {
					mu.Lock()
					for k, v := range m {
						if strings.HasPrefix(k, "geostream_processor_stream_entries{") {
							maxMetric = max(maxMetric, v)
						}
					}
					mu.Unlock()
				}
			}
		}
	})

	waitUntil(v.started.Add(load * 4 / 10))
	p1.Kill()
	c.startProcessor("p1-heir", flags...)

	rep := v.wait(3 * time.Minute)
	close(stopSampling)
	wg.Wait()
	v.requireExact(rep)
	waitDrained(t, rc, 30*time.Second)
	for _, msg := range violations[:min(len(violations), 10)] {
		t.Error(msg)
	}
	if maxLen > bound {
		t.Errorf("a partition stream held %d entries, more than %d (4 s of its share of the load)", maxLen, bound)
	}
	if samples == 0 || lagKnown == 0 {
		t.Errorf("%d samples, %d with a known lag: the invariants were not checked", samples, lagKnown)
	}
	m := mustScrape(t, p0.base)
	f := figures{faults: 1}
	verifyFigures(&f, rep, countedTotal(t, rc))
	f.add("samples", samples, "violations", len(violations), "max_stream_len", maxLen, "bound", bound,
		"max_stream_entries_metric", maxMetric, "max_acked_untrimmed", maxUntrimmed,
		"max_pending", maxPending, "max_lag", maxLag,
		"trimmed_by_p0", metric(m, "geostream_processor_entries_trimmed_total"),
		"claimed_by_p0", metric(m, "geostream_processor_entries_claimed_total"),
		"final_stream_len", strings.ReplaceAll(strings.Trim(fmt.Sprint(streamLens(t, rc)), "[]"), " ", ","))
	logFigures(t, f)
}

// streamIDLess reports whether stream ID a ("ms-seq") is below b.
func streamIDLess(a, b string) bool {
	am, as := splitStreamID(a)
	bm, bs := splitStreamID(b)
	return am < bm || (am == bm && as < bs)
}

func splitStreamID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}
