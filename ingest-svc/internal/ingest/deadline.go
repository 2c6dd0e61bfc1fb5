package ingest

import (
	"context"
	"time"
)

// within runs f under a timeout and returns its result, or the context's
// error as soon as the timeout passes, even when f is stuck in a Redis call.
// go-redis honours a context's deadline on the socket only with
// ContextTimeoutEnabled (redisconn sets it, but a client built elsewhere may
// not) and not in every wait (dial retries back off on their own clock), so
// the bound is kept here rather than trusted to the client. f may still
// finish later; its result is then dropped, which is why the 503 of a
// timed-out upload says that some points may have been stored.
func within[T any](ctx context.Context, timeout time.Duration, f func(context.Context) (T, error)) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type outcome struct {
		v   T
		err error
	}
	done := make(chan outcome, 1) // f never blocks on sending
	go func() {
		v, err := f(ctx)
		done <- outcome{v, err}
	}()
	select {
	case o := <-done:
		return o.v, o.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
