package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/geostream/geostream/e2e/internal/binaries"
	"github.com/geostream/geostream/streamkit/redistest"
)

// bin holds the binaries built once by TestMain.
var bin struct {
	dir                          string
	ingest, processor, simulator string
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "geostream-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin.dir = dir
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	built, err := binaries.Build(root, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	bin.ingest, bin.processor, bin.simulator = built.Ingest, built.Processor, built.Simulator
	return m.Run()
}

// proc is a geostream binary running as a child process.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  string
	base string // HTTP base URL (API, or health and metrics), when it serves one
	done chan struct{}
	err  error
}

// start runs a binary with args and GEOSTREAM_* environment; its output goes
// to a log file that is printed if the test fails. The process is killed at
// cleanup if still running.
func start(t *testing.T, name, path string, env map[string]string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Env = append(os.Environ(), "GEOSTREAM_LOG_FORMAT=json", "GEOSTREAM_LOG_LEVEL=info")
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.signal(syscall.SIGKILL)
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			if len(b) > 8000 {
				b = b[len(b)-8000:]
			}
			t.Logf("--- %s log (tail) ---\n%s", name, b)
		}
	})
	return p
}

func (p *proc) signal(sig syscall.Signal) {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(sig)
	<-p.done
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill stops the process with SIGKILL, as a crash would.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

// stop stops the process with SIGTERM and waits; it fails the test when the
// process does not exit cleanly within the timeout.
func (p *proc) stop(timeout time.Duration) {
	p.t.Helper()
	p.terminate()
	p.waitExit(timeout)
}

// terminate sends SIGTERM (a graceful shutdown) without waiting.
func (p *proc) terminate() {
	if !p.exited() {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
}

// waitExit waits for the process to exit after terminate; it fails the
// test when it does not exit cleanly within the timeout.
func (p *proc) waitExit(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Errorf("%s exited with %v after SIGTERM", p.name, p.err)
		}
	case <-time.After(timeout):
		p.kill()
		p.t.Errorf("%s did not exit within %v of SIGTERM", p.name, timeout)
	}
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
	c.ingestAddr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	c.base = "http://" + c.ingestAddr
	c.startIngest()
	return c
}

// startIngest starts ingest-svc on the cluster's ingest address and waits
// until it is ready. After a crash or a shutdown it starts a new process on
// the same port, as an orchestrator would.
func (c *cluster) startIngest() {
	c.t.Helper()
	if c.ingest != nil && !c.ingest.exited() {
		c.t.Fatal("startIngest: ingest-svc is still running")
	}
	env := map[string]string{"GEOSTREAM_HTTP_ADDR": c.ingestAddr}
	for k, v := range c.env {
		env[k] = v
	}
	c.ingest = start(c.t, "ingest", bin.ingest, env, c.ingestArgs...)
	c.ingest.base = c.base
	waitHTTP(c.t, c.base+"/readyz", 200, 20*time.Second)
}

// startProcessor starts a processor-svc named consumer with extra flags and
// waits until it serves /healthz (on proc.base, with /metrics).
func (c *cluster) startProcessor(consumer string, args ...string) *proc {
	c.t.Helper()
	port := freePort(c.t)
	env := map[string]string{
		"GEOSTREAM_HTTP_ADDR": "127.0.0.1:" + strconv.Itoa(port),
		"GEOSTREAM_CONSUMER":  consumer,
	}
	for k, v := range c.env {
		env[k] = v
	}
	p := start(c.t, "processor-"+consumer, bin.processor, env, args...)
	p.base = "http://127.0.0.1:" + strconv.Itoa(port)
	waitHTTP(c.t, p.base+"/healthz", 200, 20*time.Second)
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	p, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitHTTP polls url until it answers status, or fails the test at timeout.
func waitHTTP(t *testing.T, url string, status int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	client := &http.Client{Timeout: 5 * time.Second}
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == status {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	t.Fatalf("%s did not answer %d within %v (last: %s)", url, status, timeout, last)
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
	deadline := time.Now().Add(timeout)
	var last summary
	for time.Now().Before(deadline) {
		s, code, err := c.retrieve("")
		if err == nil && code == 200 {
			if s.DataCount > want {
				c.t.Fatalf("data_count %d exceeds the %d points stored: counted twice", s.DataCount, want)
			}
			if s.DataCount == want {
				return s
			}
			last = s
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
	c.t.Fatalf("data_count is %d after %v, want %d", last.DataCount, timeout, want)
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
