package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/redistest"
)

// Fault 4 (docs/architecture.md#overload-and-outages):
// no processor runs, so the partition streams
// fill up. ingest-svc runs with --backlog-limit 1000: an upload to a
// partition holding 1000 uncounted points or more is refused with 503 and
// Retry-After before anything is written to it. The simulator's verifier
// keeps offering its 12,000 points (retrying), and once a partition is full
// a flood of 200-point requests to that partition hammers ingest for four
// seconds on top. Then:
//   - no partition holds more uncounted points than the limit plus one
//     request's points (limit − 1 + 50: the check runs before each
//     request's append, also inside a group-committed call);
//   - every flood request got 503 with Retry-After, and Redis's used_memory
//     stayed within 1 MiB of what it was when the limit was reached, while
//     storing the flood would have taken tens of MB;
//   - once a processor starts, the backlog drains to 0 (counted and
//     trimmed), the retried uploads go through, and the verifier ends exact.
func TestFaultBacklogLimit(t *testing.T) {
	const limit, batch = 1000, 50
	const memSlack = 1 << 20
	c := newClusterWith(t, clusterOptions{
		redis:  []string{"--appendfsync", "everysec"},
		ingest: []string{"--backlog-limit", strconv.Itoa(limit)},
	})
	rc := c.redis.Client()
	v := startVerifier(t, c.base, "--count", "12000", "--rate", "3000", "--batch", strconv.Itoa(batch),
		"--concurrency", "8", "--devices", "40", "--seed", strconv.FormatUint(faultSeed(t), 10),
		"--max-retries", "1000", "--backoff-max", "1s", "--give-up-after", "2m")

	// A request touching a full partition is refused as a whole (its other
	// partitions' points may be stored, and its retry stores only the
	// rest), so not every partition need fill up: wait for one.
	full := -1
	redistest.WaitFor(t, 30*time.Second, "a partition at the backlog limit", func() bool {
		for p, n := range backlogPoints(t, rc) {
			if n >= limit {
				full = p
				return true
			}
		}
		return false
	})
	s := mustSchema(t)
	var floodDevices []string
	for i := 0; len(floodDevices) < 20; i++ {
		if d := fmt.Sprintf("flood-%d", i); s.PartitionOf(d) == full {
			floodDevices = append(floodDevices, d)
		}
	}
	memAtLimit, err := usedMemory(context.Background(), rc)
	if err != nil {
		t.Fatal(err)
	}

	// The flood, while memory is sampled.
	var (
		floodReqs, floodPoints atomic.Int64
		maxMem                 atomic.Int64
		wg                     sync.WaitGroup
	)
	maxMem.Store(memAtLimit)
	until := time.Now().Add(4 * time.Second)
	for w := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 4))
			client := newClient(1, 10*time.Second)
			for time.Now().Before(until) {
				pts := randomWire(r, 200, func(i int) string { return floodDevices[i%len(floodDevices)] })
				req := newRequest("", pts)
				if err := expectBacklog503(client, c.base, req); err != nil {
					t.Errorf("flood request %d: %v", floodReqs.Load(), err)
					return
				}
				floodReqs.Add(1)
				floodPoints.Add(req.n)
			}
		})
	}
	wg.Go(func() {
		for time.Now().Before(until) {
			if m, err := usedMemory(context.Background(), rc); err == nil && m > maxMem.Load() {
				maxMem.Store(m)
			}
			time.Sleep(50 * time.Millisecond) // sampling interval
		}
	})
	wg.Wait()
	// Without a processor nothing is counted, so the backlogs now are the
	// largest they have been.
	var maxLen int64
	for p, n := range backlogPoints(t, rc) {
		maxLen = max(maxLen, n)
		if n > limit-1+batch {
			t.Errorf("partition %d holds %d uncounted points, more than limit %d − 1 + one request's %d points", p, n, limit, batch)
		}
	}
	if grew := maxMem.Load() - memAtLimit; grew > memSlack {
		t.Errorf("used_memory grew by %d bytes while uploads were refused (bound %d)", grew, memSlack)
	}
	if v.Exited() {
		t.Fatal("the verifier ended while the backlog was full: its requests were not retried")
	}

	proc := c.startProcessor("p1", "--trim-interval", "200ms")
	rep := v.wait(3 * time.Minute)
	v.requireExact(rep)
	waitDrained(t, rc, 60*time.Second)
	redistest.WaitFor(t, 30*time.Second, "the streams trimmed empty", func() bool {
		for _, n := range streamLens(t, rc) {
			if n != 0 {
				return false
			}
		}
		return true
	})

	f := figures{faults: 1}
	verifyFigures(&f, rep, countedTotal(t, rc))
	f.add("backlog_limit", limit, "full_partition", full, "max_backlog_points", maxLen, "bound", limit-1+batch,
		"used_memory_at_limit", memAtLimit, "used_memory_max", maxMem.Load(),
		"flood_requests_503", floodReqs.Load(), "flood_points_refused", floodPoints.Load(),
		"verifier_503", rep.Load.Errors["status_503"],
		"applied", metric(mustScrape(t, proc.base), "geostream_processor_points_applied_total"))
	logFigures(t, f)
}

