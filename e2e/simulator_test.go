package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/e2e/internal/procs"
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
			cmd := exec.CommandContext(ctx, bin.Simulator, "verify",
				"--target", c.base, "--fresh", "--devices", "50", "--count", "100000",
				"--batch", strconv.Itoa(batch), "--concurrency", "16", "--seed", "7",
				"--timeout", "2m", "--log-format", "text")
			t0 := time.Now()
			out, err := cmd.CombinedOutput()
			t.Logf("simulator verify --batch %d (%v):\n%s", batch, time.Since(t0).Round(time.Millisecond), procs.Tail(out, 3000))
			if err != nil {
				t.Fatalf("simulator verify: %v", err)
			}
		})
	}
}

// With API keys on, the simulator sends its --api-key (GEOSTREAM_API_KEY in
// compose) and verifies exactly; without it every upload is refused (401)
// and verify fails, storing nothing.
func TestSimulatorWithAPIKey(t *testing.T) {
	const key = "gs_e2e_simulator_key_0123456789abcdef"
	sum := sha256.Sum256([]byte(key))
	c := newClusterWith(t, clusterOptions{
		redis:  []string{"--appendfsync", "everysec"},
		ingest: []string{"--api-keys", "sim sha256:" + hex.EncodeToString(sum[:]) + " write,read"},
	})
	c.startProcessor("p1")
	verify := func(extra ...string) ([]byte, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		args := append([]string{"verify", "--target", c.base, "--devices", "20", "--count", "5000",
			"--batch", "50", "--concurrency", "4", "--seed", "11", "--max-retries", "1", "--give-up-after", "5s",
			"--timeout", "1m", "--log-format", "text"}, extra...)
		return exec.CommandContext(ctx, bin.Simulator, args...).CombinedOutput()
	}
	out, err := verify()
	t.Logf("verify without a key:\n%s", procs.Tail(out, 1500))
	if err == nil || !strings.Contains(string(out), "401") {
		t.Fatalf("simulator verify without an API key: err = %v; want a failure that says 401", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err = exec.CommandContext(ctx, bin.Simulator, "run", "--target", c.base, "--count", "200", "--batch", "20",
		"--max-retries", "0", "--log-format", "text").CombinedOutput()
	t.Logf("run without a key (err %v):\n%s", err, procs.Tail(out, 1500))
	if !strings.Contains(string(out), "acked 0") {
		t.Fatalf("simulator run without an API key: want every upload refused")
	}
	rdb := c.redis.Client()
	streams, err := rdb.Keys(context.Background(), "*:points").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range streams {
		if n, _ := rdb.XLen(context.Background(), s).Result(); n != 0 {
			t.Fatalf("after refused uploads %s holds %d entries", s, n)
		}
	}
	out, err = verify("--fresh", "--api-key", key)
	t.Logf("with the key:\n%s", procs.Tail(out, 1500))
	if err != nil {
		t.Fatalf("simulator verify --api-key: %v", err)
	}
	if strings.Contains(string(out), key) {
		t.Error("the simulator printed its API key")
	}
}
