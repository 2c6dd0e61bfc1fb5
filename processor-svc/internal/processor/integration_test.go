package processor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/redistest"
)

// TestIntegrationExactlyOnce runs the pipeline on a real redis-server: a
// consumer dies holding entries, two processors share the group while
// points arrive, claim the dead consumer's entries, remove its name once it
// owns nothing and trim often. The consumer expiry is shorter than the claim
// min-idle, so the dead consumer is idle long enough to be removed while it
// still holds entries, which only delidle.lua's pending check prevents
// (without it they would never be counted); and the two processors remove
// each other's names whenever one is quiet for a moment, which must lose
// nothing. Every point is counted exactly once and the streams end up
// empty.
func TestIntegrationExactlyOnce(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	s := newSchema(t, 4)
	pts := genPoints(99, 4000, 64)

	appendPoints(t, c, s, pts[:1000])
	createGroups(t, c, s)
	held := readAs(t, c, s, "dead", 40)
	if held == 0 {
		t.Fatal("setup: the dead consumer holds nothing")
	}

	cfg := testConfig("a")
	cfg.BatchSize = 64
	cfg.ClaimInterval = 50 * time.Millisecond
	cfg.ClaimMinIdle = 300 * time.Millisecond
	cfg.TrimInterval = 20 * time.Millisecond
	cfg.TrimStep = 97
	cfg.ConsumerExpiry = 100 * time.Millisecond
	a := start(t, c, s, cfg)
	cfg.Consumer = "b"
	b := start(t, c, s, cfg)
	for i := 1000; i < len(pts); i += 100 {
		appendPoints(t, c, s, pts[i:i+100])
	}
	waitCount(t, c, s, int64(len(pts)))

	// Everything is acknowledged, so trimming empties every stream.
	deadline := time.Now().Add(testWait)
	for p := range s.Partitions() {
		for {
			n, err := c.XLen(context.Background(), s.Stream(p)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s still holds %d entries", s.Stream(p), n)
			}
			time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
		}
	}
	// The dead consumer's name goes once its entries are claimed.
	for p := range s.Partitions() {
		for slices.Contains(consumers(t, c, s.Stream(p)), "dead") {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the dead consumer is still in the group: %q", s.Stream(p), consumers(t, c, s.Stream(p)))
			}
			time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
		}
	}
	if err := a.stop(t); err != nil {
		t.Fatalf("Run a: %v", err)
	}
	if err := b.stop(t); err != nil {
		t.Fatalf("Run b: %v", err)
	}
	checkExact(t, c, s, pts)
	sa, sb := a.Stats(), b.Stats()
	if sa.ConsumersRemoved+sb.ConsumersRemoved < 1 {
		t.Errorf("removed %d + %d consumers, want at least the dead one", sa.ConsumersRemoved, sb.ConsumersRemoved)
	}
	if sa.Applied+sb.Applied != int64(len(pts)) {
		t.Errorf("applied %d + %d, want %d", sa.Applied, sb.Applied, len(pts))
	}
	if sa.Claimed+sb.Claimed < int64(held) {
		t.Errorf("claimed %d + %d, want at least the %d the dead consumer held", sa.Claimed, sb.Claimed, held)
	}
	if n := pendingOf(t, c, s, ""); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
}

// TestIntegrationRestart: on a real redis-server, a processor restarted
// under the same name counts what its previous run read but did not apply.
func TestIntegrationRestart(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client()
	s := newSchema(t, 2)
	pts := genPoints(5, 1500, 16)
	appendPoints(t, c, s, pts[:1000])
	createGroups(t, c, s)
	if readAs(t, c, s, "a", 300) == 0 {
		t.Fatal("setup: nothing delivered")
	}
	cfg := testConfig("a")
	cfg.BatchSize = 100
	r := start(t, c, s, cfg)
	appendPoints(t, c, s, pts[1000:])
	waitCount(t, c, s, int64(len(pts)))
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkExact(t, c, s, pts)
	if n := pendingOf(t, c, s, ""); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
}
