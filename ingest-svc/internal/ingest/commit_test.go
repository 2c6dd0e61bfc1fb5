package ingest

import (
	"context"
	"crypto/sha1"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/scripts"
)

// scriptHook counts the script calls a client sends and can hold them
// until released.
type scriptHook struct {
	calls    atomic.Int64
	requests atomic.Int64  // the requests the calls carried (append.lua's ARGV[3])
	trips    atomic.Int64  // round trips holding script calls
	gate     chan struct{} // when non-nil, each such round trip waits for a receive
}

func (h *scriptHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *scriptHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.see([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}
func (h *scriptHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.see(cmds)
		return next(ctx, cmds)
	}
}

// see counts the script calls of one round trip and holds it at the gate.
func (h *scriptHook) see(cmds []redis.Cmder) {
	scripts := false
	for _, cmd := range cmds {
		if scriptName(cmd) == "append" {
			scripts = true
			h.calls.Add(1)
			args := cmd.Args() // evalsha sha numkeys keys... limit group R ...
			if nk, ok := args[2].(int); ok && len(args) > 5+nk {
				r, _ := strconv.Atoi(fmt.Sprint(args[5+nk]))
				h.requests.Add(int64(r))
			}
		}
	}
	if scripts {
		h.trips.Add(1)
		if h.gate != nil {
			<-h.gate
		}
	}
}

// loadScripts loads the scripts ingest calls, as ingest-svc does at start.
func loadScripts(t *testing.T, rdb *redis.Client) {
	t.Helper()
	for _, s := range []*redis.Script{scripts.Append, scripts.CheckKey} {
		if err := s.Load(context.Background(), rdb).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// scriptName names the script cmd calls by EVALSHA or EVAL: "append",
// "checkkey", "other", or "" for another command.
func scriptName(cmd redis.Cmder) string {
	args := cmd.Args()
	var sha string
	switch cmd.Name() {
	case "evalsha":
		sha = fmt.Sprint(args[1])
	case "eval":
		sha = fmt.Sprintf("%x", sha1.Sum([]byte(fmt.Sprint(args[1]))))
	default:
		return ""
	}
	switch sha {
	case scripts.Append.Hash():
		return "append"
	case scripts.CheckKey.Hash():
		return "checkkey"
	}
	return "other"
}

func newHookedEnv(t *testing.T, hook *scriptHook, tune ...func(*RouterConfig)) *env {
	t.Helper()
	return newEnvWith(t, func(rdb *redis.Client) {
		// Loaded first, so that each call is one EVALSHA (no NOSCRIPT, then EVAL).
		loadScripts(t, rdb)
		rdb.AddHook(hook)
	}, tune...)
}

// Concurrent single-point uploads to one partition share script calls, and
// each request is still answered for its own point, every point stored once.
func TestGroupCommitCoalesces(t *testing.T) {
	hook := &scriptHook{gate: make(chan struct{})}
	e := newHookedEnv(t, hook)
	dev := e.deviceIn(2)
	const n = 40
	var wg sync.WaitGroup
	codes := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			rec := e.upload(fmt.Sprintf(`{"latitude":%d,"longitude":2,"device_id":%q}`, i%90, dev))
			codes <- fmt.Sprint(rec.Code, " ", rec.Body.String())
		})
	}
	// The first call is held until every request is in it or queued behind it.
	redistest.WaitFor(t, 5*time.Second, "the first call and the rest queued", func() bool { return hook.calls.Load() == 1 && hook.requests.Load()+int64(e.commit.queued(2)) == n })
	close(hook.gate)
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != `200 {"message":"Data uploaded successfully","accepted":1}` {
			t.Errorf("answer %s", c)
		}
	}
	if got := hook.calls.Load(); got != 2 || hook.requests.Load() != n {
		t.Errorf("%d script calls carrying %d requests; want 2 calls (the first, then all queued behind it) carrying %d",
			got, hook.requests.Load(), n)
	}
	if got, entries := pointsIn(t, e, 2), xlen(t, e, 2); got != n || entries != 2 {
		t.Errorf("%d points in %d entries, want %d in 2 (one entry per call)", got, entries, n)
	}
}

