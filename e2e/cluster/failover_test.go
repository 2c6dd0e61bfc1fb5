package cluster

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redisconn/clustertest"
	"github.com/geostream/geostream/streamkit/redistest"
)

// newReplicatedDeployment starts a Redis Cluster of 3 masters, each with
// one replica (node timeout 1 s), and ingest-svc on it with
// --min-replicas-acked acks.
func newReplicatedDeployment(t *testing.T, acks int) *deployment {
	t.Helper()
	c := clustertest.StartWithReplicas(t, 3, 1, "--cluster-node-timeout", "1000")
	d := newDeployment(t, c.URL())
	d.cluster = c
	d.startIngestWith(map[string]string{"GEOSTREAM_MIN_REPLICAS_ACKED": strconv.Itoa(acks)})
	return d
}

// owner returns the master that serves slot.
func (d *deployment) owner(ctx context.Context, slot int) *clustertest.Node {
	d.t.Helper()
	n, err := d.cluster.Owner(ctx, slot)
	if err != nil {
		d.t.Fatal(err)
	}
	return n
}

// failoverPoints is how many points the verifier of a failover test sends.
const failoverPoints = 30000

// startFailoverLoad starts two processors and simulator verify (run name,
// seed) on d and returns once 5000 points are counted: the load under
// which a failover test kills or freezes a node.
func (d *deployment) startFailoverLoad(name string, seed int) *verifyRun {
	d.t.Helper()
	for _, p := range []string{"p1", "p2"} {
		d.startProcessor(p, claimFlags...)
	}
	v := d.startVerify(name, "--fresh", "--devices", "60", "--count", strconv.Itoa(failoverPoints), "--batch", "50",
		"--rate", "2500", "--concurrency", "4", "--seed", strconv.Itoa(seed))
	d.waitCountAtLeast(5000, 30*time.Second)
	return v
}

// endFailover checks that every service rode the failover out (none
// exited) and logs the FIGURES line of r, the node promoted after promoted
// and (when not 0) the old one back as a replica after rejoined.
func (d *deployment) endFailover(r report, promoted, rejoined time.Duration) {
	d.t.Helper()
	if d.ingest.Exited() {
		d.t.Error("ingest-svc exited")
	}
	for name, p := range d.processors {
		if p.Exited() {
			d.t.Errorf("processor %s exited", name)
		}
	}
	rejoinedFig := ""
	if rejoined > 0 {
		rejoinedFig = fmt.Sprintf(" rejoined_s=%.3f", rejoined.Seconds())
	}
	d.t.Logf("FIGURES test=%s faults=1 sent=%d acked=%d lost=%d duplicated=0 retries=%d promoted_s=%.3f%s",
		d.t.Name(), failoverPoints, r.Points.Acked, r.Points.Lost, r.Load.Retries, promoted.Seconds(), rejoinedFig)
}

// Under simulator verify load with two processors, the master of
// partition 0 is killed with SIGKILL; the cluster promotes its replica and
// the services carry on without a restart. With --min-replicas-acked 1
// the verifier must be exact: nothing acknowledged lost, nothing counted
// twice. With 0 the loss is measured (the verifier then reports the
// acknowledged points the promoted replica never received; it may be 0).
func TestClusterMasterKilled(t *testing.T) {
	for _, acks := range []int{1, 0} {
		t.Run("min-replicas-acked="+strconv.Itoa(acks), func(t *testing.T) { masterKilled(t, acks) })
	}
}

func masterKilled(t *testing.T, acks int) {
	d := newReplicatedDeployment(t, acks)
	v := d.startFailoverLoad("failover", 11)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slot := keys.Slot(keys.Tag(0, partitions))
	victim := d.owner(ctx, slot)
	t0 := time.Now()
	victim.Kill()
	owner, err := d.cluster.WaitFailover(ctx, victim, slot)
	if err != nil {
		t.Fatal(err)
	}
	promoted := time.Since(t0)
	t.Logf("SIGKILL master %s; %s serves slot %d %v later", victim.Addr, owner.Addr, slot, promoted.Round(time.Millisecond))
	// The promoted replica has no replica of its own, so uploads to it
	// answer 503 until the old master is back (as an orchestrator would
	// restart it) and follows it as its replica.
	d.cluster.Restart(victim)
	if err := d.cluster.WaitReplicasUp(ctx); err != nil {
		t.Fatal(err)
	}
	if role, err := victim.Role(ctx); err != nil || role != "slave" {
		t.Fatalf("restarted %s: role %q, %v; want a replica", victim.Addr, role, err)
	}
	rejoined := time.Since(t0)
	t.Logf("%s rejoined as a replica %v after the kill", victim.Addr, rejoined.Round(time.Millisecond))
	var r report
	if acks > 0 {
		r = v.wait(t, 100*time.Second)
	} else {
		r = v.result(t, 100*time.Second)
		if !r.OK && r.Points.Lost == 0 {
			t.Error("the verifier failed without a lost point: something was counted twice or wrongly")
		}
	}
	d.endFailover(r, promoted, rejoined)
}

// A master is frozen (SIGSTOP) past the node timeout under load: its
// replica is promoted; then it resumes (SIGCONT) as a stale master,
// with the commands its clients sent while it was frozen queued on its
// sockets. It must rejoin as a replica of the promoted node and the
// verifier must be exact: nothing the stale master took is counted twice,
// nothing acknowledged is lost (--min-replicas-acked 1).
func TestClusterMasterPaused(t *testing.T) {
	d := newReplicatedDeployment(t, 1)
	v := d.startFailoverLoad("paused", 17)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slot := keys.Slot(keys.Tag(0, partitions))
	victim := d.owner(ctx, slot)
	t0 := time.Now()
	victim.Stop()
	resumed := false
	defer func() {
		if !resumed {
			victim.Cont()
		}
	}()
	owner, err := d.cluster.WaitFailover(ctx, victim, slot)
	if err != nil {
		t.Fatal(err)
	}
	promoted := time.Since(t0)
	victim.Cont()
	resumed = true
	t.Logf("SIGSTOP master %s; %s serves slot %d %v later; SIGCONT", victim.Addr, owner.Addr, slot, promoted.Round(time.Millisecond))
	dl, _ := ctx.Deadline()
	redistest.WaitFor(t, time.Until(dl), "the resumed "+victim.Addr+" to become a replica", func() bool {
		role, err := victim.Role(ctx)
		return err == nil && role == "slave"
	})
	if err := d.cluster.WaitReplicasUp(ctx); err != nil {
		t.Fatal(err)
	}
	rejoined := time.Since(t0)
	r := v.wait(t, 100*time.Second)
	d.endFailover(r, promoted, rejoined)
}
