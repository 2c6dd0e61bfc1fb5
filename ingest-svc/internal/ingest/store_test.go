package ingest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

func TestUploadIdempotent(t *testing.T) {
	e := newEnv(t)
	body := e.pointsOf(10, 4)
	gzipped := string(gzipBytes(t, []byte(body)))
	for i, step := range []struct {
		name     string
		body     string
		header   []string
		status   int
		accepted int
		replayed bool
		stored   int64
	}{
		{"first attempt", body, []string{"Idempotency-Key", "k1"}, 200, 10, false, 10},
		{"retry", body, []string{"Idempotency-Key", "k1"}, 200, 10, true, 10},
		{"retry gzipped", gzipped, []string{"Idempotency-Key", "k1", "Content-Encoding", "gzip"}, 200, 10, true, 10},
		{"same key, other content", e.pointsOf(10, 5), []string{"Idempotency-Key", "k1"}, 422, 0, false, 10},
		{"same key, content of other partitions", fmt.Sprintf(`{"latitude":1,"longitude":1,"device_id":%q}`, e.deviceIn(0)),
			[]string{"Idempotency-Key", "k1"}, 422, 0, false, 10},
		{"no key stores again", body, nil, 200, 10, false, 20},
		{"new key stores again", body, []string{"Idempotency-Key", "k2"}, 200, 10, false, 30},
	} {
		rec := e.upload(step.body, step.header...)
		if rec.Code != step.status {
			t.Fatalf("step %d (%s): status %d, want %d: %s", i, step.name, rec.Code, step.status, rec.Body)
		}
		if step.status == 200 {
			want := fmt.Sprintf(`{"message":"Data uploaded successfully","accepted":%d}`, step.accepted)
			if rec.Body.String() != want {
				t.Errorf("step %d (%s): body %s, want %s", i, step.name, rec.Body, want)
			}
		} else {
			errorOf(t, rec)
		}
		if got := rec.Header().Get("Idempotent-Replayed") == "true"; got != step.replayed {
			t.Errorf("step %d (%s): Idempotent-Replayed %v, want %v", i, step.name, got, step.replayed)
		}
		if n := e.streamLen(); n != step.stored {
			t.Fatalf("step %d (%s): %d entries, want %d", i, step.name, n, step.stored)
		}
	}
	// The markers' hash expires with its time slice: within 1-2 TTLs.
	prefix := e.schema.Markers(e.schema.PartitionOf(e.deviceIn(1))) + ":"
	hashes := 0
	for _, k := range e.m.Keys() {
		if strings.HasPrefix(k, prefix) {
			hashes++
			if ttl := e.m.TTL(k); ttl <= DefaultIdempotencyTTL || ttl > 2*DefaultIdempotencyTTL {
				t.Errorf("marker hash %s TTL %v, want (%v, %v]", k, ttl, DefaultIdempotencyTTL, 2*DefaultIdempotencyTTL)
			}
		}
	}
	if hashes < 1 || hashes > 2 {
		t.Errorf("%d marker hashes, want 1-2 for the two keys", hashes)
	}
}

