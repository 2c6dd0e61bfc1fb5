package cluster

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/e2e/internal/procs"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redisconn/clustertest"
	"github.com/geostream/geostream/streamkit/redistest"
)

const appliedMetric = "geostream_processor_points_applied_total"

// Three processors share six partitions on a 3-master Redis Cluster, and
// simulator verify finds every answer exact: each device's and the global
// count, means, centroid, bbox and time range.
func TestClusterVerify(t *testing.T) {
	d := newClusterDeployment(t)
	d.logLayout("at start")
	for _, name := range []string{"p1", "p2", "p3"} {
		d.startProcessor(name)
	}
	t0 := time.Now()
	d.startVerify("fresh", "--fresh", "--devices", "60", "--count", "30000", "--batch", "100",
		"--concurrency", "8", "--seed", "7").wait(t, 80*time.Second)
	t.Logf("30000 points sent, counted and checked in %v", time.Since(t0).Round(time.Millisecond))
	for name, p := range d.processors {
		n := p.metric(t, appliedMetric)
		t.Logf("processor %s applied %.0f entries", name, n)
		if n == 0 {
			t.Errorf("processor %s applied nothing: the work is not shared", name)
		}
	}

	// The partition count is pinned in the cluster: a processor started
	// with another one refuses to start.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin.Processor, "--redis-url", d.cluster.URL(), "--partitions", "8",
		"--http-addr", procs.FreeAddr(t), "--consumer", "wrong")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "partitions is 6 in redis") {
		t.Errorf("processor with --partitions 8 on a 6-partition cluster: err = %v\n%s", err, procs.Tail(out, 2000))
	}
}

// Under load from two simulator verify runs (each with its own devices),
// one of three processors is killed with SIGKILL, holding entries it read
// but never applied, and is not restarted: the other two claim those
// entries (XAUTOCLAIM) and every answer stays exact.
func TestClusterProcessorKill(t *testing.T) {
	d := newClusterDeployment(t)
	for _, name := range []string{"p1", "p2", "p3"} {
		flags := claimFlags
		if name == "p2" {
			// The victim reads without lingering, so that it spends its time
			// blocked in XREADGROUP, where a freeze leaves entries delivered
			// to it and never applied. (With the default linger it is
			// mostly asleep between reads and holds nothing.)
			flags = append([]string{"--linger", "-1ns"}, claimFlags...)
		}
		d.startProcessor(name, flags...)
	}
	bg := d.startVerify("background", "--device-prefix", "bg-", "--devices", "30", "--count", "30000",
		"--batch", "100", "--rate", "3000", "--concurrency", "4", "--seed", "3")
	fg := d.startVerify("foreground", "--device-prefix", "fg-", "--devices", "30", "--count", "15000",
		"--batch", "50", "--rate", "1500", "--concurrency", "4", "--seed", "4")
	at := d.waitCountAtLeast(6000, 30*time.Second)
	rdb := d.cluster.Client()
	// p2 dies holding entries it read but never applied, which only a
	// claim by another processor can count.
	d.processors["p2"].KillHolding(func() bool { return d.pendingOf(rdb, "p2") > 0 }, 10*time.Second)
	pending := d.pendingOf(rdb, "p2")
	t.Logf("SIGKILL processor p2 at data_count %d; it died with %d entries pending under its name", at, pending)
	if pending == 0 {
		t.Error("p2 died without pending entries: the claim path is not exercised")
	}

	r1 := bg.wait(t, 75*time.Second)
	r2 := fg.wait(t, 30*time.Second)
	d.checkGlobal(r1, r2)
	// The dead consumer's pending entries were claimed by the others.
	redistest.WaitFor(t, 15*time.Second, "no entry pending under the dead consumer p2", func() bool { return d.pendingOf(rdb, "p2") == 0 })
	var claimed float64
	for _, name := range []string{"p1", "p3"} {
		claimed += d.processors[name].metric(t, "geostream_processor_entries_claimed_total")
	}
	t.Logf("survivors claimed %.0f entries", claimed)
	if claimed < float64(pending) {
		t.Errorf("p2 died with %d entries pending, the others claimed %.0f", pending, claimed)
	}
}

