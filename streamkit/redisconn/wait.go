package redisconn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNotReplicated means a write ran on a master but fewer replicas than
// asked acknowledged it within the timeout: it is stored, but a failover
// could lose it.
var ErrNotReplicated = errors.New("not acknowledged by enough replicas")

// ReplicaAcks collects the WAIT replies of the pipelines run under the
// context WithReplicaAcks returned.
type ReplicaAcks struct {
	n       int
	timeout time.Duration

	mu    sync.Mutex
	waits []waitRecord
}

// waitRecord is one WAIT and the writes it followed on its connection.
type waitRecord struct {
	wait   *redis.IntCmd
	writes []redis.Cmder
}

type replicaAcksKey struct{}

// WithReplicaAcks returns ctx under which every pipeline holding a script
// call or another write is followed, on the same connection, by
// `WAIT n timeout`, and the collector of those replies (see Check).
//
// Why a hook: WAIT counts the replicas that have the connection's last
// write, so it must run on the connection that wrote. A go-redis pipeline
// runs on one connection; a ClusterClient pipeline is split by node, and a
// WAIT in it, having no key, would go to any master. The hook (installed
// on every Client that Open builds, and on every node client of a
// ClusterClient) appends the WAIT to each node's part of the pipeline, on
// that node's connection, after its writes. A write redirected (MOVED, ASK)
// is sent again to its new node, whose part gets its own WAIT.
//
// n <= 0 returns ctx unchanged and nil: no WAIT is sent, Check of a nil
// collector succeeds.
func WithReplicaAcks(ctx context.Context, n int, timeout time.Duration) (context.Context, *ReplicaAcks) {
	if n <= 0 {
		return ctx, nil
	}
	a := &ReplicaAcks{n: n, timeout: timeout}
	return context.WithValue(ctx, replicaAcksKey{}, a), a
}

// Check returns nil when every WAIT that followed cmd (a command of a
// pipeline run under the collector's context) counted enough replicas, and
// an error wrapping ErrNotReplicated otherwise. A command that failed is
// not checked: its own error says more.
func (a *ReplicaAcks) Check(cmd redis.Cmder) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	found := false
	for _, r := range a.waits {
		for _, w := range r.writes {
			if w != cmd {
				continue
			}
			found = true
			got, err := r.wait.Result()
			if err != nil {
				return fmt.Errorf("wait %d replicas: %w: %w", a.n, ErrNotReplicated, err)
			}
			if got < int64(a.n) {
				return fmt.Errorf("%w: %d of %d replicas acknowledged within %v", ErrNotReplicated, got, a.n, a.timeout)
			}
		}
	}
	if !found {
		return fmt.Errorf("%w: no WAIT followed the write", ErrNotReplicated)
	}
	return nil
}

// replicaWait is the hook that appends the WAIT (see WithReplicaAcks).
type replicaWait struct{}

func (replicaWait) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (replicaWait) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (replicaWait) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		a, _ := ctx.Value(replicaAcksKey{}).(*ReplicaAcks)
		if a == nil || !hasWrite(cmds) {
			return next(ctx, cmds)
		}
		wait := redis.NewIntCmd(ctx, "wait", a.n, a.timeout.Milliseconds())
		// noRetryCmd: a ClusterClient must not send the WAIT again on its
		// own, to whichever master it picks for a command without a key.
		all := append(cmds[:len(cmds):len(cmds)], noRetryCmd{wait})
		err := next(ctx, all)
		// Only writes that ran here count on this WAIT; one redirected
		// elsewhere is checked by its new node's WAIT.
		var ran []redis.Cmder
		for _, c := range cmds {
			if c.Err() == nil {
				ran = append(ran, unwrap(c))
			}
		}
		if len(ran) > 0 {
			a.mu.Lock()
			a.waits = append(a.waits, waitRecord{wait: wait, writes: ran})
			a.mu.Unlock()
		}
		return err
	}
}

// hasWrite reports whether cmds hold a command that may write: a script
// call, or one of the few plain writes geostream pipelines.
func hasWrite(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if isScript(c) {
			return true
		}
		switch c.Name() {
		case "pexpire", "expire", "set", "hset", "xadd", "xack", "hincrby", "incrby", "del":
			return true
		}
	}
	return false
}

// unwrap returns the command a noRetryCmd wraps: the one the caller holds.
func unwrap(c redis.Cmder) redis.Cmder {
	if w, ok := c.(noRetryCmd); ok {
		return w.Cmder
	}
	return c
}
