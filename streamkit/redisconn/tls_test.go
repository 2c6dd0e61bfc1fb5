package redisconn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redistest"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, and a second CA with its own client certificate (a stranger
// the server must refuse), as PEM files in a temporary directory.
type testPKI struct {
	dir                                 string
	caCert                              string
	serverCert, serverKey               string
	clientCert, clientKey               string
	strangerCA, strangerCert, strangerK string
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir()}
	ca, caKey := p.issue(t, "ca", "geostream test CA", nil, nil, true, nil)
	p.caCert = filepath.Join(p.dir, "ca.crt")
	p.serverCert, p.serverKey = p.files(t, "server", "127.0.0.1", ca, caKey,
		[]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth})
	p.clientCert, p.clientKey = p.files(t, "client", "geostream-test-client", ca, caKey,
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	sca, sKey := p.issue(t, "stranger-ca", "stranger CA", nil, nil, true, nil)
	p.strangerCA = filepath.Join(p.dir, "stranger-ca.crt")
	p.strangerCert, p.strangerK = p.files(t, "stranger", "stranger", sca, sKey,
		[]x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth})
	return p
}

// files issues a leaf certificate signed by ca and writes it and its key.
func (p *testPKI) files(t *testing.T, name, cn string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage []x509.ExtKeyUsage) (string, string) {
	t.Helper()
	p.issue(t, name, cn, ca, caKey, false, usage)
	return filepath.Join(p.dir, name+".crt"), filepath.Join(p.dir, name+".key")
}

// issue creates a certificate (self-signed when parent is nil) and writes
// name.crt and name.key.
func (p *testPKI) issue(t *testing.T, name, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey,
	isCA bool, usage []x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  usage,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(p.dir, name+".crt"), "CERTIFICATE", der)
	writePEM(t, filepath.Join(p.dir, name+".key"), "PRIVATE KEY", kder)
	return cert, key
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLSFilesConfig(t *testing.T) {
	p := newTestPKI(t)
	garbage := filepath.Join(p.dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		files     TLSFiles
		wantErr   string // "" for success
		wantRoots bool
		wantCerts int
	}{
		{name: "none", files: TLSFiles{}},
		{name: "CA only", files: TLSFiles{CAFile: p.caCert}, wantRoots: true},
		{name: "client certificate only", files: TLSFiles{CertFile: p.clientCert, KeyFile: p.clientKey}, wantCerts: 1},
		{name: "all", files: TLSFiles{CAFile: p.caCert, CertFile: p.clientCert, KeyFile: p.clientKey}, wantRoots: true, wantCerts: 1},
		{name: "certificate without key", files: TLSFiles{CertFile: p.clientCert}, wantErr: "both its certificate file and its key file"},
		{name: "key without certificate", files: TLSFiles{KeyFile: p.clientKey}, wantErr: "both its certificate file and its key file"},
		{name: "missing CA file", files: TLSFiles{CAFile: filepath.Join(p.dir, "nope.crt")}, wantErr: "read redis CA file"},
		{name: "CA file without PEM", files: TLSFiles{CAFile: garbage}, wantErr: "holds no PEM certificate"},
		{name: "key of another certificate", files: TLSFiles{CertFile: p.clientCert, KeyFile: p.strangerK}, wantErr: "load redis client certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tt.files.Config()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Config() error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "PRIVATE KEY") {
					t.Errorf("error shows key material: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.files.Empty() {
				if c != nil {
					t.Fatalf("Config() of no files = %v, want nil", c)
				}
				return
			}
			if c.MinVersion < tls.VersionTLS12 || (c.RootCAs != nil) != tt.wantRoots || len(c.Certificates) != tt.wantCerts {
				t.Errorf("Config() = min %x, roots %v, %d certificates", c.MinVersion, c.RootCAs != nil, len(c.Certificates))
			}
		})
	}
}

// TestOpenTLSOptions checks how Options.TLS combines with the URL, without
// a server.
func TestOpenTLSOptions(t *testing.T) {
	extra := &tls.Config{RootCAs: x509.NewCertPool()}
	for _, tt := range []struct {
		name, url  string
		cluster    bool
		wantErr    error
		serverName string
		skipVerify bool
	}{
		{name: "embedded", url: "", wantErr: ErrTLSNeedsRediss},
		{name: "redis://", url: "redis://127.0.0.1:7001", wantErr: ErrTLSNeedsRediss},
		{name: "redis:// cluster", url: "redis://127.0.0.1:7001,redis://127.0.0.1:7002", wantErr: ErrTLSNeedsRediss},
		{name: "rediss://", url: "rediss://u:pw@redis.example:7001", serverName: "redis.example"},
		{name: "rediss:// skip_verify", url: "rediss://redis.example:7001?skip_verify=true", serverName: "redis.example", skipVerify: true},
		// Each node is checked against the address it is dialled at.
		{name: "rediss:// cluster", url: "rediss://a.example:7001,rediss://b.example:7002", serverName: ""},
		{name: "rediss:// cluster flag", url: "rediss://a.example:7001", cluster: true, serverName: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Open(tt.url, Options{TLS: extra, Cluster: tt.cluster})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var got *tls.Config
			switch cl := c.Client.(type) {
			case *redis.Client:
				got = cl.Options().TLSConfig
			case *redis.ClusterClient:
				got = cl.Options().TLSConfig
			}
			if got == nil || got.RootCAs != extra.RootCAs || got.ServerName != tt.serverName ||
				got.InsecureSkipVerify != tt.skipVerify || got.MinVersion < tls.VersionTLS12 {
				t.Fatalf("TLS config %+v", got)
			}
			if extra.ServerName != "" {
				t.Error("Open changed the caller's tls.Config")
			}
		})
	}
}