// What queued behind a round trip goes in the next one: one call per
// partition, all in one pipeline.
func TestGroupCommitOneRoundTrip(t *testing.T) {
	hook := &scriptHook{gate: make(chan struct{})}
	e := newHookedEnv(t, hook)
	one := func(p, i int) string {
		return fmt.Sprintf(`{"latitude":%d,"longitude":2,"device_id":%q}`, i, e.deviceIn(p))
	}
	go e.upload(one(0, 0))
	redistest.WaitFor(t, 5*time.Second, "the round trip to be held", func() bool { return hook.trips.Load() == 1 })
	var wg sync.WaitGroup
	for p := range 4 {
		for i := range 5 {
			wg.Go(func() {
				if rec := e.upload(one(p, i)); rec.Code != 200 {
					t.Errorf("status %d: %s", rec.Code, rec.Body)
				}
			})
		}
	}
	redistest.WaitFor(t, 5*time.Second, "20 batches queued", func() bool { return e.commit.queued(0)+e.commit.queued(1)+e.commit.queued(2)+e.commit.queued(3) == 20 })
	close(hook.gate)
	wg.Wait()
	if trips, calls := hook.trips.Load(), hook.calls.Load(); trips != 2 || calls != 5 {
		t.Errorf("%d round trips, %d calls; want 2 round trips (the held one, then the rest), 5 calls (1, then one per partition)", trips, calls)
	}
	if n := e.streamLen(); n != 21 {
		t.Errorf("%d entries, want 21", n)
	}
}

// A partition's call holds at most maxCallPoints points; what does not fit
// goes in the next round trip, in the order it was queued.
func TestGroupCommitCallSize(t *testing.T) {
	hook := &scriptHook{gate: make(chan struct{})}
	e := newHookedEnv(t, hook)
	dev := e.deviceIn(1)
	batch := func(lat int) string {
		pts := make([]string, maxCallPoints*2/5)
		for i := range pts {
			pts[i] = fmt.Sprintf(`{"latitude":%d,"longitude":%d,"device_id":%q}`, lat, i%180, dev)
		}
		return "[" + strings.Join(pts, ",") + "]"
	}
	go e.upload(batch(0))
	redistest.WaitFor(t, 5*time.Second, "the round trip to be held", func() bool { return hook.trips.Load() == 1 })
	var wg sync.WaitGroup
	for lat := 1; lat <= 3; lat++ {
		wg.Go(func() {
			if rec := e.upload(batch(lat)); rec.Code != 200 {
				t.Errorf("status %d: %s", rec.Code, rec.Body)
			}
		})
		redistest.WaitFor(t, 5*time.Second, "the batch queued", func() bool { return e.commit.queued(1) == lat }) // queued in order
	}
	close(hook.gate)
	wg.Wait()
	if trips := hook.trips.Load(); trips != 3 {
		t.Errorf("%d round trips, want 3: the held one, two batches of 40 %% of a call, then the third", trips)
	}
	pts := e.storedPoints()
	if len(pts) != 4*maxCallPoints*2/5 {
		t.Fatalf("%d points stored", len(pts))
	}
	for i, p := range pts { // the batches in the order they were queued
		if want := int64(i/(maxCallPoints*2/5)) * 10_000_000; p.LatE7 != want {
			t.Fatalf("point %d has latitude %d, want %d", i, p.LatE7, want)
		}
	}
}

// A request whose wait ends while its batch is still queued is answered
// 503 and its points are never sent (committer, invariant 3).
func TestGroupCommitTimedOutRequestIsNotSent(t *testing.T) {
	hook := &scriptHook{gate: make(chan struct{})}
	e := newHookedEnv(t, hook, func(c *RouterConfig) { c.RedisTimeout = 300 * time.Millisecond })
	dev := e.deviceIn(1)
	one := fmt.Sprintf(`{"latitude":1,"longitude":2,"device_id":%q}`, dev)
	first := make(chan int, 1)
	go func() { first <- e.upload(one).Code }()
	redistest.WaitFor(t, 5*time.Second, "the first call to be held", func() bool { return hook.calls.Load() == 1 }) // the first call is held in the hook

	start := time.Now()
	rec := e.upload(one) // queued behind the held call until its deadline
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("queued request: status %d: %s", rec.Code, rec.Body)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("queued request answered after %v, want about the Redis timeout", took)
	}
	if d := errorOf(t, rec).Details; len(d) != 1 || !strings.Contains(d[0].Message, "did not answer in time") {
		t.Errorf("details %+v", d)
	}
	close(hook.gate) // the held call goes on; the first request was answered 503 too (its own deadline)
	if code := <-first; code != http.StatusServiceUnavailable {
		t.Errorf("held request: status %d, want 503", code)
	}
	// The held call went on late (its point may or may not be stored, as
	// its 503 said); the timed-out queued request was never sent.
	redistest.WaitFor(t, 5*time.Second, "the committer to be idle", func() bool { return e.commit.idle() })
	if got := hook.calls.Load(); got != 1 {
		t.Errorf("%d script calls, want 1: the timed-out request was sent", got)
	}
	if got := xlen(t, e, 1); got > 1 {
		t.Errorf("%d entries, want at most 1", got)
	}
}

