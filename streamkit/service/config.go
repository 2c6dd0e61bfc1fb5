package service

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/geostream/geostream/streamkit/envflag"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/logx"
	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/window"
)

// DefaultShutdownGrace is how long in-flight work may take after SIGTERM.
const DefaultShutdownGrace = 10 * time.Second

// Common is the configuration every geostream service shares. Embed it in a
// service's Config and call Register before parsing.
type Common struct {
	// RedisURL selects Redis (see package redisconn); empty runs an embedded
	// miniredis in the process. Secret: its password is masked in logs.
	RedisURL string
	// RedisCluster selects Redis Cluster for a single seed URL.
	RedisCluster bool
	// RedisCAFile, RedisCertFile and RedisKeyFile are PEM files for a
	// rediss:// URL: the CAs that sign the server's certificate (empty: the
	// system's roots) and a client certificate and key (both or neither,
	// for a server with tls-auth-clients yes). See redisconn.TLSFiles.
	RedisCAFile, RedisCertFile, RedisKeyFile string
	// Partitions is the number of partition streams; default
	// keys.DefaultPartitions. Fixed per deployment (checked at start-up).
	Partitions int
	// KeyPrefix starts every Redis key; default keys.DefaultPrefix.
	KeyPrefix string
	// HTTPAddr is the listen address of the service's HTTP server.
	HTTPAddr string
	// LogFormat is text, json or auto (text on a terminal); default auto.
	LogFormat string
	// LogLevel is debug, info, warn or error; default info.
	LogLevel string
	// ShutdownGrace bounds the graceful shutdown; default DefaultShutdownGrace.
	ShutdownGrace time.Duration
	// PprofAddr serves net/http/pprof on its own listener when set; empty
	// (the default) serves no profiles.
	PprofAddr string
	// Resolutions are the time-bucket resolutions and retentions the
	// processor keeps and ingest reads (window.Parse syntax); default
	// window.DefaultSpec. Pinned in Redis like the partition count.
	Resolutions string
}

// Register defines the common flags on s with the service's default listen
// address.
func (c *Common) Register(s *envflag.Set, defaultHTTPAddr string) {
	s.Secret(&c.RedisURL, "redis-url", "", "Redis URL: redis://[user:password@]host:port[/db], rediss:// for TLS, several comma-separated for Redis Cluster, redis+sentinel://[user:password@]host:26379[,host:26379...]/master[/db] for Sentinel; empty runs an embedded in-memory Redis")
	s.Bool(&c.RedisCluster, "redis-cluster", false, "treat the Redis URL as a Redis Cluster seed")
	s.String(&c.RedisCAFile, "redis-ca-file", "", "PEM file of the CAs that sign the Redis server's certificate (rediss:// only; empty: the system's roots)")
	s.String(&c.RedisCertFile, "redis-cert-file", "", "PEM file of the client certificate presented to Redis (rediss:// only; with --redis-key-file)")
	s.String(&c.RedisKeyFile, "redis-key-file", "", "PEM file of the client certificate's private key (rediss:// only; with --redis-cert-file)")
	s.Int(&c.Partitions, "partitions", keys.DefaultPartitions, "number of partition streams (fixed per deployment)")
	s.String(&c.KeyPrefix, "key-prefix", keys.DefaultPrefix, "prefix of every Redis key")
	s.String(&c.HTTPAddr, "http-addr", defaultHTTPAddr, "HTTP listen address")
	s.String(&c.LogFormat, "log-format", "auto", "log format: text, json or auto (text on a terminal)")
	s.String(&c.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	s.Duration(&c.ShutdownGrace, "shutdown-grace", DefaultShutdownGrace, "time in-flight work may take after SIGTERM")
	s.String(&c.PprofAddr, "pprof-addr", "", "serve Go runtime profiles (net/http/pprof) on this address; empty = off (keep it private)")
	s.String(&c.Resolutions, "resolutions", window.DefaultSpec, "time buckets kept: comma-separated size:retention[:device-retention] (fixed per deployment)")
}

// Validate checks the common settings.
func (c *Common) Validate() error {
	var errs []error
	if c.Partitions < 1 || c.Partitions > keys.MaxPartitions {
		errs = append(errs, fmt.Errorf("partitions must be 1..%d, got %d", keys.MaxPartitions, c.Partitions))
	}
	if c.KeyPrefix == "" || strings.ContainsAny(c.KeyPrefix, "{} \t\n") {
		errs = append(errs, fmt.Errorf("key-prefix %q must be non-empty without braces or spaces", c.KeyPrefix))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("http-addr %q: %w", c.HTTPAddr, err))
	}
	if _, err := logx.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	switch c.LogFormat {
	case "text", "json", "auto":
	default:
		errs = append(errs, fmt.Errorf("log-format %q: want text, json or auto", c.LogFormat))
	}
	if c.PprofAddr != "" {
		if _, _, err := net.SplitHostPort(c.PprofAddr); err != nil {
			errs = append(errs, fmt.Errorf("pprof-addr %q: %w", c.PprofAddr, err))
		}
	}
	if _, err := window.Parse(c.resolutions()); err != nil {
		errs = append(errs, fmt.Errorf("resolutions: %w", err))
	}
	if c.ShutdownGrace <= 0 {
		errs = append(errs, fmt.Errorf("shutdown-grace must be positive, got %v", c.ShutdownGrace))
	}
	errs = append(errs, c.validateTLS())
	return errors.Join(errs...)
}

