package processor

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/point"
)

// TestUndecodableEntry: an entry that is not a point is acknowledged
// without counting, and the partition goes on.
func TestUndecodableEntry(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 1)
	pts := genPoints(5, 40, 3)
	appendPoints(t, c, s, pts[:20])
	for _, fields := range [][]any{
		{"foo", "bar"},
		{point.FieldDevice, "x", point.FieldTime, "soon", point.FieldLat, "1", point.FieldLon, "2"},
	} {
		if err := c.XAdd(context.Background(), &redis.XAddArgs{Stream: s.Stream(0), Values: fields}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	appendPoints(t, c, s, pts[20:])
	r := start(t, c, s, testConfig("a"))
	waitCount(t, c, s, int64(len(pts)))
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkExact(t, c, s, pts)
	if st := r.Stats(); st.Undecodable != 2 {
		t.Errorf("undecodable %d, want 2", st.Undecodable)
	}
	if n := pendingOf(t, c, s, ""); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
}

// TestRecreatesDeletedGroup: a stream deleted under a running processor
// (FLUSHALL, an operator) gets its group back and new points are counted.
func TestRecreatesDeletedGroup(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 1)
	r := start(t, c, s, testConfig("a"))
	pts := genPoints(1, 10, 2)
	appendPoints(t, c, s, pts)
	waitCount(t, c, s, int64(len(pts)))
	if err := c.FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	// The points appended now create the stream without the group; the
	// processor's next read fails with NOGROUP, creates the group at ID 0
	// and counts them.
	appendPoints(t, c, s, pts)
	waitCount(t, c, s, int64(len(pts)))
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkExact(t, c, s, pts)
}

// lockedBuffer is a log destination shared by goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestApplyRefusedForCorruptKey: a key of the wrong type where an aggregate
// belongs makes apply.lua refuse the batch before its first XACK. Nothing is
// acknowledged, so nothing is lost: the processor retries, logging each
// failure, and once the key is repaired the batch is counted exactly.
func TestApplyRefusedForCorruptKey(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 1)
	pts := genPoints(2, 10, 1)
	ctx := context.Background()
	bad := s.Device(0, pts[0].DeviceID)
	if err := c.Set(ctx, bad, "not a hash", 0).Err(); err != nil {
		t.Fatal(err)
	}
	appendEach(t, c, s, pts)
	var logs lockedBuffer
	p, err := New(testConfig("a"), c, s, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	deadline := time.Now().Add(testWait)
	for !strings.Contains(logs.String(), "is not a hash") {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	if n := pendingOf(t, c, s, ""); n != int64(len(pts)) {
		t.Fatalf("%d entries pending while the key is corrupt, want all %d (none acknowledged)", n, len(pts))
	}
	if err := c.Del(ctx, bad).Err(); err != nil { // the operator repairs the key
		t.Fatal(err)
	}
	for pendingOf(t, c, s, "") != 0 {
		if time.Now().After(deadline.Add(testWait)) {
			t.Fatalf("batch not applied after the repair; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not synchronisation
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	checkExact(t, c, s, pts)
}
