package processor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

// addEntries appends n points to stream with IDs from Redis's clock, or at
// the given Unix ms when at is not zero, and returns their IDs.
func addEntries(tb testing.TB, c redis.UniversalClient, stream string, n int, at int64) []string {
	tb.Helper()
	ids := make([]string, n)
	for i, pt := range genPoints(uint64(n), n, 3) {
		id := "*"
		if at != 0 {
			id = fmt.Sprintf("%d-%d", at, i+1)
		}
		var err error
		ids[i], err = c.XAdd(context.Background(), &redis.XAddArgs{
			Stream: stream, ID: id, Values: pt.AppendLegacyFields(nil),
		}).Result()
		if err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}

// deliver delivers the next n entries of stream to consumer "x".
func deliver(tb testing.TB, c redis.UniversalClient, stream string, n int) {
	tb.Helper()
	res, err := c.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: keys.Group, Consumer: "x", Streams: []string{stream, ">"}, Count: int64(n), Block: -1,
	}).Result()
	if err != nil || len(res[0].Messages) != n {
		tb.Fatalf("deliver %d: %v %v", n, res, err)
	}
}

func ack(tb testing.TB, c redis.UniversalClient, stream string, ids ...string) {
	tb.Helper()
	if len(ids) == 0 {
		return
	}
	if err := c.XAck(context.Background(), stream, keys.Group, ids...).Err(); err != nil {
		tb.Fatal(err)
	}
}

func streamIDs(tb testing.TB, c redis.UniversalClient, stream string) []string {
	tb.Helper()
	msgs, err := c.XRange(context.Background(), stream, "-", "+").Result()
	if err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	return ids
}

