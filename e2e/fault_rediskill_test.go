package e2e

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/redistest"
)

// ingestRedisTimeout is ingest-svc's default --redis-timeout: the longest
// an upload may wait for Redis before answering 503.
const ingestRedisTimeout = 2 * time.Second

// answerMargin is the slack allowed on top of a service's own timeout
// before an answer counts as hung: generous, for a loaded CI machine.
const answerMargin = 3 * time.Second

// everysecWindow is how much acknowledged data appendfsync everysec may
// lose: Redis fsyncs the AOF once a second, and when an fsync is still
// running it postpones writing the AOF buffer for up to 2 s more before it
// blocks (redis.conf, "appendfsync everysec"; aof.c flushAppendOnlyFile),
// while it keeps answering clients. A kill can therefore lose what was
// acknowledged in the last 2 s; the test allows 1 s more for the clocks of
// the test and of Redis not being the same instant.
const everysecWindow = 3 * time.Second

// Fault 2 (docs/architecture.md#stored-on-2xx, #overload-and-outages):
// redis-server is killed with SIGKILL while
// clients upload, stays down for a moment, and is restarted from its AOF;
// ingest-svc and processor-svc are not touched and must reconnect on their
// own. Clients are the test's own (one device per request, so that each
// request's fate can be read back) and, with appendfsync always, the
// simulator's verifier too.
//
//   - always: no acknowledged point is lost; the verifier ends exact.
//   - everysec: the loss is measured; every lost acknowledged request must
//     have been acknowledged within everysecWindow before the kill.
//
// In both, every answer comes within the Redis timeout plus a margin and is
// a 200 or a 503, and no point is stored twice or in part.
func TestFaultRedisKilled(t *testing.T) {
	for _, fsync := range []string{"always", "everysec"} {
		t.Run("appendfsync="+fsync, func(t *testing.T) { redisKilled(t, fsync) })
	}
}

func redisKilled(t *testing.T, fsync string) {
	c := newCluster(t, "--appendfsync", fsync)
	proc := c.startProcessor("p1")
	rc := c.redis.Client()
	var v *verifier
	if fsync == "always" {
		// Per device only (--fresh=false): the test's own requests share
		// the deployment.
		v = startVerifier(t, c.base, "--fresh=false", "--count", "16000", "--rate", "2000", "--batch", "20",
			"--concurrency", "4", "--devices", "20", "--seed", strconv.FormatUint(faultSeed(t), 10),
			"--max-retries", "30", "--backoff-max", "1s")
	}
	l := startLoader(c.base, 6, faultSeed(t), 2*time.Millisecond, singleDeviceRequest("kill", 20, false))
	t.Cleanup(func() { l.stop() })

	redistest.WaitFor(t, 20*time.Second, "500 requests acknowledged", func() bool { return l.acked() >= 500 })
	killAt := time.Now()
	c.redis.Kill()
	// Down: uploads must answer 503 at once (connections are refused),
	// readiness must fail, liveness must not.
	redistest.WaitFor(t, 20*time.Second, "50 answers with Redis down", func() bool { return len(l.since(killAt)) >= 50 })
	probe(t, c.base+"/readyz", http.StatusServiceUnavailable, time.Second+answerMargin)
	probe(t, c.base+"/healthz", http.StatusOK, answerMargin)
	downFor := time.Since(killAt)
	c.redis.Restart()
	restartAt := time.Now()
	// Nobody restarts the services: uploads must succeed again.
	ackedBefore := l.acked()
	redistest.WaitFor(t, 30*time.Second, "200 more requests acknowledged after the restart", func() bool { return l.acked() >= ackedBefore+200 })
	reqs := l.stop()

	var rep *verifyReport
	if v != nil {
		rep = v.wait(3 * time.Minute)
		v.requireExact(rep)
	}
	waitDrained(t, rc, 60*time.Second)
	if c.ingest.Exited() || proc.Exited() {
		t.Errorf("a service exited during the Redis outage (ingest %v, processor %v)", c.ingest.Err(), proc.Err())
	}

	var failed, slow int
	var maxTook time.Duration
	recovered := time.Duration(-1)
	var ackedLast int64 // points acknowledged within everysecWindow before the kill
	for _, r := range reqs {
		maxTook = max(maxTook, r.took())
		if r.took() > ingestRedisTimeout+answerMargin {
			slow++
			t.Errorf("request %s took %v", r.name(), r.took())
		}
		switch r.code {
		case http.StatusOK:
			if r.start.After(restartAt) && (recovered < 0 || r.end.Sub(restartAt) < recovered) {
				recovered = r.end.Sub(restartAt)
			}
			if r.end.Before(killAt) && killAt.Sub(r.end) <= everysecWindow {
				ackedLast += r.n
			}
		case http.StatusServiceUnavailable:
			failed++
		default:
			t.Errorf("request %s: status %d (%v), want 200 or 503", r.name(), r.code, r.err)
		}
	}
	if failed == 0 {
		t.Fatal("no request saw Redis down: the fault was not injected")
	}
	o := judgeCounted(t, rc, reqs)
	for _, p := range o.problems {
		t.Error(p)
	}
	for _, r := range o.lostReqs {
		before := killAt.Sub(r.end)
		if fsync == "always" || before > everysecWindow {
			t.Errorf("acknowledged request %s (%d points, acknowledged %v before the kill) is not counted", r.name(), r.n, before)
		}
	}

	f := figures{faults: 1, sent: o.sent, acked: o.acked, counted: countedTotal(t, rc), lost: o.lost, duplicated: o.duplicated}
	if rep != nil {
		var vf figures
		verifyFigures(&vf, rep, f.counted-o.counted)
		f.sent += vf.sent
		f.acked += vf.acked
		f.lost += vf.lost
		f.duplicated += vf.duplicated
		f.add("verifier_acked", vf.acked, "verifier_retries", rep.Load.Retries)
	}
	f.add("appendfsync", fsync, "requests", o.requests, "answered_503", failed,
		"unacked", o.unacked, "stored_unacked", o.storedUnacked,
		"acked_in_last_window", ackedLast, "window_s", everysecWindow.Seconds(),
		"down_s", round(downFor), "recovered_s", round(recovered), "max_answer_s", round(maxTook))
	logFigures(t, f)
}

// probe GETs url once and fails the test unless it answers status within
// bound.
func probe(t *testing.T, url string, status int, bound time.Duration) time.Duration {
	t.Helper()
	client := &http.Client{Timeout: bound + 5*time.Second}
	t0 := time.Now()
	resp, err := client.Get(url)
	took := time.Since(t0)
	if err != nil {
		t.Errorf("GET %s: %v after %v", url, err, took)
		return took
	}
	resp.Body.Close()
	if resp.StatusCode != status || took > bound {
		t.Errorf("GET %s: %d after %v, want %d within %v", url, resp.StatusCode, took, status, bound)
	}
	return took
}

// round returns d in seconds with three decimals, for figures.
func round(d time.Duration) float64 {
	return float64(d.Round(time.Millisecond)) / float64(time.Second)
}
