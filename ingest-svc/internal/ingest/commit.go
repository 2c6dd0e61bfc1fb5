package ingest

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/scripts"
)

// committer coalesces the appends of concurrent requests into as few
// append.lua calls and round trips as it can (group commit): while a flush
// is running, the requests that arrive queue up, and the next flush sends
// all of them, one call per partition (each of at most maxCallPoints
// points), all calls in one pipeline. Nothing waits on a timer: when no
// flush is running a request is sent at once, and otherwise as soon as the
// running flush returns. Redis then runs one script per partition per round
// trip instead of one per request, and ingest-svc makes one write and one
// read system call per round trip: per request, these were most of what a
// single-point upload cost.
//
// What each request gets is unchanged (append.lua, invariants 1-3): its
// points are appended all or none, its idempotency marker with them, and
// it is answered from its own result in the call. A call that fails as a
// whole (Redis down, a timeout) fails every request in it with that error,
// as a pipeline of one call per request would have.
//
// Invariants:
//  1. Every request is answered exactly once (its done channel is closed
//     once): by the flush goroutine, by submit when the queue is full, or
//     by the timer of a re-send that finds it full (resendLater). A
//     request queued again for a re-send is not answered until then.
//  2. At most one flush goroutine runs (flushing is set and cleared under
//     mu, and cleared only when the queue is empty), so the queue is never
//     left unattended: a request queued while flushing is true is taken by
//     the running goroutine's next round.
//  3. A request whose deadline has passed, or whose context has ended,
//     before its call is built is answered with that error and never sent:
//     a request that timed out waiting in the queue stores nothing.
//  4. A partition's requests are sent in the order they were queued (a
//     request that does not fit in this round's call stays at the head of
//     the queue's remainder).
type committer struct {
	rdb     redis.UniversalClient
	timeout time.Duration
	// minReplicas and replicaTimeout: WAIT after each call (replicas.go).
	minReplicas    int
	replicaTimeout time.Duration

	mu       sync.Mutex
	queue    []*pendingAppend
	flushing bool
}

// maxCallPoints bounds the points of one call: a call holds Redis for
// ~1-3 µs a point, and every other client waits behind it.
const maxCallPoints = 2000

// maxResends bounds the re-sends of a call answered NOSCRIPT or STALE in
// one flush (the marker layout changes at most once a TTL).
const maxResends = 3

// maxQueued bounds the batches waiting for a round trip. Requests in flight
// are bounded by the in-flight limits, but a request that timed out leaves
// its batch queued until the flush goroutine reaches it; while Redis hangs
// (a client without context deadlines on its socket) the queue would grow
// with every new request. Past the bound a request is refused at once.
const maxQueued = 10_000

// errQueueFull refuses a request while maxQueued batches wait.
var errQueueFull = errors.New("too many uploads are waiting for Redis")

// pendingAppend is one request's batch for one partition.
type pendingAppend struct {
	ctx      context.Context // the request's: ends when its client goes away
	deadline time.Time       // when the request stops waiting
	part     int
	batch    *scripts.AppendBatch
	done     chan struct{} // closed when res and err are set
	res      scripts.AppendResult
	err      error
	attempts int // re-sends so far (resendLater)
}

func newCommitter(rdb redis.UniversalClient, timeout time.Duration) *committer {
	return &committer{rdb: rdb, timeout: timeout}
}

// submit queues b for partition p; the result is ready when done is
// closed. ctx and deadline bound the wait in the queue (invariant 3).
func (c *committer) submit(ctx context.Context, deadline time.Time, p int, b *scripts.AppendBatch) *pendingAppend {
	pa := &pendingAppend{ctx: ctx, deadline: deadline, part: p, batch: b, done: make(chan struct{})}
	if !c.enqueue(pa) {
		pa.err = errQueueFull // invariant 1: answered once, here, never queued
		close(pa.done)
	}
	return pa
}