func newTrimmer(tb testing.TB, c redis.UniversalClient, s *keys.Schema, step int, retention time.Duration) *Processor {
	tb.Helper()
	cfg := testConfig("trimmer")
	cfg.TrimStep = step
	cfg.Retention = retention
	p, err := New(cfg, c, s, testLogger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.CreateGroups(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return p
}

// TestTrimKeepsUnacknowledged: trimming removes exactly the entries below
// the oldest one not acknowledged (pending or never delivered).
func TestTrimKeepsUnacknowledged(t *testing.T) {
	const n = 50
	for _, tc := range []struct {
		name      string
		delivered int
		acked     func(i int) bool // which of the delivered entries are acknowledged
		keepFrom  int              // index of the first entry that must remain
	}{
		{"nothing delivered", 0, nil, 0},
		{"delivered, nothing acknowledged", 30, func(int) bool { return false }, 0},
		{"all acknowledged", n, func(int) bool { return true }, n},
		{"acknowledged, rest not delivered", 30, func(int) bool { return true }, 30},
		{"hole of pending entries", 30, func(i int) bool { return i < 10 || i >= 20 }, 10},
		{"one pending near the end", n, func(i int) bool { return i != 45 }, 45},
		{"first pending", n, func(i int) bool { return i != 0 }, 0},
	} {
		for _, step := range []int{1, 7, 1000} {
			t.Run(fmt.Sprintf("%s/step %d", tc.name, step), func(t *testing.T) {
				_, c := newMiniredis(t)
				s := newSchema(t, 1)
				p := newTrimmer(t, c, s, step, 0)
				stream := s.Stream(0)
				ids := addEntries(t, c, stream, n, 0)
				if tc.delivered > 0 {
					deliver(t, c, stream, tc.delivered)
				}
				var acked, pending []string
				for i := range tc.delivered {
					if tc.acked(i) {
						acked = append(acked, ids[i])
					} else {
						pending = append(pending, ids[i])
					}
				}
				ack(t, c, stream, acked...)

				removed, err := p.trimPartition(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				if removed != int64(tc.keepFrom) {
					t.Errorf("removed %d, want %d", removed, tc.keepFrom)
				}
				got := streamIDs(t, c, stream)
				if fmt.Sprint(got) != fmt.Sprint(ids[tc.keepFrom:]) {
					t.Errorf("stream holds %d entries %v..., want the %d from %d", len(got), got[:min(len(got), 3)], n-tc.keepFrom, tc.keepFrom)
				}
				for _, id := range pending {
					if msgs, _ := c.XRange(context.Background(), stream, id, id).Result(); len(msgs) != 1 {
						t.Errorf("pending entry %s was trimmed", id)
					}
				}
				if p.Stats().Trimmed != removed {
					t.Errorf("stats trimmed %d, removed %d", p.Stats().Trimmed, removed)
				}
			})
		}
	}
}

// TestTrimStep: one XTRIM removes at most TrimStep entries.
func TestTrimStep(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 1)
	p := newTrimmer(t, c, s, 7, 0)
	stream := s.Stream(0)
	ids := addEntries(t, c, stream, 50, 0)
	deliver(t, c, stream, 50)
	ack(t, c, stream, ids...)
	target, err := p.trimTarget(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		removed int64
		done    bool
	}{{7, false}, {7, false}, {7, false}, {7, false}, {7, false}, {7, false}, {7, false}, {1, true}, {0, true}} {
		removed, done, err := p.trimStep(context.Background(), stream, target)
		if err != nil {
			t.Fatal(err)
		}
		if removed != want.removed || done != want.done {
			t.Fatalf("step %d: removed %d done %v, want %d %v", i, removed, done, want.removed, want.done)
		}
		if n, _ := c.XLen(context.Background(), stream).Result(); n != int64(max(0, 50-7*(i+1))) {
			t.Fatalf("step %d: %d entries left", i, n)
		}
	}
}

// TestTrimRetention: acknowledged entries younger than Retention stay.
func TestTrimRetention(t *testing.T) {
	for _, tc := range []struct {
		name      string
		retention time.Duration
		keep      int // of 10 entries 2 h old, 10 entries 30 min old, 10 now
	}{
		{"none", 0, 0},
		{"one hour", time.Hour, 20},
		{"three hours", 3 * time.Hour, 30},
		{"one minute", time.Minute, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := newMiniredis(t)
			s := newSchema(t, 1)
			p := newTrimmer(t, c, s, 1000, tc.retention)
			stream := s.Stream(0)
			now, err := c.Time(context.Background()).Result()
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, age := range []time.Duration{2 * time.Hour, 30 * time.Minute, 0} {
				ids = append(ids, addEntries(t, c, stream, 10, now.Add(-age).UnixMilli())...)
			}
			deliver(t, c, stream, 30)
			ack(t, c, stream, ids...)
			if _, err := p.trimPartition(context.Background(), 0); err != nil {
				t.Fatal(err)
			}
			if got := streamIDs(t, c, stream); fmt.Sprint(got) != fmt.Sprint(ids[30-tc.keep:]) {
				t.Errorf("kept %d entries, want the newest %d", len(got), tc.keep)
			}
		})
	}
}

// TestTrimWhileProcessing: with processors trimming often and a dead
// consumer holding entries, those entries are never trimmed, and every
// acknowledged entry below them is.
func TestTrimWhileProcessing(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 2)
	pts := genPoints(21, 600, 10)
	// Some entries are counted before the dead consumer takes the next ones,
	// so that there is something to trim below them.
	appendPoints(t, c, s, pts[:200])
	first := start(t, c, s, testConfig("first"))
	waitCount(t, c, s, 200)
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
	appendEach(t, c, s, pts[200:300])
	held := map[int][]string{}
	for p := range s.Partitions() {
		res, err := c.XReadGroup(context.Background(), &redis.XReadGroupArgs{
			Group: keys.Group, Consumer: "dead", Streams: []string{s.Stream(p), ">"}, Count: 10, Block: -1,
		}).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range res[0].Messages {
			held[p] = append(held[p], m.ID)
		}
	}
	heldCount := pendingOf(t, c, s, "dead")

	cfg := testConfig("a")
	cfg.TrimInterval = 5 * time.Millisecond
	cfg.TrimStep = 13
	a := start(t, c, s, cfg)
	cfg.Consumer = "b"
	b := start(t, c, s, cfg)
	for i := 300; i < len(pts); i += 50 {
		appendPoints(t, c, s, pts[i:i+50])
	}
	waitCount(t, c, s, int64(len(pts))-heldCount)

	// Everything but the dead consumer's entries is acknowledged: trimming
	// gets down to the oldest of them, and no further.
	deadline := time.Now().Add(testWait)
	for p := range s.Partitions() {
		for {
			ids := streamIDs(t, c, s.Stream(p))
			if len(ids) > 0 && ids[0] == held[p][0] {
				break
			}
			if len(ids) == 0 || mustParse(t, held[p][0]).less(mustParse(t, ids[0])) {
				t.Fatalf("partition %d: trimmed past the pending entry %s (first is %v)", p, held[p][0], ids[:min(1, len(ids))])
			}
			if time.Now().After(deadline) {
				t.Fatalf("partition %d: first entry %s, want the oldest pending %s", p, ids[0], held[p][0])
			}
			time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
		}
		for _, id := range held[p] {
			if msgs, _ := c.XRange(context.Background(), s.Stream(p), id, id).Result(); len(msgs) != 1 {
				t.Errorf("pending entry %s was trimmed", id)
			}
		}
	}
	if err := a.stop(t); err != nil {
		t.Fatal(err)
	}
	if err := b.stop(t); err != nil {
		t.Fatal(err)
	}
	if a.Stats().Trimmed+b.Stats().Trimmed == 0 {
		t.Error("nothing trimmed")
	}
	if got := pendingOf(t, c, s, "dead"); got != heldCount {
		t.Errorf("dead consumer holds %d, want %d", got, heldCount)
	}
}

