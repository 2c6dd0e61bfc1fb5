package ingest

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/scripts"
)

// replyErr is an error reply as go-redis returns it.
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

var (
	errDial  = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	errReset = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
)

func TestResendable(t *testing.T) {
	tests := []struct {
		err                error
		keyless, withKey   bool // resendable without and with a marker
		mayHaveRunOnFailed bool
	}{
		{replyErr("READONLY You can't write against a read only replica."), true, true, false},
		{replyErr("LOADING Redis is loading the dataset in memory"), true, true, false},
		{replyErr("MASTERDOWN Link with MASTER is down"), true, true, false},
		{replyErr("CLUSTERDOWN The cluster is down"), true, true, false},
		{replyErr("TRYAGAIN Multiple keys request during rehashing of slot"), true, true, false},
		{replyErr("MOVED 3999 127.0.0.1:6381"), true, true, false},
		{replyErr("ASK 3999 127.0.0.1:6381"), true, true, false},
		{replyErr("NOSCRIPT No matching script"), true, true, false},
		{fmt.Errorf("append to gs:s:0: %w", replyErr("READONLY You can't write")), true, true, false},
		{errDial, true, true, false},
		{redis.ErrPoolTimeout, true, true, false},
		{errReset, false, true, true},
		{io.EOF, false, true, true},
		{context.DeadlineExceeded, false, true, true},
		{replyErr("WRONGTYPE Operation against a key holding the wrong kind of value"), false, false, false},
		{replyErr("ERR append: bad limit or request count"), false, false, false},
		{fmt.Errorf("wait: %w", redisconn.ErrNotReplicated), false, false, false},
		{fmt.Errorf("append: %w", scripts.ErrBacklog), false, false, false},
		{errQueueFull, false, false, false},
		{context.Canceled, false, false, false},
		{redis.ErrClosed, false, false, false},
	}
	for _, tt := range tests {
		if got := resendable(tt.err, false); got != tt.keyless {
			t.Errorf("resendable(%v, no marker) = %v, want %v", tt.err, got, tt.keyless)
		}
		if got := resendable(tt.err, true); got != tt.withKey {
			t.Errorf("resendable(%v, marker) = %v, want %v", tt.err, got, tt.withKey)
		}
		if got := mayHaveRun(tt.err); got != tt.mayHaveRunOnFailed {
			t.Errorf("mayHaveRun(%v) = %v, want %v", tt.err, got, tt.mayHaveRunOnFailed)
		}
	}
}

// failHook fails the first `fail` round trips holding an append.lua call
// (or, with reads, a checkkey.lua call): with run false it answers err without sending
// anything (Redis refused, or no connection); with run true it sends the
// round trip and then replaces each reply with err (the connection broke
// after Redis ran it).
type failHook struct {
	err   error
	fail  int64
	run   bool
	reads bool
	trips atomic.Int64 // round trips that held an append (or key check)
}

func (h *failHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *failHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *failHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		want := "append"
		if h.reads {
			want = "checkkey"
		}
		hit := false
		for _, c := range cmds {
			hit = hit || scriptName(c) == want
		}
		if !hit || h.trips.Add(1) > h.fail {
			return next(ctx, cmds)
		}
		if h.run {
			_ = next(ctx, cmds)
		}
		for _, c := range cmds {
			c.SetErr(h.err)
		}
		return h.err
	}
}