// Under load, redis-cli moves the slot of a partition (with its stream,
// consumer group and aggregates) from one master to a second and then to
// the third, while ingest appends to it and the processors read and apply
// it: clients meet MOVED, ASK and TRYAGAIN, and every answer stays exact.
func TestClusterReshard(t *testing.T) {
	d := newClusterDeployment(t)
	layout := d.logLayout("before resharding")
	for _, name := range []string{"p1", "p2", "p3"} {
		d.startProcessor(name, claimFlags...)
	}
	bg := d.startVerify("background", "--device-prefix", "bg-", "--devices", "60", "--count", "50000",
		"--batch", "100", "--rate", "2500", "--concurrency", "4", "--seed", "5")
	d.waitCountAtLeast(3000, 30*time.Second)

	// Move the partition that redis-cli reaches with the fewest slots: it
	// moves a master's lowest-numbered slots first.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	c := d.cluster
	best, moves := -1, 0
	for _, p := range layout {
		if n := slotsUpTo(t, c, p.node, p.slot); best < 0 || n < moves {
			best, moves = p.partition, n
		}
	}
	slot := layout[best].slot
	for step := 1; step <= 2; step++ {
		from, err := c.Owner(ctx, slot)
		if err != nil {
			t.Fatal(err)
		}
		to := c.Nodes[(indexOf(c, from)+1)%len(c.Nodes)]
		n := slotsUpTo(t, c, from, slot)
		before, _ := d.globalCount()
		t0 := time.Now()
		out, err := c.Reshard(ctx, from, to, n)
		if err != nil {
			t.Fatalf("%v\n%s", err, procs.Tail(out, 3000))
		}
		after, _ := d.globalCount()
		t.Logf("move %d: %d slots (partition %d, slot %d) %s → %s in %v, data_count %d → %d during the move",
			step, n, best, slot, from.Addr, to.Addr, time.Since(t0).Round(time.Millisecond), before, after)
		if owner, _ := c.Owner(ctx, slot); owner != to {
			t.Fatalf("slot %d is on %v after the move, want %s", slot, owner, to.Addr)
		}
	}
	d.logLayout("after resharding")
	// A second run on the new layout, while the first one finishes.
	fg := d.startVerify("after-moves", "--device-prefix", "fg-", "--devices", "30", "--count", "6000",
		"--batch", "50", "--concurrency", "4", "--seed", "6")
	r1 := bg.wait(t, 60*time.Second)
	r2 := fg.wait(t, 30*time.Second)
	d.checkGlobal(r1, r2)
	red := d.cluster.Redirects(context.Background())
	t.Logf("replies of the nodes: %v", red)
	if red["MOVED"]+red["ASK"] == 0 {
		t.Error("no MOVED or ASK reply: no client met the moves")
	}
}

// waitCountAtLeast polls /retrieve until data_count is at least n and
// returns it.
func (d *deployment) waitCountAtLeast(n int64, timeout time.Duration) int64 {
	d.t.Helper()
	var got int64
	redistest.WaitFor(d.t, timeout, fmt.Sprintf("data_count at least %d", n), func() bool {
		var err error
		got, err = d.globalCount()
		return err == nil && got >= n
	})
	return got
}

// checkGlobal checks the global count against the verify runs: exactly the
// acknowledged points, plus those of given-up requests that were stored.
func (d *deployment) checkGlobal(runs ...report) {
	d.t.Helper()
	var want int64
	for _, r := range runs {
		if r.Points.Lost > 0 {
			d.t.Logf("%d points lost (given up), %d of them stored: global count checked against those", r.Points.Lost, r.StoredUnacked)
		}
		want += r.Points.Acked + r.StoredUnacked
	}
	d.waitCount(want, 30*time.Second)
	d.t.Logf("global data_count = %d = the points the runs stored", want)
}

// pendingOf returns the entries pending under consumer in every partition.
func (d *deployment) pendingOf(rdb *redis.ClusterClient, consumer string) int64 {
	d.t.Helper()
	s := d.schema()
	var n int64
	for p := range s.Partitions() {
		cs, err := rdb.XInfoConsumers(context.Background(), s.Stream(p), keys.Group).Result()
		if err != nil {
			d.t.Fatalf("xinfo consumers %s: %v", s.Stream(p), err)
		}
		for _, c := range cs {
			if c.Name == consumer {
				n += c.Pending
			}
		}
	}
	return n
}

// slotsUpTo counts the slots of n up to slot: redis-cli --cluster reshard
// of that many slots from n moves slot.
func slotsUpTo(t *testing.T, c *clustertest.Cluster, n *clustertest.Node, slot int) int {
	t.Helper()
	ranges, err := c.Slots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, r := range ranges {
		if r.Node == n && r.Start <= slot {
			count += min(r.End, slot) - r.Start + 1
		}
	}
	return count
}

func indexOf(c *clustertest.Cluster, n *clustertest.Node) int {
	for i, m := range c.Nodes {
		if m == n {
			return i
		}
	}
	return -1
}