// TestOpenURLCredentials checks that the ACL user and the password of the
// URL reach the server (miniredis here; TestOpenTLSRedisServer does it on
// a real server over TLS).
func TestOpenURLCredentials(t *testing.T) {
	m := miniredis.RunT(t)
	m.RequireUserAuth("geo", "geo-pw-3141")
	m.RequireAuth("default-pw-2718")
	for _, tt := range []struct {
		name, userinfo string
		wantErr        string
	}{
		{"acl user", "geo:geo-pw-3141@", ""},
		{"default user", ":default-pw-2718@", ""},
		{"wrong password", "geo:wrong-pw-1618@", "WRONGPASS"},
		{"no password", "", "NOAUTH"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Open("redis://"+tt.userinfo+m.Addr(), Options{MaxRetries: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = Ping(context.Background(), c.Client)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("ping: %v, want %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "pw-") {
				t.Errorf("error shows the password: %v", err)
			}
		})
	}
}

// tlsRedis is a redis-server started by a test with TLS only (no plain
// port), client certificates required, a default-user password and an ACL
// user.
type tlsRedis struct {
	addr string
	dir  string
}

const (
	tlsDefaultPassword = "default-pw-9f2c41"
	tlsUser            = "geo"
	tlsUserPassword    = "geo-pw-7d3b88"
)

// startTLSRedis starts the server with extra arguments and stops it by its
// pid when the test ends. It skips the test when redis-server is missing or
// was built without TLS, unless redistest.Required: then it fails.
func startTLSRedis(t *testing.T, p *testPKI, extra ...string) *tlsRedis {
	t.Helper()
	redistest.SkipShort(t)
	skip := t.Skipf
	if redistest.Required() {
		skip = t.Fatalf
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		skip("redis-server not installed (set GEOSTREAM_REQUIRE_REDIS=1 to make this a failure): %v", err)
	}
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsRedis{addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: t.TempDir()}
	logPath := filepath.Join(s.dir, "redis.log")
	args := append([]string{
		"--port", "0", "--tls-port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--logfile", logPath,
		"--tls-cert-file", p.serverCert, "--tls-key-file", p.serverKey, "--tls-ca-cert-file", p.caCert,
		"--tls-auth-clients", "yes",
		"--requirepass", tlsDefaultPassword,
		"--user", tlsUser, "on", ">" + tlsUserPassword, "~*", "&*", "+@all",
	}, extra...)
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = redistest.ChildProcAttr()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })

	tc, err := TLSFiles{CAFile: p.caCert, CertFile: p.clientCert, KeyFile: p.clientKey}.Config()
	if err != nil {
		t.Fatal(err)
	}
	tc.ServerName = "127.0.0.1"
	c := redis.NewClient(&redis.Options{Addr: s.addr, Password: tlsDefaultPassword, TLSConfig: tc, MaxRetries: -1})
	defer c.Close()
	t.Cleanup(func() {
		if t.Failed() {
			log, _ := os.ReadFile(logPath)
			t.Logf("last ping: %v; redis-server log:\n%s", err, log)
		}
	})
	redistest.WaitFor(t, 10*time.Second, "the TLS redis-server on "+s.addr+" to answer", func() bool {
		select {
		case <-done:
			log, _ := os.ReadFile(logPath)
			if strings.Contains(string(log), "tls") && strings.Contains(string(log), "Bad directive") {
				skip("this redis-server was built without TLS:\n%s", log)
			}
			t.Fatalf("redis-server exited during start-up:\n%s", log)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		err = c.Ping(ctx).Err()
		return err == nil
	})
	return s
}

