package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/geostream/geostream/e2e/internal/binaries"
	"github.com/geostream/geostream/e2e/internal/procs"
	"github.com/geostream/geostream/streamkit/redistest"
)

// bin holds the binaries built once by TestMain.
var bin binaries.Set

func TestMain(m *testing.M) { os.Exit(procs.Main(m, "..", &bin)) }

// proc is a geostream binary running as a child process; base is its HTTP
// base URL (the API, or health and metrics), when it serves one.
type proc struct {
	*procs.Proc
	base string
}

// start runs a binary with args and GEOSTREAM_* environment (procs.Start).
func start(t *testing.T, name, path string, env map[string]string, args ...string) *proc {
	t.Helper()
	return &proc{Proc: procs.Start(t, name, path, procs.Options{Env: env}, args...)}
}

// cluster is one geostream deployment under test.
type cluster struct {
	t          *testing.T
	redis      *redistest.Server
	ingest     *proc
	base       string // ingest base URL; it keeps its port across restarts
	ingestAddr string
	ingestArgs []string
	env        map[string]string
}

// clusterOptions are the settings of newClusterWith.
type clusterOptions struct {
	// redis are extra redis-server arguments, after AOF with appendfsync
	// always (a later "--appendfsync" wins).
	redis []string
	// ingest are extra ingest-svc flags.
	ingest []string
}

// newCluster starts a redis-server with AOF (appendfsync always unless args
// say otherwise) and an ingest-svc on it.
func newCluster(t *testing.T, redisArgs ...string) *cluster {
	t.Helper()
	return newClusterWith(t, clusterOptions{redis: redisArgs})
}

// newClusterWith starts a redis-server and an ingest-svc as o says.
func newClusterWith(t *testing.T, o clusterOptions) *cluster {
	t.Helper()
	args := append([]string{"--appendonly", "yes", "--appendfsync", "always"}, o.redis...)
	r := redistest.Start(t, args...)
	c := &cluster{t: t, redis: r, ingestArgs: o.ingest, env: map[string]string{
		"GEOSTREAM_REDIS_URL":  r.URL(),
		"GEOSTREAM_PARTITIONS": "4",
	}}
	c.ingestAddr = procs.FreeAddr(t)
	c.base = "http://" + c.ingestAddr
	c.startIngest()
	return c
}

// startIngest starts ingest-svc on the cluster's ingest address and waits
// until it is ready. After a crash or a shutdown it starts a new process on
// the same port, as an orchestrator would.
func (c *cluster) startIngest() {
	c.t.Helper()
	if c.ingest != nil && !c.ingest.Exited() {
		c.t.Fatal("startIngest: ingest-svc is still running")
	}
	env := map[string]string{"GEOSTREAM_HTTP_ADDR": c.ingestAddr}
	for k, v := range c.env {
		env[k] = v
	}
	c.ingest = start(c.t, "ingest", bin.Ingest, env, c.ingestArgs...)
	c.ingest.base = c.base
	procs.WaitHTTP(c.t, c.base+"/readyz", 200, 20*time.Second)
}

// startProcessor starts a processor-svc named consumer with extra flags and
// waits until it serves /healthz (on proc.base, with /metrics).
func (c *cluster) startProcessor(consumer string, args ...string) *proc {
	c.t.Helper()
	addr := procs.FreeAddr(c.t)
	env := map[string]string{
		"GEOSTREAM_HTTP_ADDR": addr,
		"GEOSTREAM_CONSUMER":  consumer,
	}
	for k, v := range c.env {
		env[k] = v
	}
	p := start(c.t, "processor-"+consumer, bin.Processor, env, args...)
	p.base = "http://" + addr
	procs.WaitHTTP(c.t, p.base+"/healthz", 200, 20*time.Second)
	return p
}

// summary is the part of GET /retrieve the tests compare.
type summary struct {
	AverageLatitude  float64 `json:"average_latitude"`
	AverageLongitude float64 `json:"average_longitude"`
	DataCount        int64   `json:"data_count"`
	Error            string  `json:"error"`
}

func (c *cluster) retrieve(query string) (summary, int, error) {
	resp, err := http.Get(c.base + "/retrieve" + query)
	if err != nil {
		return summary{}, 0, err
	}
	defer resp.Body.Close()
	var s summary
	err = json.NewDecoder(resp.Body).Decode(&s)
	return s, resp.StatusCode, err
}

// waitCount polls /retrieve until data_count is want, or fails at timeout.
// A count above want fails at once: it can only come from double counting.
func (c *cluster) waitCount(want int64, timeout time.Duration) summary {
	c.t.Helper()
	return c.waitCountOf("", "all devices", want, timeout)
}

// waitCountOf is waitCount for the summary of /retrieve with query (what
// names it).
func (c *cluster) waitCountOf(query, what string, want int64, timeout time.Duration) summary {
	c.t.Helper()
	var last summary
	defer func() { // also when WaitFor fails the test
		if last.DataCount != want {
			c.t.Logf("%s: last data_count %d, want %d", what, last.DataCount, want)
		}
	}()
	redistest.WaitFor(c.t, timeout, fmt.Sprintf("%s: data_count %d", what, want), func() bool {
		s, code, err := c.retrieve(query)
		if err != nil || code != 200 {
			return false
		}
		if s.DataCount > want {
			c.t.Fatalf("%s: data_count %d exceeds the %d points stored: counted twice", what, s.DataCount, want)
		}
		last = s
		return s.DataCount == want
	})
	return last
}

// upload posts body; it returns the status, or 0 and the error for a
// transport failure.
func upload(ctx context.Context, base string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/upload", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}
