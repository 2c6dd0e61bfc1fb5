package processor

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/scripts"
)

func TestCountsExactly(t *testing.T) {
	for i, tc := range []struct {
		name                string
		partitions, devices int
		before, during      int // points appended before the start and while running
		batchSize           int
		maxCallKeys         int // 0: the default
	}{
		{"one partition", 1, 3, 200, 200, 50, 0},
		{"four partitions", 4, 20, 500, 500, 50, 0},
		{"batch of one", 2, 5, 30, 30, 1, 0},
		{"one big batch", 3, 10, 800, 0, 1000, 0},
		{"only while running", 4, 8, 0, 300, 64, 0},
		{"calls of at most 5 keys", 2, 30, 300, 300, 500, 5},
		{"one call per read", 2, 30, 300, 300, 500, -1},
	} {
		tracks := i%2 == 0 // every other case keeps tracks; the others, none
		t.Run(tc.name, func(t *testing.T) {
			_, c := newMiniredis(t)
			s := newSchema(t, tc.partitions)
			pts := genPoints(uint64(tc.before+tc.during), tc.before+tc.during, tc.devices)
			// Appended before any processor (and group) exists: the group
			// starts at ID 0, so these count too.
			appendPoints(t, c, s, pts[:tc.before])
			cfg := testConfig("a")
			cfg.BatchSize = tc.batchSize
			cfg.MaxCallKeys = tc.maxCallKeys
			if tracks {
				cfg.TrackRetention = 10 * 365 * 24 * time.Hour // the points are of 2024
			}
			r := start(t, c, s, cfg)
			for i := tc.before; i < len(pts); i += 37 {
				appendPoints(t, c, s, pts[i:min(i+37, len(pts))])
			}
			waitCount(t, c, s, int64(len(pts)))
			if err := r.stop(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkExact(t, c, s, pts)
			if tracks {
				checkTracks(t, c, s, pts)
			} else if ks, _ := c.Keys(context.Background(), "*:trk:*").Result(); len(ks) != 0 {
				t.Errorf("--track-retention 0 wrote %d track lists", len(ks))
			}
			if st := r.Stats(); st.Applied != int64(len(pts)) || st.Duplicates != 0 {
				t.Errorf("stats %+v, want %d applied and no duplicates", st, len(pts))
			}
			if n := pendingOf(t, c, s, ""); n != 0 {
				t.Errorf("%d entries still pending", n)
			}
		})
	}
}

// A read of at most an eighth of the batch size is cut into calls of at
// most MaxCallKeys aggregate keys, all of a device's entries in one call
// (each proved pending on its own: no call falls back to the entry-by-entry
// path); a larger read goes in one call.
func TestCallKeyBound(t *testing.T) {
	for _, tc := range []struct {
		name             string
		batchSize, bound int
		minCalls         int64
		maxCalls         int64
	}{
		// 200 points of 20 devices in 2024, an entry per device: the total,
		// a partition day and one hash per device (the other buckets have
		// expired): 22 keys, so 3 calls of the 2 partition keys and at most
		// 8 devices.
		{"short read, bounded", 1600, 10, 3, 3},
		{"read over an eighth of a batch, one call", 100, 10, 1, 1},
		{"full read, one call", 20, 10, 1, 1},
		{"short read, no bound", 1600, -1, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newMiniredis(t)
			keysHook := &maxKeysHook{}
			c.AddHook(keysHook)
			s := newSchema(t, 1)
			pts := genPoints(7, 200, 20)
			byDevice := map[string][]point.Point{}
			for _, p := range pts {
				byDevice[p.DeviceID] = append(byDevice[p.DeviceID], p)
			}
			for _, dp := range byDevice { // an entry per device
				appendPoints(t, c, s, dp)
			}
			cfg := testConfig("a")
			cfg.BatchSize, cfg.MaxCallKeys = tc.batchSize, tc.bound
			r := start(t, c, s, cfg)
			waitCount(t, c, s, int64(len(pts)))
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			checkExact(t, c, s, pts)
			if n := r.calls.Load(); n < tc.minCalls || n > tc.maxCalls {
				t.Errorf("%d calls, want %d..%d", n, tc.minCalls, tc.maxCalls)
			}
			if got := keysHook.max.Load() - 4; tc.bound > 0 && tc.minCalls > 1 && got > int64(tc.bound) { // minus the stream, the device and geo indexes and the backlog counter
				t.Errorf("a call carried %d aggregate keys, bound %d", got, tc.bound)
			}
			if st := r.Stats(); st.Applied != int64(len(pts)) || st.Duplicates != 0 {
				t.Errorf("stats %+v: every call should take the fast path", st)
			}
		})
	}
}

