package ingest

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/scripts"
)

// committer coalesces the appends of concurrent requests to the same
// partition into one append.lua call (group commit): while a call to a
// partition is running, the requests that arrive queue up, and the next
// call carries all of them (up to maxCallPoints points). Nothing waits on
// a timer: an idle partition sends a request's call at once, and a busy
// one sends the queue as soon as its previous call returns. Redis then
// runs one script per round trip instead of one per request, which is
// most of what a single-point upload costs it.
//
// What each request gets is unchanged (append.lua, invariants 1-3): its
// points are appended all or none, its idempotency marker with them, and
// it is answered from its own result in the call. A call that fails as a
// whole (Redis down, a timeout) fails every request in it with that error,
// as a pipeline of one call per request would have.
//
// Invariants:
//  1. Every queued request is answered exactly once (its done channel is
//     closed once), by the one flush goroutine of its partition.
//  2. At most one flush goroutine runs per partition (flushing is set and
//     cleared under mu, and cleared only when the queue is empty), so the
//     queue is never left unattended: a request queued while flushing is
//     true is taken by the running goroutine's next round.
//  3. A request whose deadline has passed, or whose context has ended,
//     before its call is built is answered with that error and never sent:
//     a request that timed out waiting in the queue stores nothing.
type committer struct {
	rdb     redis.Scripter
	timeout time.Duration
	parts   []partQueue
}

// maxCallPoints bounds the points of one call: a call holds Redis for
// ~1-3 µs a point, and every other client waits behind it.
const maxCallPoints = 2000

type partQueue struct {
	mu       sync.Mutex
	queue    []*pendingAppend
	flushing bool
}

// pendingAppend is one request's batch for one partition.
type pendingAppend struct {
	ctx      context.Context // the request's: ends when its client goes away
	deadline time.Time       // when the request stops waiting
	batch    *scripts.AppendBatch
	done     chan struct{} // closed when res and err are set
	res      scripts.AppendResult
	err      error
}

func newCommitter(rdb redis.Scripter, partitions int, timeout time.Duration) *committer {
	return &committer{rdb: rdb, timeout: timeout, parts: make([]partQueue, partitions)}
}

// submit queues b for partition p; the result is ready when done is
// closed. ctx and deadline bound the wait in the queue (invariant 3).
func (c *committer) submit(ctx context.Context, deadline time.Time, p int, b *scripts.AppendBatch) *pendingAppend {
	pa := &pendingAppend{ctx: ctx, deadline: deadline, batch: b, done: make(chan struct{})}
	q := &c.parts[p]
	q.mu.Lock()
	q.queue = append(q.queue, pa)
	start := !q.flushing
	q.flushing = true
	q.mu.Unlock()
	if start {
		go c.flushLoop(q)
	}
	return pa
}

// flushLoop sends q's queue, one call at a time, until it is empty.
func (c *committer) flushLoop(q *partQueue) {
	for {
		q.mu.Lock()
		var take []*pendingAppend
		points := 0
		for len(q.queue) > 0 {
			pa := q.queue[0]
			if len(take) > 0 && points+pa.batch.Len() > maxCallPoints {
				break
			}
			take = append(take, pa)
			points += pa.batch.Len()
			q.queue[0] = nil
			q.queue = q.queue[1:]
		}
		if len(take) == 0 {
			q.flushing = false // invariant 2: only with the queue empty
			q.queue = nil
			q.mu.Unlock()
			return
		}
		q.mu.Unlock()
		c.flush(take)
	}
}

// flush sends one call holding the batches of take and answers each.
func (c *committer) flush(take []*pendingAppend) {
	var call scripts.AppendCall
	var sent []*pendingAppend
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
		call.Add(pa.batch)
		sent = append(sent, pa)
	}
	if len(sent) == 0 {
		return
	}
	// The call is shared: no single request's cancellation may abort it.
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	res, err := call.Run(ctx, c.rdb)
	cancel()
	for i, pa := range sent {
		if err != nil {
			pa.err = err
		} else {
			pa.res, pa.err = res[i], res[i].Err
		}
		close(pa.done)
	}
}