// TestOpenTLSRedisServer connects to a real redis-server that speaks TLS
// only, requires client certificates, a password for the default user and
// has an ACL user: every credential comes from the URL, the certificates
// from TLSFiles.
func TestOpenTLSRedisServer(t *testing.T) {
	p := newTestPKI(t)
	s := startTLSRedis(t, p)
	good := TLSFiles{CAFile: p.caCert, CertFile: p.clientCert, KeyFile: p.clientKey}
	for _, tt := range []struct {
		name     string
		url      string
		files    TLSFiles
		wantUser string // ACL WHOAMI on success
		wantErr  string // part of the error, "" for success
	}{
		{name: "acl user", url: "rediss://" + tlsUser + ":" + tlsUserPassword + "@" + s.addr, files: good, wantUser: tlsUser},
		{name: "default user", url: "rediss://:" + tlsDefaultPassword + "@" + s.addr, files: good, wantUser: "default"},
		{name: "acl user, database 0 in the path", url: "rediss://" + tlsUser + ":" + tlsUserPassword + "@" + s.addr + "/0", files: good, wantUser: tlsUser},
		{name: "skip_verify without CA", url: "rediss://:" + tlsDefaultPassword + "@" + s.addr + "?skip_verify=true",
			files: TLSFiles{CertFile: p.clientCert, KeyFile: p.clientKey}, wantUser: "default"},
		{name: "wrong password", url: "rediss://" + tlsUser + ":wrong-pw-0000@" + s.addr, files: good, wantErr: "WRONGPASS"},
		{name: "no password", url: "rediss://" + s.addr, files: good, wantErr: "NOAUTH"},
		{name: "no client certificate", url: "rediss://:" + tlsDefaultPassword + "@" + s.addr, files: TLSFiles{CAFile: p.caCert}, wantErr: "certificate required"},
		{name: "client certificate of another CA", url: "rediss://:" + tlsDefaultPassword + "@" + s.addr,
			files: TLSFiles{CAFile: p.caCert, CertFile: p.strangerCert, KeyFile: p.strangerK}, wantErr: "unknown certificate authority"},
		{name: "server not signed by the CA", url: "rediss://:" + tlsDefaultPassword + "@" + s.addr,
			files: TLSFiles{CAFile: p.strangerCA, CertFile: p.clientCert, KeyFile: p.clientKey}, wantErr: "x509"},
		{name: "system roots only", url: "rediss://:" + tlsDefaultPassword + "@" + s.addr,
			files: TLSFiles{CertFile: p.clientCert, KeyFile: p.clientKey}, wantErr: "x509"},
		{name: "plain text to the TLS port", url: "redis://:" + tlsDefaultPassword + "@" + s.addr, wantErr: ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc, err := tt.files.Config()
			if err != nil {
				t.Fatal(err)
			}
			c, err := Open(tt.url, Options{TLS: tc, MaxRetries: -1, DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			who, err := c.Client.Do(ctx, "ACL", "WHOAMI").Text()
			fail := tt.wantErr != "" || tt.wantUser == ""
			switch {
			case !fail && err != nil:
				t.Fatalf("ACL WHOAMI: %v", err)
			case !fail && who != tt.wantUser:
				t.Fatalf("ACL WHOAMI = %q, want %q", who, tt.wantUser)
			case fail && err == nil:
				t.Fatalf("ACL WHOAMI = %q, want an error", who)
			case fail && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if err != nil && (strings.Contains(err.Error(), "-pw-") || strings.Contains(err.Error(), "PRIVATE KEY")) {
				t.Errorf("error shows a secret: %v", err)
			}
			if err == nil {
				// A write and a read through the ACL user's permissions.
				k := "tls-test:" + tt.name
				if err := c.Client.Set(ctx, k, "v", time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
				if v, err := c.Client.Get(ctx, k).Result(); err != nil || v != "v" {
					t.Fatalf("get: %q %v", v, err)
				}
			}
		})
	}
}

// TestOpenTLSRedisCluster connects to a one-node Redis Cluster over TLS
// (cluster bus over TLS too): the ClusterClient learns the node from
// CLUSTER SLOTS and checks its certificate against the address it dials.
func TestOpenTLSRedisCluster(t *testing.T) {
	p := newTestPKI(t)
	busPort, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	s := startTLSRedis(t, p, "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--cluster-port", strconv.Itoa(busPort), "--tls-cluster", "yes",
		"--cluster-announce-ip", "127.0.0.1") // a lone node has not learned its address from a peer
	tc, err := TLSFiles{CAFile: p.caCert, CertFile: p.clientCert, KeyFile: p.clientKey}.Config()
	if err != nil {
		t.Fatal(err)
	}
	url := "rediss://" + tlsUser + ":" + tlsUserPassword + "@" + s.addr
	single, err := Open(url, Options{TLS: tc, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := single.Client.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatalf("cluster addslotsrange: %v", err)
	}
	redistest.WaitFor(t, 15*time.Second, "cluster_state:ok", func() bool {
		info, err := single.Client.Do(ctx, "CLUSTER", "INFO").Text()
		if err != nil {
			t.Fatalf("cluster info: %v", err)
		}
		return strings.Contains(info, "cluster_state:ok")
	})

	cc, err := Open(url, Options{TLS: tc, Cluster: true, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if _, ok := cc.Client.(*redis.ClusterClient); !ok {
		t.Fatalf("client %T, want a ClusterClient", cc.Client)
	}
	for i := range 20 { // keys on many slots, all on the one node
		k := fmt.Sprintf("tls-cluster:%d", i)
		if err := cc.Client.Set(ctx, k, i, time.Minute).Err(); err != nil {
			t.Fatalf("set %s: %v", k, err)
		}
		if v, err := cc.Client.Get(ctx, k).Int(); err != nil || v != i {
			t.Fatalf("get %s: %d %v", k, v, err)
		}
	}
}
