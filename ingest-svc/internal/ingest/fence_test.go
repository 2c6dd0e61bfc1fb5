package ingest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redisconn"
)

// modelReplica stands in for a primary's one replica as WAIT sees it on
// Redis 7.2 and later: WAIT counts the replicas that acknowledged the
// replication offset of the connection's last command that propagated a
// write (a command that wrote nothing leaves it where it was). While the
// replica is frozen it acknowledges nothing new.
//
// Redis 7.0 (the redis-server of the tests) moves that offset after every
// command, so a WAIT after a replayed append, which writes nothing, waits
// for every earlier write anyway, and TestReplicaAcksRealRedis passes
// without the fence; on 7.2 it does not. miniredis answers WAIT with 0
// always, so the model answers it.
type modelReplica struct {
	mu     sync.Mutex
	frozen bool
}

func (r *modelReplica) freeze(frozen bool) {
	r.mu.Lock()
	r.frozen = frozen
	r.mu.Unlock()
}

// modelConn is one ingest instance's view: whether its connections' last
// write came while the replica was frozen (the model keeps one offset per
// client, as if it had one connection).
type modelConn struct {
	replica     *modelReplica
	mu          sync.Mutex
	unreplicate bool
}

func (h *modelConn) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *modelConn) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

// ProcessPipelineHook runs the pipeline's commands, notes whether any
// wrote, then answers its WAIT (appended by redisconn after them) per the
// model: 0 replicas when the connection's last write is one the frozen
// replica lacks, 1 otherwise. The answer is made by miniredis itself: the
// WAIT becomes EXISTS of a key that is there (1) or not (0).
func (h *modelConn) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		var wait redis.Cmder
		if n := len(cmds); n > 0 && cmds[n-1].Name() == "wait" {
			wait, cmds = cmds[n-1], cmds[:n-1]
		}
		err := next(ctx, cmds)
		h.replica.mu.Lock()
		frozen := h.replica.frozen
		h.replica.mu.Unlock()
		h.mu.Lock()
		defer h.mu.Unlock()
		if wrote(cmds) {
			h.unreplicate = frozen
		}
		if wait == nil {
			return err
		}
		args := wait.Args() // wait N timeout → exists KEY timeout
		args[0], args[1] = "exists", "model:replica-has-it"
		if frozen && h.unreplicate {
			args[1] = "model:replica-lacks-it"
		}
		if werr := next(ctx, []redis.Cmder{wait}); err == nil {
			err = werr
		}
		return err
	}
}

// wrote reports whether a command of cmds propagated a write: an append
// that stored a request (status 0 in append.lua's reply), or the fence's
// INCRBY (which propagates even by 0).
func wrote(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		switch c := c.(type) {
		case *redis.Cmd:
			vals, _ := c.Slice()
			for i := 1; i < len(vals); i += 3 {
				if status, _ := vals[i].(int64); status == 0 {
					return true
				}
			}
		case *redis.IntCmd:
			if c.Name() == "incrby" && c.Err() == nil {
				return true
			}
		}
	}
	return false
}

// An upload acknowledged by the primary only (the replica frozen) answers
// 503; its retry through another ingest instance, whose connections have
// written nothing since, is replayed from the marker and must still wait
// for the replica: without the fence (a write after the replay, and WAIT
// for it) it would answer 200 for points the replica does not have.
func TestReplayFenceWaitsForTheReplica(t *testing.T) {
	m := miniredis.RunT(t)
	m.Set("model:replica-has-it", "1")
	replica := &modelReplica{}
	schema, err := keys.New("gs", 4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultRouterConfig()
	cfg.MinReplicasAcked = 1
	instance := func() http.Handler {
		conn, err := redisconn.Open("redis://"+m.Addr(), redisconn.Options{MaxRetries: -1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.Client.AddHook(&modelConn{replica: replica})
		return NewRouter(cfg, Deps{Redis: conn.Client, Schema: schema})
	}
	a, b := instance(), instance()
	post := func(h http.Handler, key string) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(http.MethodPost, "/upload", strings.NewReader(`{"latitude":1,"longitude":2,"device_id":"d1"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	if rec := post(b, "warm"); rec.Code != 200 {
		t.Fatalf("upload with the replica in sync: %d %s", rec.Code, rec.Body)
	}

	replica.freeze(true)
	if rec := post(a, "k1"); rec.Code != 503 {
		t.Fatalf("upload with the replica frozen: %d %s, want 503 (stored on the primary only)", rec.Code, rec.Body)
	}
	rec := post(b, "k1")
	if rec.Code != 503 {
		t.Fatalf("retry through the other instance, replica still frozen: %d replayed=%q %s; want 503: the replica lacks the points",
			rec.Code, rec.Header().Get("Idempotent-Replayed"), rec.Body)
	}

	replica.freeze(false)
	rec = post(b, "k1")
	if rec.Code != 200 || rec.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry with the replica back: %d replayed=%q %s, want 200 replayed", rec.Code, rec.Header().Get("Idempotent-Replayed"), rec.Body)
	}
}
