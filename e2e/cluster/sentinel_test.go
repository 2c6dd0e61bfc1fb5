package cluster

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/redistest"
)

// A primary, one replica and three Sentinels; ingest-svc
// (--min-replicas-acked 1) and two processors reach them through a
// redis+sentinel:// URL. Under simulator verify load the primary is
// killed with SIGKILL, the sentinels promote the replica, the old primary
// is restarted (as an orchestrator would) and the sentinels make it the
// new primary's replica. The services carry on without a restart and the
// verifier is exact: nothing acknowledged lost, nothing counted twice.
func TestSentinelPrimaryKilled(t *testing.T) {
	g := redistest.StartSentinelGroup(t, 1, 3, time.Second)
	d := &deployment{t: t, processors: map[string]*procHTTP{}, env: map[string]string{
		"GEOSTREAM_REDIS_URL":  g.URL(),
		"GEOSTREAM_PARTITIONS": strconv.Itoa(partitions),
	}}
	d.startIngestWith(map[string]string{"GEOSTREAM_MIN_REPLICAS_ACKED": "1"})
	for _, name := range []string{"p1", "p2"} {
		d.startProcessor(name, claimFlags...)
	}
	v := d.startVerify("sentinel", "--fresh", "--devices", "60", "--count", "30000", "--batch", "50",
		"--rate", "2500", "--concurrency", "4", "--seed", "13")
	d.waitCountAtLeast(5000, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	old := g.Primary(ctx)
	if old == nil {
		t.Fatal("the sentinels name no primary")
	}
	t0 := time.Now()
	old.Kill()
	promoted, err := g.WaitPromoted(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	promotedAfter := time.Since(t0)
	t.Logf("SIGKILL primary %s; sentinels promoted %s %v later", old.Addr, promoted.Addr, promotedAfter.Round(time.Millisecond))
	old.Restart()
	r := v.wait(t, 100*time.Second)
	if d.ingest.Exited() {
		t.Error("ingest-svc exited")
	}
	for name, p := range d.processors {
		if p.Exited() {
			t.Errorf("processor %s exited", name)
		}
	}
	t.Logf("FIGURES test=%s faults=1 sent=30000 acked=%d lost=%d duplicated=0 retries=%d promoted_s=%.3f",
		t.Name(), r.Points.Acked, r.Points.Lost, r.Load.Retries, promotedAfter.Seconds())
}
