package suite

import (
	"sync/atomic"
	"testing"
	"time"
)

// every calls f at once and again until stopped, and not after stop
// returns; stop may be called twice.
func TestEvery(t *testing.T) {
	var n atomic.Int64
	stop := every(time.Millisecond, func() { n.Add(1) })
	for n.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	stop()
	after := n.Load()
	time.Sleep(10 * time.Millisecond)
	stop()
	if n.Load() != after {
		t.Errorf("f ran %d times after stop returned", n.Load()-after)
	}
}
