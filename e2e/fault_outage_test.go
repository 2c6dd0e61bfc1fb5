package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/geostream/geostream/e2e/internal/procs"
	"github.com/geostream/geostream/streamkit/redistest"
)

// Fault 3 (docs/architecture.md#overload-and-outages):
// Redis stops answering for GEOSTREAM_FAULT_OUTAGE
// (30 s; 10 s when CI is set). The redis-server process is stopped with
// SIGSTOP, so that connections hang (the kernel still accepts them and
// buffers what is sent) instead of being refused: the nastier outage, where
// only the services' own timeouts answer. (The refused case is part of
// TestFaultRedisKilled: Redis is down, not stopped.) While Redis hangs:
//   - every POST /upload answers 503 with Retry-After within --redis-timeout
//     (2 s) plus a margin: no request hangs;
//   - GET /readyz answers 503 (ingest and processor), GET /healthz 200.
//
// After SIGCONT, Redis executes what was queued while it was stopped,
// including commands whose clients have given up, and everything resumes
// without a restart. The simulator's verifier, retrying each request with
// its Idempotency-Key all along, must find every point counted once.
func TestFaultRedisUnreachable(t *testing.T) {
	outage := outageDuration(t)
	c := newCluster(t, "--appendfsync", "everysec")
	proc := c.startProcessor("p1")
	rc := c.redis.Client()

	// About 2 s of load before the outage and 8 s after it: the verifier
	// paces its points, and sends none while its requests are retried.
	const rate, count = 500, 5_000
	// Per device only (--fresh=false): the probes' points, some of which
	// are stored although answered 503, share the deployment.
	v := startVerifier(t, c.base, "--fresh=false", "--count", strconv.Itoa(count), "--rate", strconv.Itoa(rate),
		"--batch", "10", "--concurrency", "8", "--devices", "20", "--seed", strconv.FormatUint(faultSeed(t), 10),
		"--max-retries", "1000", "--backoff-max", "2s", "--give-up-after", (outage + time.Minute).String())
	redistest.WaitFor(t, 30*time.Second, "1000 points counted", func() bool { return countedTotal(t, rc) >= 1000 })

	pid := c.redis.Pid()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stoppedAt := time.Now()
	resume := sync.OnceFunc(func() { syscall.Kill(pid, syscall.SIGCONT) })
	t.Cleanup(resume) // before redistest's cleanup kills it (cleanups run last first)

	var (
		uploads, readys atomic.Int64
		maxUpload       atomic.Int64 // ns
		maxReady        atomic.Int64
		wg              sync.WaitGroup
		mu              sync.Mutex
		probeDevices    []string
	)
	until := stoppedAt.Add(outage)
	for w := range 2 {
		wg.Go(func() {
			client := &http.Client{Timeout: ingestRedisTimeout + 10*time.Second}
			for i := 0; time.Now().Before(until); i++ {
				dev := fmt.Sprintf("probe-%d-%d", w, i)
				took, err := probeUpload(client, c.base, dev)
				uploads.Add(1)
				storeMax(&maxUpload, took)
				mu.Lock()
				probeDevices = append(probeDevices, dev)
				mu.Unlock()
				if err != nil || took > ingestRedisTimeout+answerMargin {
					t.Errorf("upload while Redis hangs: %v after %v, want 503 with Retry-After within %v",
						err, took, ingestRedisTimeout+answerMargin)
				}
			}
		})
	}
	wg.Go(func() {
		for time.Now().Before(until) {
			storeMax(&maxReady, probe(t, c.base+"/readyz", http.StatusServiceUnavailable, time.Second+answerMargin))
			probe(t, proc.base+"/readyz", http.StatusServiceUnavailable, time.Second+answerMargin)
			probe(t, c.base+"/healthz", http.StatusOK, answerMargin)
			probe(t, proc.base+"/healthz", http.StatusOK, answerMargin)
			readys.Add(1)
		}
	})
	wg.Wait()
	if v.Exited() {
		t.Fatal("the verifier ended during the outage: its requests were not retried through it")
	}
	resume()
	contAt := time.Now()
	procs.WaitHTTP(t, c.base+"/readyz", http.StatusOK, 30*time.Second)
	readyAfter := time.Since(contAt)

	rep := v.wait(outage + 3*time.Minute)
	v.requireExact(rep)
	if max := time.Duration(rep.Load.LatencyMs.Max * float64(time.Millisecond)); max > ingestRedisTimeout+answerMargin {
		t.Errorf("a verifier request took %v: it hung instead of getting a 503", max)
	}
	waitDrained(t, rc, 60*time.Second)
	stored := int64(0)
	for d, n := range deviceCounts(t, rc, probeDevices) {
		if n > 1 {
			t.Errorf("probe %s (one point, answered 503) is counted %d times", d, n)
		}
		stored += n
	}
	m := mustScrape(t, proc.base)

	f := figures{faults: 1}
	verifyFigures(&f, rep, countedTotal(t, rc)-stored)
	f.add("outage_s", outage.Seconds(), "probe_uploads", uploads.Load(),
		"probe_upload_max_s", round(time.Duration(maxUpload.Load())), "probe_readyz", readys.Load(),
		"probe_readyz_max_s", round(time.Duration(maxReady.Load())),
		"probes_stored_after_503", stored, "ready_after_resume_s", round(readyAfter),
		"verifier_max_attempt_s", rep.Load.LatencyMs.Max/1000,
		"processor_duplicates_skipped", metric(m, "geostream_processor_duplicates_skipped_total"))
	logFigures(t, f)
}

// probeUpload posts one point of device dev without an Idempotency-Key and
// returns how long the answer took; the error says what was wrong with an
// answer that is not a 503 with Retry-After.
func probeUpload(client *http.Client, base, dev string) (time.Duration, error) {
	body, _ := json.Marshal(wirePoint{Timestamp: time.Now().UTC().Format(time.RFC3339Nano), Latitude: 1, Longitude: 2, DeviceID: dev})
	req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/upload", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	t0 := time.Now()
	resp, err := client.Do(req)
	took := time.Since(t0)
	if err != nil {
		return took, err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		return took, fmt.Errorf("status %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	return took, nil
}

// storeMax raises m to d (nanoseconds) if d is larger.
func storeMax(m *atomic.Int64, d time.Duration) {
	for {
		cur := m.Load()
		if int64(d) <= cur || m.CompareAndSwap(cur, int64(d)) {
			return
		}
	}
}