// maxKeysHook records the most keys of a script call.
type maxKeysHook struct{ max atomic.Int64 }

func (h *maxKeysHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *maxKeysHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *maxKeysHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); name == "evalsha" || name == "eval" {
			if nk, ok := cmd.Args()[2].(int); ok && int64(nk) > h.max.Load() {
				h.max.Store(int64(nk))
			}
		}
		return next(ctx, cmd)
	}
}

// TestRestartReadsOwnPending: a processor named "a" read entries and died
// before applying them; the next process named "a" counts them, once.
func TestRestartReadsOwnPending(t *testing.T) {
	for _, tc := range []struct {
		name      string
		read      int64 // entries per partition delivered to the dead "a"
		batchSize int
	}{
		{"a few", 5, 50},
		{"more than a batch", 120, 50},
		{"batch of one", 7, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newMiniredis(t)
			s := newSchema(t, 3)
			pts := genPoints(7, 600, 12)
			appendPoints(t, c, s, pts[:400])
			createGroups(t, c, s)
			delivered := readAs(t, c, s, "a", tc.read)
			if got := pendingOf(t, c, s, "a"); got != int64(delivered) || delivered == 0 {
				t.Fatalf("setup: %d pending for a, delivered %d", got, delivered)
			}
			cfg := testConfig("a")
			cfg.BatchSize = tc.batchSize
			r := start(t, c, s, cfg)
			appendPoints(t, c, s, pts[400:])
			waitCount(t, c, s, int64(len(pts)))
			if err := r.stop(t); err != nil {
				t.Fatalf("Run: %v", err)
			}
			checkExact(t, c, s, pts)
			if n := pendingOf(t, c, s, ""); n != 0 {
				t.Errorf("%d entries still pending", n)
			}
		})
	}
}

// TestClaimFromDeadConsumer: "a" read entries and died; "b" claims them
// after ClaimMinIdle and counts them once, and a late apply by "a" (alive
// after all, just slow) counts nothing.
func TestClaimFromDeadConsumer(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 2)
	pts := genPoints(11, 300, 6)
	appendEach(t, c, s, pts)
	createGroups(t, c, s)

	// What "a" read, kept to replay its late apply.
	stale := map[int][]redis.XMessage{}
	for p := range s.Partitions() {
		res, err := c.XReadGroup(context.Background(), &redis.XReadGroupArgs{
			Group: keys.Group, Consumer: "a", Streams: []string{s.Stream(p), ">"}, Count: 40, Block: -1,
		}).Result()
		if err != nil {
			t.Fatal(err)
		}
		stale[p] = res[0].Messages
	}
	delivered := pendingOf(t, c, s, "a")

	cfg := testConfig("b")
	cfg.ClaimInterval = 20 * time.Millisecond
	cfg.ClaimMinIdle = 100 * time.Millisecond
	r := start(t, c, s, cfg)
	waitCount(t, c, s, int64(len(pts)))
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkExact(t, c, s, pts)
	if n := pendingOf(t, c, s, ""); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
	if st := r.Stats(); st.Claimed != delivered {
		t.Errorf("claimed %d, want the %d entries a held", st.Claimed, delivered)
	}

	for p, msgs := range stale {
		b := scripts.NewApplyBatch(s, p)
		for _, m := range msgs {
			pt := decodeAll(t, []redis.XMessage{m})[0]
			dev := s.Device(p, pt.DeviceID)
			if err := b.AddEntry(m.ID, true); err != nil {
				t.Fatal(err)
			}
			if err := b.AddPoint(pt, dev, []scripts.AggKey{{Key: s.Total(p)}, {Key: dev}}); err != nil {
				t.Fatal(err)
			}
		}
		res, err := b.Run(context.Background(), c, keys.Group)
		if err != nil {
			t.Fatal(err)
		}
		if res.Applied != 0 || res.Duplicates != int64(len(msgs)) {
			t.Errorf("late apply by a: %+v, want 0 applied and %d duplicates", res, len(msgs))
		}
	}
	checkExact(t, c, s, pts)
}

