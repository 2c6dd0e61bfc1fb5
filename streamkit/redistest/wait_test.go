package redistest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fatalTB records Fatalf and stops the caller, as testing.T's does.
type fatalTB struct {
	testing.TB
	msg string
}

type stopped struct{}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(stopped{})
}

// waitFor runs WaitFor on a fatalTB and returns its failure, "" for none.
func waitFor(timeout time.Duration, cond func() bool) (msg string) {
	tb := &fatalTB{}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopped); !ok {
				panic(r)
			}
			msg = tb.msg
		}
	}()
	WaitFor(tb, timeout, "the thing", cond)
	return ""
}

func TestWaitFor(t *testing.T) {
	n := 0
	if msg := waitFor(5*time.Second, func() bool { n++; return n == 5 }); msg != "" || n != 5 {
		t.Errorf("a condition true on the 5th call: failure %q after %d calls", msg, n)
	}
	if msg := waitFor(30*time.Millisecond, func() bool { return false }); !strings.Contains(msg, "waiting for the thing") {
		t.Errorf("a condition never true: failure %q, want one naming what was awaited", msg)
	}
}
