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
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redistest"
)

// Guarantee 1 and 5: Redis is killed while clients upload. Every upload
// answers within the Redis timeout (503 while Redis is away), and after
// Redis restarts from its AOF (appendfsync always) every point of every 200
// is counted, exactly once; a point of a failed request is counted at most
// once. Each request uses its own device id so that each can be checked.
func TestRedisStoppedWhileUploading(t *testing.T) {
	c := newCluster(t)
	c.startProcessor("p1")

	type result struct {
		device string
		n      int
		code   int
		took   time.Duration
	}
	var (
		mu      sync.Mutex
		results []result
		seq     atomic.Int64
		stop    atomic.Bool
		down    atomic.Bool
		during  atomic.Int64 // requests answered while Redis was down
	)
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 3))
			for !stop.Load() {
				i := seq.Add(1)
				dev := fmt.Sprintf("req-%d", i)
				pts := randomWire(r, 1+r.IntN(20), func(int) string { return dev })
				body, _ := json.Marshal(pts)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				t0 := time.Now()
				code, err := upload(ctx, c.base, body)
				took := time.Since(t0)
				cancel()
				if err != nil {
					code = 0
				}
				if down.Load() {
					during.Add(1)
				}
				mu.Lock()
				results = append(results, result{dev, len(pts), code, took})
				mu.Unlock()
				time.Sleep(time.Millisecond) // pacing
			}
		}(w)
	}

	redistest.WaitFor(t, 20*time.Second, "200 requests sent", func() bool { return seq.Load() > 200 })
	down.Store(true)
	c.redis.Kill()
	redistest.WaitFor(t, 20*time.Second, "50 requests with Redis down", func() bool { return during.Load() > 50 })
	c.redis.Restart()
	down.Store(false)
	mark := seq.Load()
	redistest.WaitFor(t, 30*time.Second, "200 requests after the restart", func() bool { return seq.Load() > mark+200 })
	stop.Store(true)
	wg.Wait()

	// Every answer came within the Redis timeout (2 s) plus a margin; none hung.
	var acked, failed, points int
	for _, r := range results {
		if r.took > 4*time.Second {
			t.Errorf("request %s took %v", r.device, r.took)
		}
		switch r.code {
		case 200:
			acked++
			points += r.n
		case 503:
			failed++
		default:
			t.Errorf("request %s: status %d, want 200 or 503", r.device, r.code)
		}
	}
	if failed == 0 {
		t.Fatal("no request saw Redis down: the fault was not injected")
	}
	t.Logf("%d requests acknowledged (%d points), %d answered 503", acked, points, failed)

	rc := c.redis.Client()
	redistest.WaitFor(t, 60*time.Second, "the acknowledged points counted", func() bool {
		s := storedSums(t, rc, 4)
		return s.Count >= int64(points)
	})
	// Each request's device now holds exactly its points if it was
	// acknowledged, and all or none of them if it was not.
	s := mustSchema(t)
	redistest.WaitFor(t, 30*time.Second, "no entry pending", func() bool {
		for p := 0; p < s.Partitions(); p++ {
			n, err := rc.XPending(context.Background(), s.Stream(p), keys.Group).Result()
			if err != nil || n.Count != 0 {
				return false
			}
		}
		return true
	})
	pipe := rc.Pipeline()
	cmds := make([]interface{ Val() map[string]string }, len(results))
	for i, r := range results {
		cmds[i] = pipe.HGetAll(context.Background(), s.Device(s.PartitionOf(r.device), r.device))
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	stray := 0
	var sent, counted, lost, dup int64
	for i, r := range results {
		got, err := agg.FromHash(cmds[i].Val())
		if err != nil {
			t.Fatal(err)
		}
		sent += int64(r.n)
		counted += got.Count
		if r.code == 200 && got.Count < int64(r.n) {
			lost += int64(r.n) - got.Count
		}
		if got.Count > int64(r.n) {
			dup += got.Count - int64(r.n)
		}
		switch {
		case r.code == 200 && got.Count != int64(r.n):
			t.Errorf("acknowledged %s: counted %d of %d points", r.device, got.Count, r.n)
		case r.code != 200 && got.Count != 0 && got.Count != int64(r.n):
			t.Errorf("failed %s: counted %d of %d points (not all or nothing)", r.device, got.Count, r.n)
		case r.code != 200 && got.Count != 0:
			stray++
		}
	}
	t.Logf("%d failed requests were nevertheless stored (reply lost in the crash)", stray)
	f := figures{faults: 1, sent: sent, acked: int64(points), counted: counted, lost: lost, duplicated: dup}
	f.add("requests", len(results), "answered_503", failed, "stored_unacked_requests", stray)
	logFigures(t, f)
}

func mustSchema(t *testing.T) *keys.Schema {
	s, err := keys.New("", 4)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
