package redisconn

import (
	"fmt"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
)

// DefaultExpireEvery is how often an Embedded server moves its key TTLs to
// the wall clock, so a key expires at most this much (plus one sweep) late.
// At 250 ms the sweep took 6.5 % of embedded-redis's CPU in the demo
// (docs/performance.md, "What the demo costs").
const DefaultExpireEvery = time.Second

// expireCostFactor bounds the expiry sweep to about 1/expireCostFactor of a
// core: after a sweep that took d, the next one waits at least d times this.
// A sweep visits every key (miniredis sorts them all), 8.5 ms with 40,000
// keys, 61 ms with 200,000.
const expireCostFactor = 50

// Embedded is an in-memory miniredis server whose key TTLs run on the wall
// clock as on Redis. miniredis itself only moves TTLs when told
// (FastForward); without this every EXPIRE, PX or PEXPIREAT would keep its
// key forever. TIME and stream IDs already follow the wall clock (no
// SetTime), and so do (P)EXPIREAT deadlines.
type Embedded struct {
	*miniredis.Miniredis
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// StartEmbedded starts an Embedded server listening on addr (use a
// loopback address; "127.0.0.1:0" picks a free port) and its expiry
// sweep every DefaultExpireEvery. Close stops both.
func StartEmbedded(addr string) (*Embedded, error) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		return nil, fmt.Errorf("start embedded redis on %s: %w", addr, err)
	}
	e := &Embedded{Miniredis: m, stop: make(chan struct{}), done: make(chan struct{})}
	go e.expireLoop(DefaultExpireEvery)
	return e, nil
}

// expireLoop advances every TTL by the wall time elapsed since the last
// sweep (monotonic clock), until Close.
func (e *Embedded) expireLoop(every time.Duration) {
	defer close(e.done)
	last := time.Now()
	wait := every
	for {
		t := time.NewTimer(wait)
		select {
		case <-e.stop:
			t.Stop()
			return
		case <-t.C:
		}
		now := time.Now()
		e.FastForward(now.Sub(last))
		last = now
		wait = max(every, expireCostFactor*time.Since(now))
	}
}

// Close stops the expiry sweep and the server. Later calls do nothing.
func (e *Embedded) Close() {
	e.closeOnce.Do(func() {
		close(e.stop)
		<-e.done
		e.Miniredis.Close()
	})
}
