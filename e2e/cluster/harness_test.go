package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/e2e/internal/binaries"
	"github.com/geostream/geostream/e2e/internal/procs"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redisconn/clustertest"
	"github.com/geostream/geostream/streamkit/redistest"
)

// partitions is the partition count of every deployment here: two per
// master of a 3-master cluster, and more than the 3 processors.
const partitions = 6

// bin holds the binaries built once by TestMain.
var bin binaries.Set

func TestMain(m *testing.M) { os.Exit(procs.Main(m, "../..", &bin)) }

// start runs a binary with args and GEOSTREAM_* environment (procs.Start).
func start(t *testing.T, name, path string, env map[string]string, args ...string) *procs.Proc {
	t.Helper()
	return procs.Start(t, name, path, procs.Options{Env: env}, args...)
}

// deployment is ingest-svc and processors on a Redis (a cluster, or one
// server for the benchmark's single shard).
type deployment struct {
	t          *testing.T
	cluster    *clustertest.Cluster // nil on a single server
	single     *redistest.Server    // nil on a cluster
	ingest     *procs.Proc
	base       string // ingest base URL
	env        map[string]string
	processors map[string]*procHTTP
}

// procHTTP is a processor and the base URL of its health/metrics server.
type procHTTP struct {
	*procs.Proc
	base string
}

// newDeployment is a deployment on the Redis at url, no service started.
func newDeployment(t *testing.T, url string) *deployment {
	return &deployment{t: t, processors: map[string]*procHTTP{}, env: map[string]string{
		"GEOSTREAM_REDIS_URL":  url,
		"GEOSTREAM_PARTITIONS": strconv.Itoa(partitions),
	}}
}

// newClusterDeployment starts a 3-master Redis Cluster and ingest-svc on it;
// ingest gets every node's URL, comma-separated.
func newClusterDeployment(t *testing.T) *deployment {
	t.Helper()
	c := clustertest.Start(t, 3)
	d := newDeployment(t, c.URL())
	d.cluster = c
	d.startIngest()
	return d
}

// newSingleDeployment starts one redis-server (AOF everysec, as the
// cluster's nodes) and ingest-svc on it.
func newSingleDeployment(t *testing.T) *deployment {
	t.Helper()
	r := redistest.Start(t, "--appendonly", "yes", "--appendfsync", "everysec")
	d := newDeployment(t, r.URL())
	d.single = r
	d.startIngest()
	return d
}

func (d *deployment) startIngest() { d.t.Helper(); d.startIngestWith(nil) }

// startIngestWith starts ingest-svc with extra environment.
func (d *deployment) startIngestWith(extra map[string]string) {
	d.t.Helper()
	addr := procs.FreeAddr(d.t)
	env := map[string]string{"GEOSTREAM_HTTP_ADDR": addr}
	for k, v := range d.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	d.ingest = start(d.t, "ingest", bin.Ingest, env)
	d.base = "http://" + addr
	procs.WaitHTTP(d.t, d.base+"/readyz", 200, 20*time.Second)
}

// claimFlags make a dead processor's pending entries move to the others
// within about a second.
var claimFlags = []string{"--claim-interval", "300ms", "--claim-min-idle", "1s"}

// startProcessor starts a processor-svc named consumer. On a cluster it is
// given one seed node and --redis-cluster (ingest gets the comma-separated
// form), so both ways of selecting Redis Cluster run.
func (d *deployment) startProcessor(consumer string, args ...string) *procHTTP {
	d.t.Helper()
	addr := procs.FreeAddr(d.t)
	env := map[string]string{"GEOSTREAM_HTTP_ADDR": addr, "GEOSTREAM_CONSUMER": consumer}
	for k, v := range d.env {
		env[k] = v
	}
	if d.cluster != nil {
		env["GEOSTREAM_REDIS_URL"] = "redis://" + d.cluster.Nodes[len(d.processors)%len(d.cluster.Nodes)].Addr
		args = append([]string{"--redis-cluster"}, args...)
	}
	p := &procHTTP{Proc: start(d.t, "processor-"+consumer, bin.Processor, env, args...), base: "http://" + addr}
	procs.WaitHTTP(d.t, p.base+"/readyz", 200, 20*time.Second)
	d.processors[consumer] = p
	return p
}

// schema is the deployment's key schema.
func (d *deployment) schema() *keys.Schema {
	s, err := keys.New(keys.DefaultPrefix, partitions)
	if err != nil {
		d.t.Fatal(err)
	}
	return s
}

// placement is where one partition's keys live.
type placement struct {
	partition int
	tag       string
	slot      int
	node      *clustertest.Node
}

