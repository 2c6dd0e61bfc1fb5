// Package procs runs geostream's binaries as child processes of an
// end-to-end test: each one's output goes to a log file whose tail the test
// prints when it fails, and whatever is still running at the end of the
// test is killed (and, on Linux, killed by the kernel if the test process
// dies first). The e2e and e2e/cluster suites share it.
package procs

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/geostream/geostream/e2e/internal/binaries"
	"github.com/geostream/geostream/streamkit/redistest"
)

// Main builds the binaries into a temporary directory, sets *bin to them,
// runs the tests and returns their exit code: the body of a TestMain. root
// is the repository root.
func Main(m *testing.M, root string, bin *binaries.Set) int {
	flag.Parse()
	if testing.Short() {
		fmt.Println("end-to-end tests: skipped with -short (make quick); make test runs them")
		return 0
	}
	dir, err := os.MkdirTemp("", "geostream-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	abs, err := filepath.Abs(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *bin, err = binaries.Build(abs, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// Proc is a binary running as a child process of a test.
type Proc struct {
	Name string
	Log  string // file holding its output (stderr, and stdout unless Options.Stdout)
	t    testing.TB
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Options are Start's settings beyond the command line.
type Options struct {
	// Env is added to the test's environment, after GEOSTREAM_LOG_FORMAT=json
	// and GEOSTREAM_LOG_LEVEL=info (so a setting here wins).
	Env map[string]string
	// Stdout receives the process's standard output instead of the log
	// file (a report to parse). It is complete once the process has exited.
	Stdout io.Writer
}

// logTail is how much of a failed test's process logs is printed.
const logTail = 6000

// Start runs the binary at path with args. The process is killed at the end
// of the test if still running, and its log's tail printed if the test
// failed.
func Start(t testing.TB, name, path string, o Options, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, Name: name, Log: filepath.Join(t.TempDir(), name+".log"), done: make(chan struct{})}
	f, err := os.Create(p.Log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.SysProcAttr = redistest.ChildProcAttr()
	p.cmd.Stdout, p.cmd.Stderr = f, f
	if o.Stdout != nil {
		p.cmd.Stdout = o.Stdout
	}
	p.cmd.Env = append(os.Environ(), "GEOSTREAM_LOG_FORMAT=json", "GEOSTREAM_LOG_LEVEL=info")
	for k, v := range o.Env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			b, _ := os.ReadFile(p.Log)
			t.Logf("--- %s log (tail) ---\n%s", name, Tail(b, logTail))
		}
	})
	return p
}

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Send sends sig without waiting for its effect (SIGSTOP, SIGCONT, ...).
func (p *Proc) Send(sig syscall.Signal) {
	if !p.Exited() {
		p.cmd.Process.Signal(sig)
	}
}

// Kill stops the process with SIGKILL, as a crash would, and waits for it.
func (p *Proc) Kill() {
	p.Send(syscall.SIGKILL)
	<-p.done
}

// KillHolding kills the process (SIGKILL) at a moment when held() is true:
// for a processor, while entries are pending under its name, so that the
// kill leaves read but uncounted entries that only a claim can count. A
// processor between reads (applying, or lingering after a short read)
// holds nothing, and a kill at a random moment mostly finds it there. So
// the process is frozen (SIGSTOP): Redis keeps delivering new entries to
// an XREADGROUP it had sent, which it will never apply. While held() is
// false it runs again for 10-70 ms and is frozen anew, for up to timeout;
// then it is killed whatever held() says. KillHolding reports held() at
// the kill.
func (p *Proc) KillHolding(held func() bool, timeout time.Duration) bool {
	p.Send(syscall.SIGSTOP)
	deadline := time.Now().Add(timeout)
	for {
		time.Sleep(150 * time.Millisecond) // for deliveries to a read in flight
		if held() || time.Now().After(deadline) {
			break
		}
		p.Send(syscall.SIGCONT)
		time.Sleep(time.Duration(10+rand.IntN(60)) * time.Millisecond) // somewhere in its loop
		p.Send(syscall.SIGSTOP)
	}
	ok := held()
	p.Kill()
	return ok
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err is how the process ended (nil: exit status 0); nil while it runs.
func (p *Proc) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.err
}

// Terminate sends SIGTERM (a graceful shutdown) without waiting.
func (p *Proc) Terminate() { p.Send(syscall.SIGTERM) }

// Stop sends SIGTERM and waits; it fails the test when the process does not
// exit cleanly within timeout.
func (p *Proc) Stop(timeout time.Duration) {
	p.t.Helper()
	p.Terminate()
	p.WaitExit(timeout)
}

// WaitExit waits for the process to exit after Terminate; it fails the test
// when it does not exit cleanly within timeout.
func (p *Proc) WaitExit(timeout time.Duration) {
	p.t.Helper()
	if !p.Wait(timeout) {
		p.t.Errorf("%s did not exit within %v of SIGTERM", p.Name, timeout)
		return
	}
	if p.err != nil {
		p.t.Errorf("%s exited with %v after SIGTERM", p.Name, p.err)
	}
}

// Wait waits up to timeout for the process to end by itself and reports
// whether it did; if not, it is killed.
func (p *Proc) Wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		p.Kill()
		return false
	}
}

// WaitHTTP polls url until it answers status, or fails the test at timeout.
func WaitHTTP(t testing.TB, url string, status int, timeout time.Duration) {
	t.Helper()
	var last string
	defer func() { // also when WaitFor fails the test
		if last != "" {
			t.Logf("%s: last answer %s", url, last)
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	redistest.WaitFor(t, timeout, fmt.Sprintf("%s to answer %d", url, status), func() bool {
		resp, err := client.Get(url)
		if err != nil {
			last = err.Error()
			return false
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == status {
			last = ""
			return true
		}
		last = resp.Status
		return false
	})
}

// FreeAddr is a free loopback address (host:port).
func FreeAddr(t testing.TB) string {
	t.Helper()
	p, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(p)
}

// Tail is the last n bytes of b.
func Tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