// enqueue queues pa and starts the flush goroutine if none runs; it
// returns false, queueing nothing, while maxQueued batches wait.
func (c *committer) enqueue(pa *pendingAppend) bool {
	c.mu.Lock()
	if len(c.queue) >= maxQueued {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, pa)
	start := !c.flushing
	c.flushing = true
	c.mu.Unlock()
	if start {
		go c.flushLoop()
	}
	return true
}

// flushLoop sends the queue, one round trip at a time, until it is empty.
func (c *committer) flushLoop() {
	for {
		take := c.take()
		if take == nil {
			return
		}
		c.flush(take)
	}
}

// take removes from the queue what the next round trip sends: everything,
// except what would take a partition's call over maxCallPoints (that, and
// the partition's later requests, stay queued in order: invariant 4). It
// returns nil, and clears flushing, when the queue is empty (invariant 2).
func (c *committer) take() []*pendingAppend {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		c.flushing = false
		c.queue = nil
		return nil
	}
	points := map[int]int{}
	full := map[int]bool{}
	var take, rest []*pendingAppend
	for _, pa := range c.queue {
		n := pa.batch.Len()
		if full[pa.part] || (points[pa.part] > 0 && points[pa.part]+n > maxCallPoints) {
			full[pa.part] = true
			rest = append(rest, pa)
			continue
		}
		points[pa.part] += n
		take = append(take, pa)
	}
	c.queue = rest
	return take
}

// partCall is one partition's call of a flush.
type partCall struct {
	call scripts.AppendCall
	reqs []*pendingAppend
	cmd  *redis.Cmd
}

// flush sends one call per partition of take, in one pipeline, and
// answers each request.
func (c *committer) flush(take []*pendingAppend) {
	var calls []*partCall
	byPart := map[int]*partCall{}
	now := time.Now()
	for _, pa := range take {
		err := pa.ctx.Err()
		if err == nil && !now.Before(pa.deadline) {
			err = context.DeadlineExceeded
		}
		if err != nil {
			pa.err = err // invariant 3
			close(pa.done)
			continue
		}
		pc := byPart[pa.part]
		if pc == nil {
			pc = &partCall{}
			byPart[pa.part] = pc
			calls = append(calls, pc)
		}
		pc.call.Add(pa.batch)
		pc.reqs = append(pc.reqs, pa)
	}
	if len(calls) == 0 {
		return
	}
	// The round trip is shared: no single request's cancellation may abort
	// it.
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ctx, acks := c.replicaAcks(ctx)
	pipe := c.rdb.Pipeline()
	for _, pc := range calls {
		k, a := pc.call.Args()
		pc.cmd = scripts.Append.EvalSha(ctx, pipe, k, a...)
	}
	// Exec's error is the first failed command's: each command carries its
	// own, read below.
	_, _ = pipe.Exec(ctx)
	// A call answered NOSCRIPT (Redis restarted or its script cache was
	// flushed) did not run: send it again as EVAL, which loads the script.
	// One answered STALE stored nothing (its marker layout changed, which
	// refreshed it): send it again, named with the new layout. Nothing else
	// is sent again here: a call that may have run must not run twice
	// (what failed may be re-queued after a backoff: retry.go).
	for range maxResends {
		var retry []*partCall
		for _, pc := range calls {
			if redis.HasErrorPrefix(pc.cmd.Err(), "NOSCRIPT") || pc.call.Stale(pc.cmd) {
				retry = append(retry, pc)
			}
		}
		if len(retry) == 0 {
			break
		}
		pipe = c.rdb.Pipeline()
		for _, pc := range retry {
			k, a := pc.call.Args()
			pc.cmd = scripts.Append.Eval(ctx, pipe, k, a...)
		}
		_, _ = pipe.Exec(ctx)
	}
	for _, pc := range calls {
		res, err := pc.call.Parse(pc.cmd)
		if err == nil {
			err = c.replicated(ctx, acks, pc, res)
		}
		for i, pa := range pc.reqs {
			if err != nil && c.resendLater(pa, err) {
				continue // answered by a later flush (retry.go)
			}
			if err != nil {
				pa.err = err
			} else {
				pa.res, pa.err = res[i], res[i].Err
			}
			close(pa.done)
		}
	}
}
