package processor

import (
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestNotRun(t *testing.T) {
	tests := []struct {
		err          error
		notRun, read bool
	}{
		{redis.ErrClosed, false, true},
		{io.ErrUnexpectedEOF, false, true},
		{errors.New("READONLY You can't write against a read only replica."), true, false},
		{errors.New("LOADING Redis is loading the dataset in memory"), true, false},
		{errors.New("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), true, false},
		{errors.New("CLUSTERDOWN The cluster is down"), true, false},
		{errors.New("TRYAGAIN Multiple keys request during rehashing of slot"), true, false},
		{errors.New("ERR something else"), false, true},
		{nil, false, false},
	}
	for _, tt := range tests {
		err := tt.err
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && err != redis.ErrClosed {
			err = redisErr(err.Error())
		}
		if got := notRun(err); got != tt.notRun {
			t.Errorf("notRun(%v) = %v, want %v", err, got, tt.notRun)
		}
		if got := mustReread(err); got != tt.read {
			t.Errorf("mustReread(%v) = %v, want %v", err, got, tt.read)
		}
	}
}

// redisErr is an error reply as go-redis returns it.
type redisErr string

func (e redisErr) Error() string { return string(e) }
func (redisErr) RedisError()     {}

// loseReply makes the first XREADGROUP ">" that returns entries fail as
// if the connection had dropped with its reply: Redis has delivered the
// entries (pending under the consumer), the processor never sees them.
type loseReply struct{ done atomic.Bool }

func (*loseReply) DialHook(next redis.DialHook) redis.DialHook { return next }
func (*loseReply) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h *loseReply) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		xr, ok := cmd.(*redis.XStreamSliceCmd)
		if err != nil || !ok || h.done.Load() {
			return err
		}
		args := cmd.Args()
		if args[len(args)-1] != ">" || len(xr.Val()) == 0 || len(xr.Val()[0].Messages) == 0 {
			return err
		}
		h.done.Store(true)
		cmd.SetErr(io.ErrUnexpectedEOF)
		return io.ErrUnexpectedEOF
	}
}

// TestRereadAfterLostReply: a read whose reply was lost (a failover, a
// reset connection) left entries pending under the processor's own name;
// it re-reads them (XREADGROUP from 0) before reading new ones, instead
// of leaving them to a claim (an hour away here), and counts each once.
func TestRereadAfterLostReply(t *testing.T) {
	m, c := newMiniredis(t)
	s := newSchema(t, 1)
	pc := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { pc.Close() })
	h := &loseReply{}
	pc.AddHook(h)
	r := start(t, pc, s, testConfig("a"))
	pts := genPoints(3, 30, 5)
	appendPoints(t, c, s, pts)
	waitCount(t, c, s, int64(len(pts)))
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !h.done.Load() {
		t.Fatal("no reply was lost: the test did not run its case")
	}
	checkExact(t, c, s, pts)
	if n := pendingOf(t, c, s, ""); n != 0 {
		t.Errorf("%d entries still pending", n)
	}
}
