// Package redistest starts real redis-server processes for integration
// tests: each on a free loopback port, in its own temporary directory, stopped
// by its pid when the test ends. It never touches a Redis the machine already
// runs.
//
// When redis-server is not installed the test is skipped, except when the
// environment variable CI or GEOSTREAM_REQUIRE_REDIS is set: then it fails,
// so that CI cannot silently skip an integration test.
package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server started by a test.
type Server struct {
	tb   testing.TB
	Addr string // host:port
	Dir  string // working directory (AOF and RDB files)
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// Required reports whether a missing redis-server must fail the test.
func Required() bool {
	return os.Getenv("CI") != "" || os.Getenv("GEOSTREAM_REQUIRE_REDIS") != ""
}

// SkipShort skips an integration test under -short (make quick); make test
// and CI run without it.
func SkipShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("integration test: skipped with -short (make quick); make test runs it")
	}
}

// Start starts redis-server with extra configuration arguments (for example
// "--appendonly", "yes") and registers its shutdown with tb.Cleanup.
func Start(tb testing.TB, args ...string) *Server {
	tb.Helper()
	SkipShort(tb)
	if _, err := exec.LookPath("redis-server"); err != nil {
		if Required() {
			tb.Fatalf("redis-server not found and CI/GEOSTREAM_REQUIRE_REDIS is set: %v", err)
		}
		tb.Skipf("redis-server not installed (set GEOSTREAM_REQUIRE_REDIS=1 to make this a failure): %v", err)
	}
	s := &Server{tb: tb, Dir: tb.TempDir(), args: args}
	port, err := FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	s.start()
	tb.Cleanup(s.Kill)
	return s
}

// URL returns the redis:// URL of the server.
func (s *Server) URL() string { return "redis://" + s.Addr }

// Client returns a go-redis client of the server, closed at cleanup.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr})
	s.tb.Cleanup(func() { c.Close() })
	return c
}

// Pid returns the process id of the running server, 0 when stopped.
func (s *Server) Pid() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

func (s *Server) start() {
	s.tb.Helper()
	_, port, _ := net.SplitHostPort(s.Addr)
	args := append([]string{
		"--port", port, "--bind", "127.0.0.1", "--dir", s.Dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "yes",
		"--logfile", filepath.Join(s.Dir, "redis.log"),
	}, s.args...)
	s.cmd, s.done = Launch(s.tb, s.Addr, s.Dir, args...)
}

// Launch runs redis-server with args in dir, its log in dir/redis.log (args
// must say so: --logfile, or logfile in a configuration file), and waits
// until it answers PING on addr; else it fails tb with the log. done is
// closed when the process exits.
func Launch(tb testing.TB, addr, dir string, args ...string) (cmd *exec.Cmd, done chan struct{}) {
	tb.Helper()
	cmd = exec.Command("redis-server", args...)
	cmd.Dir = dir
	cmd.SysProcAttr = ChildProcAttr()
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start redis-server: %v", err)
	}
	done = make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer c.Close()
	if err := waitPing(c, done, 10*time.Second); err != nil {
		cmd.Process.Kill()
		<-done
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		tb.Fatalf("redis-server %v on %s: %v\n%s", args, addr, err, log)
	}
	return cmd, done
}

// waitPing polls c with PING until it answers, the server's process exits
// (done is closed), or timeout passes.
func waitPing(c redis.Cmdable, done <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("exited during start-up")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it.
// It is safe to call on a stopped server.
func (s *Server) Kill() { s.signal(syscall.SIGKILL) }

func (s *Server) signal(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	pid := s.cmd.Process.Pid
	SignalGroup(pid, sig)
	<-s.done
	s.cmd = nil
	WaitFor(s.tb, 5*time.Second, "the processes redis-server forked to exit", func() bool { return GroupGone(pid) })
}

// Restart starts the server again on the same port and directory, so that it
// reloads its AOF. The server must be stopped.
func (s *Server) Restart() {
	s.tb.Helper()
	if s.cmd != nil {
		s.tb.Fatal("redistest: Restart of a running server")
	}
	s.start()
}

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
