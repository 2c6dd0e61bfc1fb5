package redistest

import (
	"testing"
	"time"
)

// WaitFor polls cond every 20 ms until it holds, and fails tb with what
// when it still does not after timeout: the one deadline loop of the tests.
func WaitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}