// TestTwoProcessors: two processors share the group while points arrive.
func TestTwoProcessors(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 4)
	pts := genPoints(3, 2000, 40)
	cfg := testConfig("a")
	cfg.BatchSize = 25
	a := start(t, c, s, cfg)
	cfg.Consumer = "b"
	b := start(t, c, s, cfg)
	for i := 0; i < len(pts); i += 100 {
		appendPoints(t, c, s, pts[i:i+100])
	}
	waitCount(t, c, s, int64(len(pts)))
	if err := a.stop(t); err != nil {
		t.Fatalf("Run a: %v", err)
	}
	if err := b.stop(t); err != nil {
		t.Fatalf("Run b: %v", err)
	}
	checkExact(t, c, s, pts)
	sa, sb := a.Stats(), b.Stats()
	if sa.Applied+sb.Applied != int64(len(pts)) {
		t.Errorf("applied %d + %d, want %d", sa.Applied, sb.Applied, len(pts))
	}
	if n := pendingOf(t, c, s, ""); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
}

// TestGracefulShutdown: cancelled while points flow, Run returns nil and
// every entry delivered to the group was applied and acknowledged.
func TestGracefulShutdown(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 3)
	pts := genPoints(9, 3000, 30)
	cfg := testConfig("a")
	cfg.BatchSize = 20
	r := start(t, c, s, cfg)

	stopFeed := make(chan struct{})
	type fedResult struct {
		n   int
		err error
	}
	fed := make(chan fedResult)
	go func() {
		n := 0
		for n < len(pts) {
			select {
			case <-stopFeed:
				fed <- fedResult{n, nil}
				return
			default:
			}
			if err := tryAppend(c, s, pts[n:n+10]); err != nil {
				fed <- fedResult{n, err}
				return
			}
			n += 10
		}
		fed <- fedResult{n, nil}
	}()
	// Let some points through, then shut down while they still flow.
	deadline := time.Now().Add(testWait)
	for total(t, c, s).Count < 300 {
		if time.Now().After(deadline) {
			t.Fatal("nothing counted")
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("Run after cancel: %v, want nil", err)
	}
	close(stopFeed)
	res := <-fed
	if res.err != nil {
		t.Fatal(res.err)
	}
	n := res.n

	if p := pendingOf(t, c, s, "a"); p != 0 {
		t.Errorf("%d entries read but not acknowledged after shutdown", p)
	}
	// Everything up to each partition's last-delivered-id was counted:
	// the aggregates hold exactly the delivered entries.
	var delivered []point.Point
	for p := range s.Partitions() {
		last := lastDelivered(t, c, s.Stream(p))
		msgs, err := c.XRange(context.Background(), s.Stream(p), "-", last).Result()
		if err != nil {
			t.Fatal(err)
		}
		delivered = append(delivered, decodeAll(t, msgs)...)
	}
	if len(delivered) == 0 || len(delivered) > n {
		t.Fatalf("%d delivered of %d appended", len(delivered), n)
	}
	checkExact(t, c, s, delivered)
	if st := r.Stats(); st.Applied != int64(len(delivered)) {
		t.Errorf("applied %d, delivered %d", st.Applied, len(delivered))
	}
}

func lastDelivered(tb testing.TB, c redis.UniversalClient, stream string) string {
	tb.Helper()
	groups, err := c.XInfoGroups(context.Background(), stream).Result()
	if err != nil {
		tb.Fatal(err)
	}
	for _, g := range groups {
		if g.Name == keys.Group {
			return g.LastDeliveredID
		}
	}
	tb.Fatalf("%s has no group %s", stream, keys.Group)
	return ""
}