func mustParse(tb testing.TB, id string) streamID {
	tb.Helper()
	v, err := parseStreamID(id)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// readCounter is a go-redis hook that counts the stream entries the
// commands of a client returned and records the commands' names.
type readCounter struct {
	mu      sync.Mutex
	entries int
	cmds    []string
}

// countedClient returns a second client of c's server that counts with h.
func countedClient(tb testing.TB, c *redis.Client) (*redis.Client, *readCounter) {
	tb.Helper()
	h := &readCounter{}
	cc := redis.NewClient(&redis.Options{Addr: c.Options().Addr})
	cc.AddHook(h)
	tb.Cleanup(func() { cc.Close() })
	return cc, h
}

func (h *readCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *readCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		h.record(cmd)
		return err
	}
}

func (h *readCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			h.record(cmd)
		}
		return err
	}
}

func (h *readCounter) record(cmd redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cmds = append(h.cmds, cmd.Name())
	switch c := cmd.(type) {
	case *redis.XMessageSliceCmd:
		h.entries += len(c.Val())
	case *redis.XStreamSliceCmd:
		for _, s := range c.Val() {
			h.entries += len(s.Messages)
		}
	case *redis.XAutoClaimCmd:
		msgs, _ := c.Val()
		h.entries += len(msgs)
	}
}

// reset returns the entries read and the commands sent since the last reset.
func (h *readCounter) reset() (entries int, cmds []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	entries, cmds = h.entries, h.cmds
	h.entries, h.cmds = 0, nil
	return entries, cmds
}

func countOf(cmds []string, name string) int {
	n := 0
	for _, c := range cmds {
		if strings.EqualFold(c, name) {
			n++
		}
	}
	return n
}

// TestTrimNothingToTrimReadsOneEntry: a trim pass that finds nothing below
// the target reads at most the oldest entry of the stream, and sends no
// XLEN or XTRIM, however long the stream is.
func TestTrimNothingToTrimReadsOneEntry(t *testing.T) {
	const n, step = 300, 50
	for _, tc := range []struct {
		name      string
		retention time.Duration
		delivered int
		acked     int // of the delivered entries, the oldest ones
	}{
		{"empty", 0, 0, 0},
		{"nothing delivered", 0, 0, 0},
		{"delivered, nothing acknowledged", 0, n, 0},
		{"acknowledged but younger than retention", time.Hour, n, n},
		{"already trimmed", 0, n, 120},
	} {
		t.Run(tc.name, func(t *testing.T) {
			backends.Each(t, func(t *testing.T, c *redis.Client) {
				cc, h := countedClient(t, c)
				s := newSchema(t, 1)
				p := newTrimmer(t, cc, s, step, tc.retention)
				stream := s.Stream(0)
				var ids []string
				if tc.name != "empty" {
					ids = addEntries(t, c, stream, n, 0)
				}
				if tc.delivered > 0 {
					deliver(t, c, stream, tc.delivered)
				}
				ack(t, c, stream, ids[:tc.acked]...)
				if tc.name == "already trimmed" {
					if removed, err := p.trimPartition(context.Background(), 0); err != nil || removed != int64(tc.acked) {
						t.Fatalf("first pass removed %d (%v), want %d", removed, err, tc.acked)
					}
					ids = ids[tc.acked:]
				}
				h.reset()

				removed, err := p.trimPartition(context.Background(), 0)
				if err != nil {
					t.Fatal(err)
				}
				entries, cmds := h.reset()
				if removed != 0 {
					t.Errorf("removed %d, want 0", removed)
				}
				if entries > 1 {
					t.Errorf("the pass read %d entries, want at most 1 (commands %v)", entries, cmds)
				}
				if countOf(cmds, "xtrim")+countOf(cmds, "xlen") != 0 || countOf(cmds, "xrange") > 1 {
					t.Errorf("the pass sent %v, want at most one XRANGE and no XLEN or XTRIM", cmds)
				}
				if got := streamIDs(t, c, stream); fmt.Sprint(got) != fmt.Sprint(ids) {
					t.Errorf("stream holds %d entries, want the %d there were", len(got), len(ids))
				}
			})
		})
	}
}

