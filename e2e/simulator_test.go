package e2e

import (
	"context"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// The simulator's verifier against the real pipeline: 100,000 points over 50
// devices, one point per request (the seed's client) and 500 per request,
// each on a fresh deployment → every count, mean, centroid, bbox and time
// range exact (simulator verify exits 0 only then).
func TestSimulatorVerify(t *testing.T) {
	for _, batch := range []int{1, 500} {
		t.Run("batch="+strconv.Itoa(batch), func(t *testing.T) {
			// AOF as in docker-compose.yml (everysec): fsync per write would
			// make this a disk benchmark.
			c := newCluster(t, "--appendfsync", "everysec")
			c.startProcessor("p1")
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin.simulator, "verify",
				"--target", c.base, "--fresh", "--devices", "50", "--count", "100000",
				"--batch", strconv.Itoa(batch), "--concurrency", "16", "--seed", "7",
				"--timeout", "2m", "--log-format", "text")
			t0 := time.Now()
			out, err := cmd.CombinedOutput()
			t.Logf("simulator verify --batch %d (%v):\n%s", batch, time.Since(t0).Round(time.Millisecond), tail(out, 3000))
			if err != nil {
				t.Fatalf("simulator verify: %v", err)
			}
		})
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