// Requests of one call with the same Idempotency-Key: the first stores, the
// second is its replay (append.lua, invariant 3); a concurrent request with
// another key and one without a key store their own points.
func TestGroupCommitKeysInOneCall(t *testing.T) {
	hook := &scriptHook{gate: make(chan struct{})}
	e := newHookedEnv(t, hook)
	dev := e.deviceIn(3)
	body := fmt.Sprintf(`{"latitude":1,"longitude":2,"timestamp":"2025-01-23T11:00:00Z","device_id":%q}`, dev)
	// Hold a call so that the next four requests share the next one.
	go e.upload(body)
	redistest.WaitFor(t, 5*time.Second, "the first call to be held", func() bool { return hook.calls.Load() == 1 })
	// checkKey sends no script, so it is not held.
	type answer struct {
		code     int
		replayed bool
	}
	results := make([]chan answer, 4)
	headers := [][]string{{"Idempotency-Key", "same"}, {"Idempotency-Key", "same"}, {"Idempotency-Key", "other"}, nil}
	for i := range results {
		results[i] = make(chan answer, 1)
		go func() {
			rec := e.upload(body, headers[i]...)
			results[i] <- answer{rec.Code, rec.Header().Get("Idempotent-Replayed") == "true"}
		}()
		redistest.WaitFor(t, 5*time.Second, "the batch queued", func() bool { return e.commit.queued(3) == i+1 }) // queue them in order
	}
	close(hook.gate)
	got := make([]answer, len(results))
	for i, r := range results {
		got[i] = <-r
	}
	want := []answer{{200, false}, {200, true}, {200, false}, {200, false}}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if n := hook.calls.Load(); n != 2 {
		t.Errorf("%d script calls, want 2", n)
	}
	// the held one, "same" once, "other", the keyless one; an entry per call
	if n, entries := pointsIn(t, e, 3), xlen(t, e, 3); n != 4 || entries != 2 {
		t.Errorf("%d points in %d entries, want 4 in 2", n, entries)
	}
}

// idle reports whether the committer has nothing queued or being sent.
func (c *committer) idle() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.flushing
}

// queued returns the number of batches queued for partition p.
func (c *committer) queued(p int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, pa := range c.queue {
		if pa.part == p {
			n++
		}
	}
	return n
}

// While maxQueued batches wait (Redis hangs, requests time out but their
// batches stay queued), a new upload is refused at once with a 503 and its
// batch is not queued: the queue cannot grow without bound.
func TestGroupCommitQueueBound(t *testing.T) {
	hook := &scriptHook{gate: make(chan struct{})}
	e := newHookedEnv(t, hook, func(c *RouterConfig) { c.RedisTimeout = 200 * time.Millisecond })
	one := fmt.Sprintf(`{"latitude":1,"longitude":2,"device_id":%q}`, e.deviceIn(0))
	go e.upload(one)
	redistest.WaitFor(t, 5*time.Second, "the round trip to be held", func() bool { return hook.trips.Load() == 1 }) // the round trip is held
	// Fill the queue directly: as if maxQueued requests had timed out.
	e.commit.mu.Lock()
	for range maxQueued {
		e.commit.queue = append(e.commit.queue, &pendingAppend{ctx: context.Background(), deadline: time.Now(),
			batch: &scripts.AppendBatch{}, done: make(chan struct{})})
	}
	e.commit.mu.Unlock()
	start := time.Now()
	rec := e.upload(one)
	if rec.Code != http.StatusServiceUnavailable || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("upload with a full queue: status %d after %v: %s", rec.Code, time.Since(start), rec.Body)
	}
	if n := e.commit.queued(0); n != maxQueued {
		t.Errorf("%d batches queued, want %d: the refused one was queued", n, maxQueued)
	}
	close(hook.gate)
	redistest.WaitFor(t, 5*time.Second, "the committer to be idle", func() bool { return e.commit.idle() })
	if trips := hook.trips.Load(); trips != 1 {
		t.Errorf("%d round trips, want 1: the expired batches were sent", trips)
	}
}