// redisTLSFiles returns the Redis TLS settings.
func (c *Common) redisTLSFiles() redisconn.TLSFiles {
	return redisconn.TLSFiles{CAFile: c.RedisCAFile, CertFile: c.RedisCertFile, KeyFile: c.RedisKeyFile}
}

// validateTLS checks that the TLS files come in working combinations, are
// readable and go with rediss:// URLs only: certificates given for a
// redis:// URL would otherwise be ignored and the connection left in clear
// text.
func (c *Common) validateTLS() error {
	f := c.redisTLSFiles()
	if f.Empty() {
		return nil
	}
	if err := f.Check(); err != nil {
		return fmt.Errorf("redis-cert-file, redis-key-file: %w", err)
	}
	if redisconn.IsSentinelURL(c.RedisURL) {
		if !strings.HasPrefix(strings.TrimSpace(c.RedisURL), "rediss+sentinel://") {
			return errors.New("redis-ca-file, redis-cert-file and redis-key-file need a rediss+sentinel:// redis-url")
		}
		_, err := f.Config()
		return err
	}
	for _, u := range strings.Split(c.RedisURL, ",") {
		if !strings.HasPrefix(strings.TrimSpace(u), "rediss://") {
			return errors.New("redis-ca-file, redis-cert-file and redis-key-file need a rediss:// redis-url (every URL of a cluster)")
		}
	}
	if _, err := f.Config(); err != nil {
		return err
	}
	return nil
}

// RedisTLS returns the TLS settings for redisconn.Options.TLS: nil when no
// file is configured (a rediss:// URL then uses the system's roots).
func (c *Common) RedisTLS() (*tls.Config, error) { return c.redisTLSFiles().Config() }

func (c *Common) resolutions() string {
	if c.Resolutions == "" {
		return window.DefaultSpec
	}
	return c.Resolutions
}

// Windows returns the configured bucket resolutions.
func (c *Common) Windows() (window.Set, error) { return window.Parse(c.resolutions()) }

// MetaPins returns the settings besides the partition count that every
// service must agree on, for redisconn.CheckMeta.
func (c *Common) MetaPins() ([]redisconn.Pin, error) {
	w, err := c.Windows()
	if err != nil {
		return nil, err
	}
	return []redisconn.Pin{{Field: "resolutions", Value: w.String()}}, nil
}

// Schema returns the key schema of the configured prefix and partitions.
func (c *Common) Schema() (*keys.Schema, error) { return keys.New(c.KeyPrefix, c.Partitions) }

// Logger builds the configured logger writing to w.
func (c *Common) Logger(w io.Writer) (*slog.Logger, error) {
	return logx.New(w, c.LogFormat, c.LogLevel)
}