// expectBacklog503 sends req once and returns an error unless the answer
// is the backlog's 503 with Retry-After.
func expectBacklog503(client *http.Client, base string, req *request) error {
	hr, _ := http.NewRequest("POST", base+"/upload", bytes.NewReader(req.body))
	hr.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hr)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(b), "backlog") {
		return fmt.Errorf("status %d, Retry-After %q, body %s; want the backlog's 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	return nil
}

// Fault 4, with retained points: a processor keeps raw points for replay
// (--retention 1h) and keeps up with the load (each upload is counted before
// the next is sent). Uploads must not be refused as "the processors are
// behind" while nothing is undelivered or pending: the backlog limit is
// about unprocessed points. ingest-svc runs with --backlog-limit 400, and
// 2,000 points go to the four partitions.
func TestFaultBacklogLimitWithRetention(t *testing.T) {
	const limit = 400
	c := newClusterWith(t, clusterOptions{
		redis:  []string{"--appendfsync", "everysec"},
		ingest: []string{"--backlog-limit", strconv.Itoa(limit)},
	})
	c.startProcessor("p1", "--retention", "1h", "--trim-interval", "200ms")
	rc := c.redis.Client()
	s := mustSchema(t)
	r := rand.New(rand.NewPCG(faultSeed(t), 10))
	client := newClient(1, 10*time.Second)
	var reqs []*request
	refused := 0
	for i := range 40 {
		req := newRequest("", randomWire(r, 50, func(j int) string { return fmt.Sprintf("ret-%d-%d", i, j%8) }))
		req.send(context.Background(), client, c.base)
		if req.code != http.StatusOK {
			var backlog []string
			for p := 0; p < s.Partitions(); p++ {
				g, err := readGroup(context.Background(), rc, s, p)
				if err != nil {
					t.Fatal(err)
				}
				backlog = append(backlog, fmt.Sprintf("p%d: xlen %d, lag %d, pending %d", p, g.xlen, g.lag, g.pending))
			}
			if refused++; refused <= 3 {
				t.Errorf("upload %d answered %d %s although the processor keeps up (%s): the backlog limit counts retained, already counted entries",
					i, req.code, req.answer, strings.Join(backlog, "; "))
			}
			continue
		}
		reqs = append(reqs, req)
		waitDrained(t, rc, 30*time.Second)
	}
	o := judgeCounted(t, rc, reqs)
	f := figures{sent: 40 * 50, acked: o.acked, counted: countedTotal(t, rc), lost: o.lost, duplicated: o.duplicated}
	f.add("backlog_limit", limit, "refused_requests", refused, "stream_len", strings.ReplaceAll(strings.Trim(fmt.Sprint(streamLens(t, rc)), "[]"), " ", ","))
	logFigures(t, f)
}
