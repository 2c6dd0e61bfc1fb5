package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/redistest"
)

// Guarantee 2 and 3: while 50,000 points are uploaded, the processor is
// killed with SIGKILL three times and restarted, the last time under another
// consumer name, so that the dead consumer's pending entries must be claimed
// (XAUTOCLAIM) by the new one. Every point is counted exactly once: the
// stored integer sums equal those of the points sent.
func TestExactlyOnceUnderProcessorCrashes(t *testing.T) {
	c := newCluster(t)
	// No linger, so that a freeze finds the processor in XREADGROUP and it
	// dies holding entries (procs.KillHolding).
	claim := []string{"--claim-interval", "300ms", "--claim-min-idle", "1s", "--batch-size", "200", "--linger", "-1ns"}
	rc := c.redis.Client()
	p := c.startProcessor("crashy", claim...)

	const n, per, clients = 50_000, 100, 4
	pts := randomWire(rand.New(rand.NewPCG(2, 2)), n, func(i int) string { return fmt.Sprintf("dev-%d", i%50) })
	var sent atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(per) - per
				if i >= n {
					return
				}
				body, _ := json.Marshal(pts[i : i+per])
				code, err := upload(context.Background(), c.base, body)
				if err != nil || code != 200 {
					errs <- fmt.Errorf("upload: %d %v", code, err)
					return
				}
				sent.Add(per)
				time.Sleep(2 * time.Millisecond) // pacing, so that kills land mid-stream
			}
		}()
	}

	// Kill at three points of the upload, each time while the processor
	// holds entries it has read and not applied.
	kills := 0
	var pendingAtKills int64 // entries crashy held when killed
	for _, at := range []int64{n / 5, n * 2 / 5, n * 3 / 5} {
		redistest.WaitFor(t, 2*time.Minute, fmt.Sprintf("%d points sent", at), func() bool {
			select {
			case err := <-errs:
				t.Fatal(err)
			default:
			}
			return sent.Load() >= at
		})
		held := p.KillHolding(func() bool { return consumerPending(t, rc, "crashy") > 0 }, 3*time.Second)
		kills++
		pendingAtKills += consumerPending(t, rc, "crashy")
		if kills == 3 && !held {
			t.Error("crashy died for the last time holding no entries: the claim by heir is not exercised")
		}
		if kills < 3 {
			p = c.startProcessor("crashy", claim...)
		} else {
			// "crashy" never comes back: "heir" must claim its pending entries.
			p = c.startProcessor("heir", claim...)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if kills != 3 {
		t.Fatalf("kills = %d", kills)
	}

	c.waitCount(n, 90*time.Second)
	var want agg.Sums
	for _, pt := range pts {
		want.AddPoint(pt.point(t))
	}
	got := storedSums(t, c.redis.Client(), 4)
	if got != want {
		t.Errorf("stored sums = %+v\nwant           %+v", got, want)
	}
	checkTracks(t, c.base, pts)
	f := figures{faults: kills, sent: n, acked: n, counted: got.Count}
	f.lost, f.duplicated = max(0, n-got.Count), max(0, got.Count-n)
	f.add("pending_at_kills", pendingAtKills)
	logFigures(t, f)
}
