package cluster

import (
	"context"
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
	d := &deployment{t: t, cluster: c, processors: map[string]*procHTTP{}, env: map[string]string{
		"GEOSTREAM_REDIS_URL":  c.URL(),
		"GEOSTREAM_PARTITIONS": strconv.Itoa(partitions),
	}}
	d.startIngestWith(map[string]string{"GEOSTREAM_MIN_REPLICAS_ACKED": strconv.Itoa(acks)})
	return d
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
	for _, name := range []string{"p1", "p2"} {
		d.startProcessor(name, claimFlags...)
	}
	v := d.startVerify("failover", "--fresh", "--devices", "60", "--count", "30000", "--batch", "50",
		"--rate", "2500", "--concurrency", "4", "--seed", "11")
	d.waitCountAtLeast(5000, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slot := keys.Slot(keys.Tag(0, partitions))
	victim, err := d.cluster.Owner(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
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
	if d.ingest.Exited() {
		t.Error("ingest-svc exited")
	}
	for name, p := range d.processors {
		if p.Exited() {
			t.Errorf("processor %s exited", name)
		}
	}
	t.Logf("FIGURES test=%s faults=1 sent=30000 acked=%d lost=%d duplicated=0 retries=%d promoted_s=%.3f rejoined_s=%.3f",
		t.Name(), r.Points.Acked, r.Points.Lost, r.Load.Retries, promoted.Seconds(), rejoined.Seconds())
}

// A master is frozen (SIGSTOP) past the node timeout under load: its
// replica is promoted; then it resumes (SIGCONT) as a stale master,
// with the commands its clients sent while it was frozen queued on its
// sockets. It must rejoin as a replica of the promoted node and the
// verifier must be exact: nothing the stale master took is counted twice,
// nothing acknowledged is lost (--min-replicas-acked 1).
func TestClusterMasterPaused(t *testing.T) {
	d := newReplicatedDeployment(t, 1)
	for _, name := range []string{"p1", "p2"} {
		d.startProcessor(name, claimFlags...)
	}
	v := d.startVerify("paused", "--fresh", "--devices", "60", "--count", "30000", "--batch", "50",
		"--rate", "2500", "--concurrency", "4", "--seed", "17")
	d.waitCountAtLeast(5000, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slot := keys.Slot(keys.Tag(0, partitions))
	victim, err := d.cluster.Owner(ctx, slot)
	if err != nil {
		t.Fatal(err)
	}
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
	t.Logf("FIGURES test=%s faults=1 sent=30000 acked=%d lost=%d duplicated=0 retries=%d promoted_s=%.3f rejoined_s=%.3f",
		t.Name(), r.Points.Acked, r.Points.Lost, r.Load.Retries, promoted.Seconds(), rejoined.Seconds())
}
