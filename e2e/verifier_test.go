package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/e2e/internal/procs"
)

// verifier is a `simulator verify` running in the background: the load of a
// fault test, and its judge. It knows which requests were acknowledged and
// which it gave up on, and at the end checks every count, mean, centroid,
// bbox and time range exactly (simulator/README.md).
type verifier struct {
	*procs.Proc
	t       *testing.T
	stdout  bytes.Buffer
	started time.Time
}

// verifyReport is the part of `simulator verify --json` the tests read.
type verifyReport struct {
	OK             bool        `json:"ok"`
	CaughtUp       bool        `json:"caught_up"`
	WaitSeconds    float64     `json:"wait_seconds"`
	Requests       pointCounts `json:"requests"`
	Points         pointCounts `json:"points"`
	ReplayedAcks   int64       `json:"replayed_acks"`
	StoredUnacked  int64       `json:"stored_although_unacknowledged"`
	Identification string      `json:"identification"`
	Diffs          []struct {
		Scope, Field, Expected, Got, Note string
	} `json:"diffs"`
	Notes []string `json:"notes"`
	Load  struct {
		ElapsedSeconds float64          `json:"elapsed_seconds"`
		Retries        int64            `json:"retries"`
		Errors         map[string]int64 `json:"errors_by_kind"`
		LatencyMs      struct {
			P50, P99, Max float64
		} `json:"latency_ms"`
	} `json:"load"`
}

// pointCounts are the simulator's counters of requests or points.
type pointCounts struct {
	Sent     int64 `json:"sent"`
	Acked    int64 `json:"acked"`
	Rejected int64 `json:"rejected"`
	Lost     int64 `json:"lost"`
}

// startVerifier starts `simulator verify --fresh --json` against target with
// extra flags (a later flag wins). Its stderr goes to a log printed when the
// test fails; the process is killed at cleanup if still running.
func startVerifier(t *testing.T, target string, args ...string) *verifier {
	t.Helper()
	all := append([]string{"verify", "--target", target, "--fresh", "--json",
		"--log-format", "text", "--progress-interval", "2s", "--timeout", "90s"}, args...)
	v := &verifier{t: t, started: time.Now()}
	v.Proc = procs.Start(t, "verify", bin.Simulator, procs.Options{Stdout: &v.stdout}, all...)
	t.Logf("simulator %s", strings.Join(all, " "))
	return v
}

// wait waits for the verifier to finish and returns its report; it fails
// the test when there is none within timeout.
func (v *verifier) wait(timeout time.Duration) *verifyReport {
	v.t.Helper()
	if !v.Wait(timeout) {
		v.t.Fatalf("simulator verify did not finish within %v", timeout)
	}
	var rep verifyReport
	if err := json.Unmarshal(v.stdout.Bytes(), &rep); err != nil {
		v.t.Fatalf("simulator verify (%v) wrote no report: %v\n%s", v.Err(), err, procs.Tail(v.stdout.Bytes(), 2000))
	}
	v.t.Logf("simulator verify: ok=%v in %.1fs (caught up %.1fs after sending); points sent %d, acked %d, lost %d, rejected %d; requests %d; retries %d; errors %v; stored although unacknowledged %d; latency p50 %.1fms p99 %.1fms max %.1fms",
		rep.OK, time.Since(v.started).Seconds(), rep.WaitSeconds, rep.Points.Sent, rep.Points.Acked, rep.Points.Lost, rep.Points.Rejected,
		rep.Requests.Sent, rep.Load.Retries, rep.Load.Errors, rep.StoredUnacked,
		rep.Load.LatencyMs.P50, rep.Load.LatencyMs.P99, rep.Load.LatencyMs.Max)
	return &rep
}

// requireExact fails the test unless the verifier found every answer
// exact (exit status 0, report ok).
func (v *verifier) requireExact(rep *verifyReport) {
	v.t.Helper()
	if rep.OK && v.Err() == nil {
		return
	}
	var b strings.Builder
	for _, d := range rep.Diffs {
		fmt.Fprintf(&b, "\n  %s %s: expected %s, got %s (%s)", d.Scope, d.Field, d.Expected, d.Got, d.Note)
	}
	v.t.Errorf("simulator verify is not exact (exit %v, identification %q, notes %q):%s",
		v.Err(), rep.Identification, rep.Notes, b.String())
}
