package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/ingest-svc/internal/apikey"
)

// Secrets of TestRunKeepsSecrets: none may show in a log line, an answer
// or /metrics.
const (
	secretRedisPassword = "redis-pw-c0ffee-4242"
	secretWriterKey     = "gs_secret-writer-key-aaaaaaaaaaaaaaaaaaaaaaaaa"
	secretReaderKey     = "gs_secret-reader-key-bbbbbbbbbbbbbbbbbbbbbbbbb"
	secretTruckKey      = "gs_secret-truck-key-cccccccccccccccccccccccccc"
	secretMetricsKey    = "gs_secret-metrics-key-ddddddddddddddddddddddddd"
	secretWrongKey      = "gs_secret-wrong-key-eeeeeeeeeeeeeeeeeeeeeeeeee"
)

// redisLogger sends go-redis's own log lines (dial failures and the like)
// to w, so that the test sees them too.
type redisLogger struct{ l *log.Logger }

func (r redisLogger) Printf(_ context.Context, format string, v ...any) { r.l.Printf(format, v...) }

// TestRunKeepsSecrets runs the service with a Redis password and API keys
// (from a file and from the environment), makes good and failing requests
// (no key, a wrong key, a forbidden one, a bad body, Redis gone), and
// checks that no secret shows in the logs, the answers or /metrics.
func TestRunKeepsSecrets(t *testing.T) {
	m := miniredis.RunT(t)
	m.RequireUserAuth("geo", secretRedisPassword)
	var logs syncBuffer
	redis.SetLogger(redisLogger{log.New(&logs, "redis: ", 0)})
	t.Cleanup(func() { redis.SetLogger(redisLogger{log.New(os.Stderr, "redis: ", log.LstdFlags)}) })

	keyFile := filepath.Join(t.TempDir(), "keys.txt")
	fileDefs := "# geostream keys\nwriter " + apikey.Hash(secretWriterKey) + " write\n" +
		"truck " + apikey.Hash(secretTruckKey) + " write,read truck-\n"
	if err := os.WriteFile(keyFile, []byte(fileDefs), 0o600); err != nil {
		t.Fatal(err)
	}
	envDefs := "reader " + apikey.Hash(secretReaderKey) + " read; prom " + apikey.Hash(secretMetricsKey) + " metrics"
	base, _ := startRun(t, []string{"--redis-url", "redis://geo:" + secretRedisPassword + "@" + m.Addr(),
		"--api-keys-file", keyFile, "--redis-timeout", "1s"},
		map[string]string{"GEOSTREAM_API_KEYS": envDefs}, &logs)

	var answers strings.Builder
	do := func(method, path, body, key string, want int) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Fprintf(&answers, "%s %s → %d %v %s\n", method, path, resp.StatusCode, resp.Header, b)
		if resp.StatusCode != want {
			t.Errorf("%s %s: %d, want %d: %s", method, path, resp.StatusCode, want, b)
		}
	}
	point := `{"latitude": 52.5, "longitude": 13.4, "device_id": "truck-1"}`
	do("POST", "/upload", point, secretWriterKey, 200)
	do("POST", "/upload", point, secretTruckKey, 200)
	do("POST", "/upload", point, "", 401)
	do("POST", "/upload", point, secretWrongKey, 401)
	do("POST", "/upload", point, secretReaderKey, 403)
	do("POST", "/upload", strings.Replace(point, "truck-1", "car-1", 1), secretTruckKey, 403)
	do("POST", "/upload", `{"latitude": 91}`, secretWriterKey, 400)
	do("GET", "/retrieve", "", secretReaderKey, 400) // no processor: no data
	do("GET", "/retrieve?device_id=car-1", "", secretTruckKey, 403)
	do("GET", "/devices", "", secretTruckKey, 200)
	do("GET", "/metrics", "", secretReaderKey, 403)
	m.Close() // Redis fails
	do("POST", "/upload", point, secretWriterKey, 503)
	do("GET", "/devices/truck-1", "", secretReaderKey, 503)
	do("GET", "/readyz", "", "", 503)
	do("GET", "/metrics", "", secretMetricsKey, 200)
	scrape := answers.String()

	// Start-up failures: a wrong Redis password, a broken key file.
	m2 := miniredis.RunT(t)
	m2.RequireUserAuth("geo", "another-"+secretRedisPassword)
	err := run(context.Background(), []string{"--redis-url", "redis://geo:" + secretRedisPassword + "@" + m2.Addr(),
		"--api-keys-file", keyFile, "--log-format", "json"}, env(nil), &logs, &logs)
	if err == nil {
		t.Fatal("run with a wrong Redis password started")
	}
	errs := err.Error()
	err = run(context.Background(), nil, env(map[string]string{"GEOSTREAM_API_KEYS": "writer " + secretWriterKey + " write"}), &logs, &logs)
	if err == nil || !strings.Contains(err.Error(), "the hash must start with sha256:") {
		t.Fatalf("run with a plaintext key in GEOSTREAM_API_KEYS: %v", err)
	}
	errs += "\n" + err.Error()

	everything := logs.String() + scrape + errs
	for _, s := range []string{secretRedisPassword, secretWriterKey, secretReaderKey, secretTruckKey, secretMetricsKey, secretWrongKey,
		apikey.Hash(secretReaderKey)[7:], apikey.Hash(secretWriterKey)[7:]} {
		if i := strings.Index(everything, s); i >= 0 {
			t.Errorf("secret %.16q… shows up: …%s…", s, everything[max(0, i-200):min(len(everything), i+100)])
		}
	}
	// The test looked at the right things.
	for _, want := range []string{`"msg":"authentication on"`, `"api_keys":4`, `"api-keys":"xxxxx"`, `"redis-url":"redis://geo:xxxxx@`,
		`"key":"writer"`, `"reason":"invalid_key"`, `"msg":"upload not stored"`, "connection refused",
		`geostream_ingest_requests_refused_total{key="",reason="invalid_key"} 1`,
		`geostream_ingest_requests_refused_total{key="truck",reason="device"} 2`, "→ 503"} {
		if !strings.Contains(everything, want) {
			t.Errorf("the captured output lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("logs:\n%s\nanswers:\n%s", logs.String(), scrape)
	}
}

// TestRunAuthConfig checks the start-up decisions about authentication.
func TestRunAuthConfig(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, []byte("# no keys yet\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
	}{
		{name: "require-auth without keys", args: []string{"--require-auth"}, wantErr: "require-auth is set but neither api-keys-file nor api-keys is"},
		{name: "empty key file", args: []string{"--api-keys-file", empty}, wantErr: "no API key is configured"},
		{name: "missing key file", env: map[string]string{"GEOSTREAM_API_KEYS_FILE": filepath.Join(dir, "nope")}, wantErr: "no such file"},
		{name: "burst under the batch", args: []string{"--rate-burst", "10", "--max-batch", "100"}, wantErr: "rate-burst (10) must be at least max-batch (100)"},
		{name: "header limit", args: []string{"--max-header-bytes", "100"}, wantErr: "max-header-bytes must be 4096..1048576"},
		{name: "TLS files for redis://", args: []string{"--redis-url", "redis://127.0.0.1:1", "--redis-ca-file", empty}, wantErr: "need a rediss:// redis-url"},
		{name: "TLS CA without certificates", args: []string{"--redis-url", "rediss://127.0.0.1:1", "--redis-ca-file", empty}, wantErr: "holds no PEM certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var out syncBuffer
			err := run(context.Background(), tt.args, env(tt.env), &out, &out)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("run error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	// Without keys on loopback: a quiet note, no warning.
	var logs syncBuffer
	startRun(t, nil, nil, &logs)
	if !strings.Contains(logs.String(), "authentication off (no API keys configured)") || strings.Contains(logs.String(), "AUTHENTICATION IS OFF") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// TestKeygen checks that ingest-svc keygen prints a key and a key-file
// line that authenticates it with the scopes and prefixes asked for.
func TestKeygen(t *testing.T) {
	var out, errOut syncBuffer
	if err := run(context.Background(), []string{"keygen", "--id", "fleet", "--scopes", "write", "--prefixes", "truck-,van-"},
		env(nil), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("keygen printed %q", out.String())
	}
	key, line := lines[1], lines[3]
	if strings.Contains(line, key) {
		t.Fatal("the key-file line holds the key")
	}
	ks, err := apikey.Load("", line)
	if err != nil {
		t.Fatal(err)
	}
	k := ks.Authenticate(key)
	if k == nil || k.ID != "fleet" || !k.Has(apikey.ScopeWrite) || k.Has(apikey.ScopeRead) || !k.Allows("van-3") || k.Allows("car-1") {
		t.Fatalf("key from keygen: %+v", k)
	}
	for _, tt := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"keygen"}, "--id is required"},
		{[]string{"keygen", "--id", "x", "--scopes", "admin"}, `unknown scope "admin"`},
		{[]string{"keygen", "--id", "x", "--prefixes", "a b"}, "want <id>"},
		{[]string{"keygen", "--id", "x", "extra"}, "unexpected arguments"},
	} {
		if err := run(context.Background(), tt.args, env(nil), &out, &errOut); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.wantErr)
		}
	}
}

