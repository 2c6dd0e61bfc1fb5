package redisconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// ErrTLSNeedsRediss means TLS settings (Options.TLS) were given for a URL
// that does not ask for TLS: a redis:// URL, or none (the embedded server).
// Connecting in clear text although certificates were configured would
// hide a mistake, so Open refuses.
var ErrTLSNeedsRediss = errors.New("TLS settings (CA, client certificate) need a rediss:// URL")

// TLSFiles names the PEM files of a TLS connection to Redis. The zero value
// names none: a rediss:// URL then verifies the server against the
// system's root CAs and sends no client certificate.
type TLSFiles struct {
	// CAFile holds the certificates of the CAs that sign the server's
	// certificate; empty means the system's roots.
	CAFile string
	// CertFile and KeyFile are the client's certificate (chain) and its
	// private key, for a server started with tls-auth-clients yes. Both or
	// neither.
	CertFile, KeyFile string
}

// Empty reports whether no file is named.
func (f TLSFiles) Empty() bool { return f.CAFile == "" && f.CertFile == "" && f.KeyFile == "" }

// Check reports settings that cannot work without reading the files: a
// certificate without its key or a key without its certificate.
func (f TLSFiles) Check() error {
	if (f.CertFile == "") != (f.KeyFile == "") {
		return errors.New("a client certificate needs both its certificate file and its key file")
	}
	return nil
}

// Config loads the files into a TLS configuration (TLS 1.2 at least), for
// Options.TLS; nil and no error when no file is named. The files are read
// once: a rotated certificate takes effect at the next start.
func (f TLSFiles) Config() (*tls.Config, error) {
	if f.Empty() {
		return nil, nil
	}
	if err := f.Check(); err != nil {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CAFile != "" {
		pem, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read redis CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis CA file %s holds no PEM certificate", f.CAFile)
		}
		c.RootCAs = pool
	}
	if f.CertFile != "" {
		// The error names the files, never their contents.
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load redis client certificate %s and key %s: %w", f.CertFile, f.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// tlsConfig merges Options.TLS into the TLS configuration a URL asked for
// (fromURL; nil for redis://). The URL keeps what it says (rediss://, the
// server name, skip_verify); Options.TLS adds the CAs and the client
// certificate.
//
// For Redis Cluster the server name is left empty, so that crypto/tls
// checks each node's certificate against the address that node is dialled
// at: the nodes a cluster announces are not the seed of the URL.
func (o Options) tlsConfig(fromURL *tls.Config, cluster bool) (*tls.Config, error) {
	if o.TLS == nil {
		return fromURL, nil
	}
	if fromURL == nil {
		return nil, ErrTLSNeedsRediss
	}
	c := o.TLS.Clone()
	if c.ServerName == "" && !cluster {
		c.ServerName = fromURL.ServerName
	}
	if fromURL.InsecureSkipVerify {
		c.InsecureSkipVerify = true // the URL's skip_verify=true, as go-redis would
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c, nil
}
