package ingest

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/backoff"
	"github.com/geostream/geostream/streamkit/redisconn"
)

// appendBackoff spaces the re-sends of an append that failed during a
// failover, a restart or a slot move. Full jitter: the requests that failed
// together do not come back together. The request's deadline
// (--redis-timeout) bounds how often: with 2 s, about ten re-sends.
var appendBackoff = backoff.Policy{Base: 25 * time.Millisecond, Max: 400 * time.Millisecond, Jitter: rand.Int64N}

// resendable reports whether an append that failed with err may be sent
// again without storing any point twice.
//
//   - A reply that proves Redis did not run the script (READONLY, LOADING,
//     MASTERDOWN, CLUSTERDOWN, TRYAGAIN, MOVED/ASK past go-redis's
//     redirects, NOSCRIPT: redisconn.NotRun), or an error that proves it
//     was never sent (no connection: redisconn.NeverSent): always.
//   - Any other failure of the connection (a reset, EOF, a timeout) may
//     come after Redis ran the script: only with an idempotency marker,
//     which makes the second run a replay (append.lua, invariant 2).
//     Without one the request answers 503 (mayHaveRun).
//   - Anything else Redis answered (a malformed call, WRONGTYPE, the
//     backlog limit) or a write that ran but did not replicate
//     (redisconn.ErrNotReplicated): never; sending it again would fail the
//     same way, or (not replicated) its replica timeout has used up the
//     request's time.
func resendable(err error, marker bool) bool {
	switch {
	case err == nil, errors.Is(err, redisconn.ErrNotReplicated), errors.Is(err, errQueueFull),
		errors.Is(err, context.Canceled), errors.Is(err, redis.ErrClosed):
		return false
	case redisconn.NotRun(err), redisconn.NeverSent(err):
		return true
	}
	return marker && mayHaveRun(err)
}

// mayHaveRun reports whether an append that failed with err may have
// stored its points: the connection failed (a reset, EOF, a timeout) after
// the call was sent.
func mayHaveRun(err error) bool {
	var ne net.Error
	return !redisconn.NeverSent(err) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne))
}

// resendLater takes a request whose call failed with err and, when it may
// be sent again (resendable) and the next backoff ends before its deadline,
// queues it again after that delay and returns true: the request is then
// answered by a later flush (invariant 1). It returns false when the
// request must be answered with err now.
//
// A re-sent batch joins the queue behind its partition's later requests
// (invariant 4 orders the requests of one attempt, not re-sends).
func (c *committer) resendLater(pa *pendingAppend, err error) bool {
	if !resendable(err, pa.batch.Key != nil) || pa.ctx.Err() != nil {
		return false
	}
	d := appendBackoff.Delay(pa.attempts + 1)
	if !time.Now().Add(d).Before(pa.deadline) {
		return false
	}
	pa.attempts++
	if cc, ok := c.rdb.(*redis.ClusterClient); ok {
		// After a failover the slot map is stale until go-redis reloads it
		// (on a MOVED, or every few seconds): ask for it now. Lazy and
		// coalesced, so one reload serves every waiting request.
		cc.ReloadState(context.Background())
	}
	time.AfterFunc(d, func() {
		if !c.enqueue(pa) {
			pa.err = err
			close(pa.done)
		}
	})
	return true
}

// retryRead runs read until it succeeds, fails with an error other than a
// Redis refusal or a connection failure, or ctx (the request's deadline)
// would end before the next try. Reads change nothing, so any failure of
// the connection may be retried.
func retryRead(ctx context.Context, read func(context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := read(ctx)
		var reply redis.Error
		if err == nil || (errors.As(err, &reply) && !redisconn.NotRun(err)) ||
			errors.Is(err, context.Canceled) || errors.Is(err, redis.ErrClosed) {
			return err
		}
		d := appendBackoff.Delay(attempt)
		if dl, ok := ctx.Deadline(); ok && !time.Now().Add(d).Before(dl) {
			return err
		}
		if backoff.Sleep(ctx, d) != nil {
			return err
		}
	}
}