// TestUploadBacklog checks that a partition over its backlog refuses points
// (503, Retry-After), and that a retry with the same Idempotency-Key stores
// the points of the partitions that failed, and only those.
func TestUploadBacklog(t *testing.T) {
	e := newEnv(t, func(c *RouterConfig) { c.BacklogLimit = 3 })
	full, free := e.deviceIn(0), e.deviceIn(1)
	one := func(dev string) string { return fmt.Sprintf(`{"latitude":1,"longitude":2,"device_id":%q}`, dev) }
	both := "[" + one(full) + "," + one(free) + "," + one(free) + "]"

	if rec := e.upload("[" + one(full) + "," + one(full) + "," + one(full) + "]"); rec.Code != 200 {
		t.Fatalf("filling the backlog: %d %s", rec.Code, rec.Body)
	}
	rec := e.upload(one(full))
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "1" {
		t.Fatalf("over the backlog: status %d, Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
	if b := errorOf(t, rec); b.Error != msgBacklog || !strings.Contains(b.Error, "processors are behind") {
		t.Errorf("error %q, want %q", b.Error, msgBacklog)
	}

	// Partition 1 stores, partition 0 refuses: a 503 that says so.
	rec = e.upload(both, "Idempotency-Key", "half")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("half over the backlog: status %d: %s", rec.Code, rec.Body)
	}
	checkDetails(t, errorOf(t, rec).Details, []errorDetail{{Message: "2 of 3 points were stored before the failure; retry with the same Idempotency-Key"}})
	if n := e.streamLen(); n != 5 {
		t.Fatalf("%d entries, want 5", n)
	}

	// The processors catch up; the retry stores the missing point only.
	if err := e.rdb.Del(context.Background(), e.schema.Stream(0), e.schema.Backlog(0)).Err(); err != nil {
		t.Fatal(err)
	}
	rec = e.upload(both, "Idempotency-Key", "half")
	if rec.Code != 200 || rec.Body.String() != `{"message":"Data uploaded successfully","accepted":3}` {
		t.Fatalf("retry: status %d: %s", rec.Code, rec.Body)
	}
	if rec.Header().Get("Idempotent-Replayed") != "" {
		t.Error("Idempotent-Replayed set on a retry that stored points")
	}
	if got := []int64{pointsIn(t, e, 0), pointsIn(t, e, 1)}; got[0] != 1 || got[1] != 2 {
		t.Fatalf("points per partition %v, want [1 2]", got)
	}
}

// pointsIn returns the points stored in partition p's stream.
func pointsIn(t *testing.T, e *env, p int) int64 {
	t.Helper()
	msgs, err := e.rdb.XRange(context.Background(), e.schema.Stream(p), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var pts []point.Point
	for _, m := range msgs {
		if pts, _, err = point.DecodeEntry(m.Values, pts); err != nil {
			t.Fatalf("entry %s: %v", m.ID, err)
		}
	}
	return int64(len(pts))
}

// xlen returns the entries of partition p's stream.
func xlen(t *testing.T, e *env, p int) int64 {
	t.Helper()
	n, err := e.rdb.XLen(context.Background(), e.schema.Stream(p)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUploadRedisTimeout checks that an upload answers 503 at the Redis
// timeout when Redis accepts the connection but never answers, even though
// the client's own read timeout is much longer.
func TestUploadRedisTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // a server that reads requests and never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() { _, _ = c.Read(make([]byte, 1<<16)) }()
		}
	}()
	rdb := redis.NewClient(&redis.Options{Addr: ln.Addr().String(), MaxRetries: -1, ReadTimeout: time.Minute, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { rdb.Close() })
	schema, _ := keys.New("gs", 4)
	cfg := DefaultRouterConfig()
	cfg.RedisTimeout = 200 * time.Millisecond
	e := &env{t: t, rdb: rdb, schema: schema, cfg: cfg, router: NewRouter(cfg, Deps{Redis: rdb, Schema: schema})}

	for _, r := range []req{
		{method: http.MethodPost, path: "/upload", body: []byte(seedPoint), header: map[string]string{"Content-Type": "application/json"}},
		{method: http.MethodPost, path: "/upload", body: []byte(seedPoint), header: map[string]string{"Content-Type": "application/json", "Idempotency-Key": "x"}},
		{method: http.MethodGet, path: "/retrieve"},
	} {
		start := time.Now()
		rec := e.do(r)
		took := time.Since(start)
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("%s %s: status %d: %s", r.method, r.path, rec.Code, rec.Body)
		}
		if took > cfg.RedisTimeout+time.Second {
			t.Errorf("%s %s answered after %v, want about %v", r.method, r.path, took, cfg.RedisTimeout)
		}
		if r.method == http.MethodPost {
			checkDetails(t, errorOf(t, rec).Details, []errorDetail{{Message: "Redis did not answer in time"}})
		}
	}
}

// A marker layout changed by another instance (more buckets) between the
// key check and the append answers the append STALE: the call stored
// nothing, the committer sends it again with the new layout and it stores
// once; its retry is a replay (scripts/markers.lua).
func TestUploadStaleMarkerLayout(t *testing.T) {
	var change func() // run once, before the next append.lua call
	hook := &beforeAppend{run: func() {
		if change != nil {
			change()
			change = nil
		}
	}}
	e := newEnvWith(t, func(rdb *redis.Client) { loadScripts(t, rdb); rdb.AddHook(hook) })
	if rec := e.upload(e.pointsIn(0, 2), "Idempotency-Key", "first"); rec.Code != 200 {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	field := strconv.FormatInt(DefaultIdempotencyTTL.Milliseconds(), 10) + ":b"
	meta := e.schema.Markers(0)
	if got := e.m.HGet(meta, field); got != "16" {
		t.Fatalf("layout %s = %q, want 16 buckets", field, got)
	}
	change = func() { e.m.HSet(meta, field, "4") } // as if another instance had rolled the slice
	body := e.pointsIn(0, 3)
	for i, replayed := range []bool{false, true} {
		rec := e.upload(body, "Idempotency-Key", "k")
		if rec.Code != 200 || (rec.Header().Get("Idempotent-Replayed") == "true") != replayed {
			t.Fatalf("attempt %d: %d replayed %q %s, want 200 replayed %v", i, rec.Code, rec.Header().Get("Idempotent-Replayed"), rec.Body, replayed)
		}
	}
	if hook.stale != 1 {
		t.Errorf("%d append calls answered STALE, want 1", hook.stale)
	}
	if n := e.streamLen(); n != 5 {
		t.Errorf("%d points, want 5 (the STALE call stored nothing, the retry nothing)", n)
	}
	if got := e.m.HGet(meta, field); got != "4" {
		t.Errorf("layout %s = %q, want 4 kept", field, got)
	}
}

// beforeAppend runs run before each pipeline holding an append.lua call,
// and counts the calls answered STALE.
type beforeAppend struct {
	run   func()
	stale int
}

func (h *beforeAppend) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *beforeAppend) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *beforeAppend) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		appends := false
		for _, c := range cmds {
			appends = appends || scriptName(c) == "append"
		}
		if appends {
			h.run()
		}
		err := next(ctx, cmds)
		for _, c := range cmds {
			if scriptName(c) == "append" && redis.HasErrorPrefix(c.Err(), "STALE") {
				h.stale++
			}
		}
		return err
	}
}
