package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// verifier is a `simulator verify` running in the background: the load of a
// fault test, and its judge. It knows which requests were acknowledged and
// which it gave up on, and at the end checks every count, mean, centroid,
// bbox and time range exactly (simulator/README.md).
type verifier struct {
	t       *testing.T
	cmd     *exec.Cmd
	stdout  bytes.Buffer
	log     string
	started time.Time
	done    chan struct{}
	err     error
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
	v := &verifier{t: t, log: filepath.Join(t.TempDir(), "verify.log"), done: make(chan struct{})}
	f, err := os.Create(v.log)
	if err != nil {
		t.Fatal(err)
	}
	all := append([]string{"verify", "--target", target, "--fresh", "--json",
		"--log-format", "text", "--progress-interval", "2s", "--timeout", "90s"}, args...)
	v.cmd = exec.Command(bin.simulator, all...)
	v.cmd.Stdout, v.cmd.Stderr = &v.stdout, f
	v.cmd.Env = os.Environ()
	v.started = time.Now()
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("start simulator verify: %v", err)
	}
	go func() { v.err = v.cmd.Wait(); f.Close(); close(v.done) }()
	t.Cleanup(func() {
		if !v.exited() {
			v.cmd.Process.Signal(syscall.SIGKILL)
			<-v.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(v.log)
			t.Logf("--- simulator verify log (tail) ---\n%s", tail(b, 6000))
		}
	})
	t.Logf("simulator %s", strings.Join(all, " "))
	return v
}

func (v *verifier) exited() bool {
	select {
	case <-v.done:
		return true
	default:
		return false
	}
}

// wait waits for the verifier to finish and returns its report; it fails
// the test when there is none within timeout.
func (v *verifier) wait(timeout time.Duration) *verifyReport {
	v.t.Helper()
	select {
	case <-v.done:
	case <-time.After(timeout):
		v.cmd.Process.Signal(syscall.SIGKILL)
		<-v.done
		v.t.Fatalf("simulator verify did not finish within %v", timeout)
	}
	var rep verifyReport
	if err := json.Unmarshal(v.stdout.Bytes(), &rep); err != nil {
		v.t.Fatalf("simulator verify (%v) wrote no report: %v\n%s", v.err, err, tail(v.stdout.Bytes(), 2000))
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
	if rep.OK && v.err == nil {
		return
	}
	var b strings.Builder
	for _, d := range rep.Diffs {
		fmt.Fprintf(&b, "\n  %s %s: expected %s, got %s (%s)", d.Scope, d.Field, d.Expected, d.Got, d.Note)
	}
	v.t.Errorf("simulator verify is not exact (exit %v, identification %q, notes %q):%s",
		v.err, rep.Identification, rep.Notes, b.String())
}