// selfSignedPEM writes a self-signed certificate for 127.0.0.1, good as
// CA, server and client certificate, and its key.
func selfSignedPEM(t *testing.T, dir string) (certFile, keyFile string, cert tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if cert, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, cert
}

// TestRunRedisTLS checks that the --redis-* TLS flags reach the client: the
// service stores a point in a Redis that speaks TLS only and wants a client
// certificate (miniredis here; streamkit/redisconn tests a real
// redis-server).
func TestRunRedisTLS(t *testing.T) {
	certFile, keyFile, cert := selfSignedPEM(t, t.TempDir())
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	m := miniredis.NewMiniRedis()
	if err := m.StartTLS(&tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	m.RequireUserAuth("geo", secretRedisPassword)

	var logs syncBuffer
	base, _ := startRun(t, []string{"--redis-url", "rediss://geo:" + secretRedisPassword + "@" + m.Addr(),
		"--redis-ca-file", certFile, "--redis-cert-file", certFile, "--redis-key-file", keyFile}, nil, &logs)
	resp, err := http.Post(base+"/upload", "application/json", strings.NewReader(`{"latitude": 1, "longitude": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload over TLS: %d\n%s", resp.StatusCode, logs.String())
	}
	if n := len(m.Keys()); n < 2 {
		t.Errorf("redis holds %d keys, want the meta and a stream", n)
	}
	// Without the client certificate the service cannot start.
	err = run(context.Background(), []string{"--redis-url", "rediss://geo:" + secretRedisPassword + "@" + m.Addr(),
		"--redis-ca-file", certFile, "--redis-timeout", "1s"}, env(nil), &logs, &logs)
	if err == nil || strings.Contains(err.Error(), secretRedisPassword) {
		t.Fatalf("run without a client certificate: %v", err)
	}
}