// logLayout logs which master serves each partition (read from CLUSTER
// SLOTS) and returns the layout.
func (d *deployment) logLayout(when string) []placement {
	d.t.Helper()
	ranges, err := d.cluster.Slots(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "partition layout %s (%d partitions, %d masters):\n", when, partitions, len(d.cluster.Nodes))
	var out []placement
	perNode := map[*clustertest.Node][]int{}
	for p := range partitions {
		tag := keys.Tag(p, partitions)
		pl := placement{partition: p, tag: tag, slot: keys.Slot(tag)}
		for _, r := range ranges {
			if pl.slot >= r.Start && pl.slot <= r.End {
				pl.node = r.Node
			}
		}
		if pl.node == nil {
			d.t.Fatalf("partition %d: slot %d is served by no node", p, pl.slot)
		}
		out = append(out, pl)
		perNode[pl.node] = append(perNode[pl.node], p)
		fmt.Fprintf(&b, "  partition %d  tag %-8s  slot %5d  → %s\n", p, "{"+tag+"}", pl.slot, pl.node.Addr)
	}
	for _, n := range d.cluster.Nodes {
		fmt.Fprintf(&b, "  %s serves partitions %v\n", n.Addr, perNode[n])
	}
	d.t.Log(b.String())
	return out
}

// verifyRun is a `simulator verify` running as a process; its stdout is
// the JSON summary, its log (stderr) progress and the table of differences.
type verifyRun struct {
	*procs.Proc
	out bytes.Buffer
}

// report is the part of simulator verify's JSON summary the tests read.
type report struct {
	OK     bool `json:"ok"`
	Points struct {
		Acked int64 `json:"acked"`
		Lost  int64 `json:"lost"`
	} `json:"points"`
	StoredUnacked int64 `json:"stored_although_unacknowledged"`
	Load          struct {
		Retries int64            `json:"retries"`
		Errors  map[string]int64 `json:"errors_by_kind"`
	} `json:"load"`
}

// startVerify starts `simulator verify` against the deployment with
// --json; args add or override flags.
func (d *deployment) startVerify(name string, args ...string) *verifyRun {
	d.t.Helper()
	all := append([]string{"verify", "--target", d.base, "--json", "--log-format", "text",
		"--progress-interval", "2s", "--timeout", "60s"}, args...)
	v := &verifyRun{}
	v.Proc = procs.Start(d.t, "verify-"+name, bin.Simulator, procs.Options{Stdout: &v.out}, all...)
	return v
}

// wait waits for the verify run and fails the test unless it exited 0
// (every answer exact); it returns the run's summary.
func (v *verifyRun) wait(t *testing.T, timeout time.Duration) report {
	t.Helper()
	if !v.Wait(timeout) {
		t.Fatalf("%s still running after %v", v.Name, timeout)
	}
	var r report
	jerr := json.Unmarshal(v.out.Bytes(), &r)
	if v.Err() != nil || jerr != nil || !r.OK {
		t.Fatalf("%s: %v (ok=%v, %v)\n%s", v.Name, v.Err(), r.OK, jerr, procs.Tail(v.out.Bytes(), 4000))
	}
	t.Logf("%s: exit 0; acked %d points, lost %d, retries %d, errors %v",
		v.Name, r.Points.Acked, r.Points.Lost, r.Load.Retries, r.Load.Errors)
	return r
}

// result waits for the run and returns its report whatever its verdict
// (a test that measures a loss); it fails only when there is no report.
func (v *verifyRun) result(t *testing.T, timeout time.Duration) report {
	t.Helper()
	if !v.Wait(timeout) {
		t.Fatalf("%s still running after %v", v.Name, timeout)
	}
	var r report
	if err := json.Unmarshal(v.out.Bytes(), &r); err != nil {
		t.Fatalf("%s: no report (%v): %v\n%s", v.Name, v.Err(), err, procs.Tail(v.out.Bytes(), 4000))
	}
	t.Logf("%s: ok=%v; acked %d points, lost %d, stored unacknowledged %d, retries %d, errors %v",
		v.Name, r.OK, r.Points.Acked, r.Points.Lost, r.StoredUnacked, r.Load.Retries, r.Load.Errors)
	return r
}

// summary is the part of GET /retrieve the tests read.
type summary struct {
	DataCount int64  `json:"data_count"`
	Error     string `json:"error"`
}

// globalCount returns /retrieve's data_count (0 when there is no data yet).
func (d *deployment) globalCount() (int64, error) {
	resp, err := http.Get(d.base + "/retrieve")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var s summary
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return 0, err
	}
	if resp.StatusCode == 400 && s.Error == "No data available for processing" {
		return 0, nil
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("retrieve: %s %s", resp.Status, s.Error)
	}
	return s.DataCount, nil
}

// waitCount polls /retrieve until data_count reaches want or fails at
// timeout; more than want fails at once (counted twice).
func (d *deployment) waitCount(want int64, timeout time.Duration) {
	d.t.Helper()
	var last int64
	defer func() { // also when WaitFor fails the test
		if last != want {
			d.t.Logf("last data_count %d, want %d", last, want)
		}
	}()
	redistest.WaitFor(d.t, timeout, fmt.Sprintf("data_count %d", want), func() bool {
		n, err := d.globalCount()
		if err != nil {
			return false
		}
		if n > want {
			d.t.Fatalf("data_count %d exceeds the %d points acknowledged: counted twice", n, want)
		}
		last = n
		return n == want
	})
}

// metric returns the value of a counter on a processor's /metrics.
func (p *procHTTP) metric(t *testing.T, name string) float64 {
	t.Helper()
	resp, err := http.Get(p.base + "/metrics")
	if err != nil {
		t.Fatalf("%s metrics: %v", p.Name, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}
