package redistest

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds, and fails tb with what when it still
// does not after timeout: the one deadline loop of the tests. It polls
// every millisecond at first, then every 20 ms, so that short waits stay
// short and long ones cost little.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(interval) // polling interval, not synchronisation
		interval = min(2*interval, 20*time.Millisecond)
	}
}
