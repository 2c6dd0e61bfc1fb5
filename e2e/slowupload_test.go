package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/redistest"
)

// slowUpload is a POST /upload sent over a raw connection in two parts:
// the headers and half the body first, the rest when the test says. In
// between, the server is serving the request (its handler is reading the
// body), which is how a test holds a request in flight across a fault.
type slowUpload struct {
	t    *testing.T
	conn net.Conn
	rest []byte
	req  *request
}

// startSlowUpload connects to addr (host:port), sends the headers and half
// the body of req, and returns once the server has read all of it (its
// socket's receive queue is empty, /proc/net/tcp): the request is then
// being served.
func startSlowUpload(t *testing.T, addr string, req *request) *slowUpload {
	t.Helper()
	return startRawUpload(t, addr, req, len(req.body)/2)
}

// startRawUpload is startSlowUpload sending the first n bytes of the body;
// with all of them, finish only reads the answer.
func startRawUpload(t *testing.T, addr string, req *request, n int) *slowUpload {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	half := n
	head := fmt.Sprintf("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", addr, len(req.body))
	if req.key != "" {
		head += "Idempotency-Key: " + req.key + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"+string(req.body[:half])); err != nil {
		t.Fatalf("write request head: %v", err)
	}
	redistest.WaitFor(t, 10*time.Second, "the server to read the request head", func() bool { return serverHasRead(t, addr, conn.LocalAddr().String()) })
	return &slowUpload{t: t, conn: conn, rest: req.body[half:], req: req}
}

// finish sends the rest of the body and reads the answer into the request.
func (s *slowUpload) finish() {
	s.req.start = time.Now()
	s.req.attempts++
	defer func() { s.req.end = time.Now() }()
	s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.conn.Write(s.rest); len(s.rest) > 0 && err != nil {
		s.req.code, s.req.err = 0, fmt.Errorf("write the rest of the body: %w", err)
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(s.conn), nil)
	if err != nil {
		s.req.code, s.req.err = 0, fmt.Errorf("read the answer: %w", err)
		return
	}
	s.req.answer, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	s.req.code, s.req.err = resp.StatusCode, err
	s.req.replayed = resp.Header.Get("Idempotent-Replayed") == "true"
}

// serverHasRead reports whether the server end of the loopback connection
// from client to server (both host:port) has an empty receive queue, read
// from /proc/net/tcp. The test is skipped where that file does not exist.
func serverHasRead(t *testing.T, server, client string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		// Linux (and CI) has it; elsewhere the test cannot observe the server.
		if redistest.Required() {
			t.Fatalf("needs /proc/net/tcp to see that the server has read a request: %v", err)
		}
		t.Skipf("needs /proc/net/tcp to see that the server has read a request: %v", err)
	}
	local, remote := procNetPort(t, server), procNetPort(t, client)
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || !strings.HasSuffix(f[1], local) || !strings.HasSuffix(f[2], remote) {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		n, err := strconv.ParseUint(rx, 16, 64)
		return err == nil && n == 0
	}
	return false // not accepted yet
}

// procNetPort returns ":PPPP", the port of a host:port as /proc/net/tcp
// writes it.
func procNetPort(t *testing.T, hostport string) string {
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(":%04X", n)
}

// waitRefused waits until addr refuses connections: the server has closed
// its listener.
func waitRefused(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	redistest.WaitFor(t, timeout, addr+" to refuse connections", func() bool {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
}
