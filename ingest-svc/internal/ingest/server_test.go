package ingest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs the router behind the http.Server of cfg on a loopback port
// until the test ends, and returns its address.
func serve(t *testing.T, e *env, cfg Config) string {
	t.Helper()
	srv := cfg.HTTPServer(e.router)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// TestHTTPServerLimits checks the limits of the http.Server itself: the
// header size, and slow clients cut off by the read timeouts.
func TestHTTPServerLimits(t *testing.T) {
	e := newEnv(t)
	cfg := Config{RouterConfig: e.cfg, ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond,
		WriteTimeout: 5 * time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 4 << 10}
	addr := serve(t, e, cfg)

	t.Run("header too large", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("x", 16<<10)) // net/http allows MaxHeaderBytes + 4 KiB
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})

	t.Run("headers sent slowly", func(t *testing.T) {
		conn := dial(t, addr)
		io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\n") // and never the end of the headers
		start := time.Now()
		if n, err := conn.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("read %d bytes, %v: want the server to close the connection", n, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("closed after %v, want about the read-header timeout", d)
		}
	})

	t.Run("body sent slowly", func(t *testing.T) {
		conn := dial(t, addr)
		io.WriteString(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[")
		start := time.Now()
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status %d, want 400 (or the connection closed)", resp.StatusCode)
			}
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("answered after %v, want about the read timeout", d)
		}
		if n := e.streamLen(); n != 0 {
			t.Errorf("%d points stored", n)
		}
	})
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second)) // the test's own bound
	return conn
}
