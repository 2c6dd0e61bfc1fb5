// Package harness starts and stops the processes a benchmark run measures:
// a redis-server of its own, the geostream binaries and the no-op server,
// each on a free loopback port, each stopped by its pid. Children are also
// killed by the kernel if the benchmark itself dies (Pdeathsig), so a run
// never leaves a process behind.
package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a child process started by Start.
type Proc struct {
	Name string
	Addr string // host:port of its HTTP server, when it has one
	Log  string // file holding its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// Start runs path with args, its output appended to dir/name.log.
func Start(dir, name, path string, args ...string) (*Proc, error) {
	p := &Proc{Name: name, Log: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Dir = dir
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// StartHTTP is Start for a server listening on addr, and waits until
// GET http://addr+readyPath answers 200.
func StartHTTP(dir, name, addr, readyPath, path string, args ...string) (*Proc, error) {
	p, err := Start(dir, name, path, args...)
	if err != nil {
		return nil, err
	}
	p.Addr = addr
	if err := p.waitReady(readyPath, 15*time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s: %w\n%s", name, err, tail(p.Log, 20))
	}
	return p, nil
}

// URL returns the base URL of the process's HTTP server.
func (p *Proc) URL() string { return "http://" + p.Addr }

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

func (p *Proc) waitReady(path string, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.Get(p.URL() + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited during start-up: %v", p.err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %v: %w", timeout, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// Stop sends SIGTERM, waits up to 5 s, then SIGKILL. Safe to call twice.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// PeakRSS returns the process's peak resident set size (VmHWM) in bytes.
func (p *Proc) PeakRSS() (int64, error) { return PeakRSS(p.Pid()) }

// PeakRSS returns VmHWM of process pid in bytes.
func PeakRSS(pid int) (int64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("peak rss: %w", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("peak rss: %q: %w", v, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("peak rss: no VmHWM line")
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Run runs a short-lived command with a deadline and returns its combined
// output; the process is killed (by its pid, through exec) when ctx ends.
func Run(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", name, err, out)
	}
	return string(out), nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Output runs a short-lived command with a deadline and returns its
// standard output; its standard error is part of the error when it fails.
func Output(ctx context.Context, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w\n%s", name, err, stderr.String())
	}
	return stdout.String(), nil
}
