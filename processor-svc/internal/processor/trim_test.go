package processor

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
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
			Stream: stream, ID: id, Values: pt.AppendFields(nil),
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
	appendPoints(t, c, s, pts[200:300])
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