// An append Redis refused (a failover, a restart, a slot move) or that
// never found a connection is sent again after a backoff, with or without
// an Idempotency-Key: the upload answers 200 and each point is stored once.
func TestResendRefused(t *testing.T) {
	for _, err := range []error{
		replyErr("READONLY You can't write against a read only replica."),
		replyErr("LOADING Redis is loading the dataset in memory"),
		replyErr("CLUSTERDOWN The cluster is down"),
		replyErr("TRYAGAIN Multiple keys request during rehashing of slot"),
		replyErr("MOVED 3999 127.0.0.1:6381"),
		errDial,
	} {
		for _, key := range []string{"", "k1"} {
			t.Run(fmt.Sprintf("%s/key=%q", strings.Fields(err.Error())[0], key), func(t *testing.T) {
				hook := &failHook{err: err, fail: 2}
				e := newHookedFailEnv(t, hook)
				var header []string
				if key != "" {
					header = []string{"Idempotency-Key", key}
				}
				rec := e.upload(e.pointsIn(0, 8), header...)
				if rec.Code != 200 {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				if n := e.streamLen(); n != 8 {
					t.Errorf("%d entries, want 8 (each point once)", n)
				}
				if got := hook.trips.Load(); got != 3 {
					t.Errorf("%d round trips with script calls, want 3 (2 refused, then stored)", got)
				}
			})
		}
	}
}

// A connection that broke after Redis ran the append: with an
// Idempotency-Key it is sent again and answered from the marker (stored
// once, 200); without one it is not sent again (it may have run): 503
// with Retry-After saying some points may have been stored, and stored
// once.
func TestResendAfterReset(t *testing.T) {
	t.Run("key", func(t *testing.T) {
		hook := &failHook{err: errReset, fail: 1, run: true}
		e := newHookedFailEnv(t, hook)
		rec := e.upload(e.pointsIn(0, 8), "Idempotency-Key", "k1")
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"accepted":8`) {
			t.Fatalf("status %d: %s, want 200 accepting 8", rec.Code, rec.Body)
		}
		// The re-send found the first attempt's markers.
		if rec.Header().Get("Idempotent-Replayed") != "true" {
			t.Errorf("Idempotent-Replayed %q, want true (answered from the marker)", rec.Header().Get("Idempotent-Replayed"))
		}
		if n := e.streamLen(); n != 8 {
			t.Errorf("%d entries, want 8 (each point once)", n)
		}
		if got := hook.trips.Load(); got != 2 {
			t.Errorf("%d round trips, want 2", got)
		}
	})
	t.Run("no-key", func(t *testing.T) {
		hook := &failHook{err: errReset, fail: 1, run: true}
		e := newHookedFailEnv(t, hook)
		rec := e.upload(e.pointsIn(0, 8))
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q: %s; want 503 with Retry-After", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
		if body := errorOf(t, rec); len(body.Details) == 0 || !strings.Contains(body.Details[0].Message, "may have been stored") {
			t.Errorf("details %+v, want that some points may have been stored", body.Details)
		}
		if n := e.streamLen(); n != 8 {
			t.Errorf("%d entries, want 8 (run once, not sent again)", n)
		}
		if got := hook.trips.Load(); got != 1 {
			t.Errorf("%d round trips, want 1", got)
		}
	})
}

// Re-sends stop before the request's deadline (--redis-timeout): a Redis
// that keeps refusing gets a 503 within it.
func TestResendBoundedByDeadline(t *testing.T) {
	hook := &failHook{err: replyErr("LOADING Redis is loading the dataset in memory"), fail: 1 << 40}
	e := newHookedFailEnv(t, hook, func(c *RouterConfig) { c.RedisTimeout = 400 * time.Millisecond })
	start := time.Now()
	rec := e.upload(e.pointsIn(0, 4), "Idempotency-Key", "k1")
	took := time.Since(start)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("status %d: %s, want 503 with Retry-After", rec.Code, rec.Body)
	}
	if took > 400*time.Millisecond+200*time.Millisecond {
		t.Errorf("answered after %v, want within the 400ms redis timeout (+200ms)", took)
	}
	if got := hook.trips.Load(); got < 2 {
		t.Errorf("%d round trips, want at least 2 (re-sent within the deadline)", got)
	}
	if n := e.streamLen(); n != 0 {
		t.Errorf("%d entries, want 0", n)
	}
}

// The Idempotency-Key check (a read of every partition's marker) is
// retried too: a dial error or a reset on it does not fail the upload.
func TestRetryKeyCheck(t *testing.T) {
	for _, err := range []error{errDial, errReset} {
		t.Run(err.Error(), func(t *testing.T) {
			hook := &failHook{err: err, fail: 2, run: true, reads: true}
			e := newHookedFailEnv(t, hook)
			rec := e.upload(e.pointsIn(0, 4), "Idempotency-Key", "k1")
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if got := hook.trips.Load(); got != 3 {
				t.Errorf("%d key checks, want 3", got)
			}
			if n := e.streamLen(); n != 4 {
				t.Errorf("%d entries, want 4", n)
			}
		})
	}
}

// newHookedFailEnv is an env whose client runs hook, with the scripts
// loaded (each call one EVALSHA, never NOSCRIPT then EVAL).
func newHookedFailEnv(t *testing.T, hook *failHook, tune ...func(*RouterConfig)) *env {
	t.Helper()
	return newEnvWith(t, func(rdb *redis.Client) {
		loadScripts(t, rdb)
		rdb.AddHook(hook)
	}, tune...)
}

// pointsIn builds a JSON array of n points of one device in partition p:
// one append call per attempt.
func (e *env) pointsIn(p, n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"latitude":1,"longitude":%d,"device_id":%q}`, i, e.deviceIn(p))
	}
	return "[" + strings.Join(items, ",") + "]"
}