// TestTrimCutBelowTarget: for every target (an entry's ID, or an ID
// between two entries) and step size, the steps remove exactly the entries
// below the target, TrimStep at a time and the rest in the last step; the
// entry at or just above the target stays; and the entries read are those
// removed plus at most two a step (the oldest, and the one the cut keeps).
func TestTrimCutBelowTarget(t *testing.T) {
	const n = 24
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("%d-5", 1000+10*i) // gaps between entries
		}
		for _, step := range []int{1, 5, 7, 24, 100} {
			cc, h := countedClient(t, c)
			p := newTrimmer(t, cc, newSchema(t, 1), step, 0)
			for k := 0; k <= n; k++ { // the entries ids[:k] are below target
				var targets []streamID
				if k < n {
					at := mustParse(t, ids[k])
					targets = append(targets, at, streamID{at.ms, at.seq - 1}, streamID{at.ms, 0})
				}
				if k > 0 {
					before := mustParse(t, ids[k-1])
					targets = append(targets, before.next(), streamID{before.ms + 1, 0})
				}
				for _, target := range targets {
					name := fmt.Sprintf("step %d/target %s", step, target)
					stream := "trimcut:" + name
					pipe := c.Pipeline()
					for i, id := range ids {
						pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: id, Values: []any{"i", i}})
					}
					if _, err := pipe.Exec(ctx); err != nil {
						t.Fatal(err)
					}
					h.reset()

					var total int64
					calls, wantCalls := 0, max(1, (k+step-1)/step)
					for done := false; !done; {
						if calls++; calls > wantCalls {
							t.Fatalf("%s: not done after %d steps", name, wantCalls)
						}
						removed, d, err := p.trimStep(ctx, stream, target)
						if err != nil {
							t.Fatal(err)
						}
						done = d
						want := int64(min(step, k-int(total)))
						if removed != want {
							t.Fatalf("%s: step %d removed %d, want %d", name, calls, removed, want)
						}
						total += removed
					}
					entries, cmds := h.reset()
					if calls != wantCalls || total != int64(k) {
						t.Errorf("%s: %d steps removed %d, want %d steps removing %d", name, calls, total, wantCalls, k)
					}
					if entries > k+2*calls {
						t.Errorf("%s: read %d entries to remove %d in %d steps, want at most %d (commands %v)", name, entries, k, calls, k+2*calls, cmds)
					}
					if got := countOf(cmds, "xtrim"); got != (k+step-1)/step {
						t.Errorf("%s: %d XTRIM, want %d", name, got, (k+step-1)/step)
					}
					if got := streamIDs(t, c, stream); fmt.Sprint(got) != fmt.Sprint(ids[k:]) {
						t.Errorf("%s: stream holds %v, want %v", name, got, ids[k:])
					}
					if removed, done, err := p.trimStep(ctx, stream, target); removed != 0 || !done || err != nil {
						t.Errorf("%s: another step removed %d done %v (%v), want 0 true", name, removed, done, err)
					}
					if err := c.Del(ctx, stream).Err(); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	})
}
