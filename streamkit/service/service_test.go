package service

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/envflag"
	"github.com/geostream/geostream/streamkit/logx"
)

func TestReadyz(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr(), MaxRetries: -1})
	defer c.Close()
	h := Readyz(c)
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 200 {
		t.Fatalf("up: %d %s", rec.Code, rec.Body)
	}
	m.Close()
	rec = httptest.NewRecorder()
	start := time.Now()
	h(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "redis is not reachable") {
		t.Fatalf("down: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if d := time.Since(start); d > ReadyTimeout+time.Second {
		t.Errorf("readyz took %v", d)
	}
	rec = httptest.NewRecorder()
	Healthz(rec, httptest.NewRequest("GET", "/healthz", nil))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("healthz: %d %v", rec.Code, rec.Header())
	}
}

func TestCommonValidate(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, ""},
		{[]string{"--partitions", "0"}, "partitions"},
		{[]string{"--key-prefix", "a{b"}, "key-prefix"},
		{[]string{"--http-addr", "nope"}, "http-addr"},
		{[]string{"--log-level", "loud"}, "log-level"},
		{[]string{"--log-format", "xml"}, "log-format"},
		{[]string{"--shutdown-grace", "0s"}, "shutdown-grace"},
		{[]string{"--resolutions", "1m:1h,90s:1h"}, "resolutions"},
	}
	for _, tt := range tests {
		var c Common
		s := envflag.New("t", func(string) (string, bool) { return "", false })
		c.Register(s, "127.0.0.1:8080")
		if err := s.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		err := c.Validate()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.wantErr)
		}
	}
}

func TestServeShutsDownGracefully(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		w.Write([]byte("done"))
	})}
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	log, _ := logx.New(&logs, "text", "info")
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, srv, ln, 5*time.Second, log) }()
	resp := make(chan string, 1)
	go func() {
		r, err := http.Get("http://" + ln.Addr().String())
		if err != nil {
			resp <- err.Error()
			return
		}
		defer r.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		resp <- b.String()
	}()
	<-started
	cancel() // shutdown begins while the request is in flight
	close(release)
	if got := <-resp; got != "done" {
		t.Errorf("in-flight request got %q, want done", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v", err)
	}
}

// selfSigned writes a self-signed certificate and its key as PEM files.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "c.crt"), filepath.Join(dir, "c.key")
	for path, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// TestCommonRedisTLS checks the Redis TLS settings: the files load, come
// in pairs, and go with rediss:// URLs only.
func TestCommonRedisTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := selfSigned(t, dir)
	for _, tt := range []struct {
		name      string
		env       map[string]string
		wantErr   string // "" for valid
		wantTLS   bool
		wantCerts int
	}{
		{name: "no files", env: map[string]string{"GEOSTREAM_REDIS_URL": "rediss://h:1"}},
		{name: "CA and client certificate", env: map[string]string{"GEOSTREAM_REDIS_URL": "rediss://u:pw@h:1",
			"GEOSTREAM_REDIS_CA_FILE": cert, "GEOSTREAM_REDIS_CERT_FILE": cert, "GEOSTREAM_REDIS_KEY_FILE": key}, wantTLS: true, wantCerts: 1},
		{name: "cluster of rediss URLs", env: map[string]string{"GEOSTREAM_REDIS_URL": "rediss://h:1, rediss://h:2",
			"GEOSTREAM_REDIS_CA_FILE": cert}, wantTLS: true},
		{name: "certificate without key", env: map[string]string{"GEOSTREAM_REDIS_URL": "rediss://h:1",
			"GEOSTREAM_REDIS_CERT_FILE": cert}, wantErr: "both its certificate file and its key file"},
		{name: "redis:// URL", env: map[string]string{"GEOSTREAM_REDIS_URL": "redis://h:1",
			"GEOSTREAM_REDIS_CA_FILE": cert}, wantErr: "need a rediss:// redis-url"},
		{name: "one redis:// URL of a cluster", env: map[string]string{"GEOSTREAM_REDIS_URL": "rediss://h:1,redis://h:2",
			"GEOSTREAM_REDIS_CA_FILE": cert}, wantErr: "need a rediss:// redis-url"},
		{name: "embedded Redis", env: map[string]string{"GEOSTREAM_REDIS_CA_FILE": cert}, wantErr: "need a rediss:// redis-url"},
		{name: "missing CA file", env: map[string]string{"GEOSTREAM_REDIS_URL": "rediss://h:1",
			"GEOSTREAM_REDIS_CA_FILE": filepath.Join(dir, "nope")}, wantErr: "read redis CA file"},
		{name: "key is not a certificate", env: map[string]string{"GEOSTREAM_REDIS_URL": "rediss://h:1",
			"GEOSTREAM_REDIS_CA_FILE": key}, wantErr: "holds no PEM certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var c Common
			s := envflag.New("t", func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			c.Register(s, "127.0.0.1:8080")
			if err := s.Parse(nil); err != nil {
				t.Fatal(err)
			}
			err := c.Validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Validate() = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc, err := c.RedisTLS()
			if err != nil || (tc != nil) != tt.wantTLS || tc != nil && len(tc.Certificates) != tt.wantCerts {
				t.Fatalf("RedisTLS() = %+v, %v", tc, err)
			}
		})
	}
}

func TestServePprof(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	var logs bytes.Buffer
	log, _ := logx.New(&logs, "text", "info")
	if err := ServePprof(ctx, addr, log); err != nil {
		t.Fatal(err)
	}
	r, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("pprof: %d", r.StatusCode)
	}
	if err := ServePprof(ctx, addr, log); err == nil {
		t.Error("second listener on the same address: want error")
	}
}

// TestListenPortInUse: a busy port is named with the flag and variable that
// move it, at once.
func TestListenPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	c := Common{HTTPAddr: busy.Addr().String()}
	_, err = c.Listen()
	if err == nil {
		t.Fatal("Listen on a busy port succeeded")
	}
	for _, want := range []string{busy.Addr().String(), "in use", "--http-addr", "GEOSTREAM_HTTP_ADDR"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	c.HTTPAddr = "127.0.0.1:0"
	ln, err := c.Listen()
	if err != nil {
		t.Fatalf("Listen on a free port: %v", err)
	}
	ln.Close()
}
