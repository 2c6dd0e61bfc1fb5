package cluster

import (
	"context"
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
	d := newDeployment(t, g.URL())
	d.startIngestWith(map[string]string{"GEOSTREAM_MIN_REPLICAS_ACKED": "1"})
	v := d.startFailoverLoad("sentinel", 13)
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
	d.endFailover(r, promotedAfter, 0)
}
