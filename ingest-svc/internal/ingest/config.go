// Package ingest is ingest-svc: the HTTP API that stores uploaded points in
// the partition streams (POST /upload) and answers from the aggregates the
// processors keep: summaries of all time, of time ranges and series
// (GET /retrieve), and devices with their last positions (GET /devices,
// GET /devices/{id}). GET /openapi.json describes it.
package ingest

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/geostream/geostream/streamkit/envflag"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/service"
)

// Defaults of ingest-svc's settings.
const (
	// DefaultHTTPAddr is where the API listens.
	DefaultHTTPAddr = "127.0.0.1:8080"
	// DefaultMaxBodyBytes bounds a request body, before and after gzip
	// decompression: 8 MiB.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxBatch is the most points one upload may hold.
	DefaultMaxBatch = 10_000
	// DefaultRedisTimeout bounds the Redis work of one request.
	DefaultRedisTimeout = 2 * time.Second
	// DefaultBacklogLimit is how many entries a partition stream may hold
	// (points not yet processed and trimmed) before uploads to it are
	// refused.
	DefaultBacklogLimit = 1_000_000
	// DefaultMaxClockSkew is how far in the future a point's timestamp may be.
	DefaultMaxClockSkew = point.DefaultMaxClockSkew
	// DefaultIdempotencyTTL is how long an Idempotency-Key is remembered.
	DefaultIdempotencyTTL = 24 * time.Hour
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to the
	// end of the response.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may sit idle.
	DefaultIdleTimeout = 120 * time.Second
)

// Hard bounds of the settings.
const (
	// MaxMaxBodyBytes bounds --max-body-bytes: a body is held in memory
	// whole (compressed and decompressed), so it must stay far below the
	// machine's memory even with many requests in flight.
	MaxMaxBodyBytes = 1 << 30
	// MaxMaxBatch bounds --max-batch. One partition's points go to Redis in
	// one script call of up to 17 arguments a point; older Redis versions
	// refuse calls of more than 1,048,576 arguments, and one call of 50,000
	// points already blocks Redis for tens of milliseconds.
	MaxMaxBatch = 50_000
)

// RouterConfig is what the HTTP handlers need to know: limits and timeouts
// of a request.
type RouterConfig struct {
	// MaxBodyBytes is the largest accepted request body in bytes, both as
	// sent and after gzip decompression (a "gzip bomb" is cut off there);
	// larger is 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxBatch is the most points one upload may hold; more is 413.
	// Default DefaultMaxBatch.
	MaxBatch int
	// RedisTimeout bounds the Redis work of one request; a request whose
	// writes have not all finished by then answers 503. It is also the
	// client's dial, read and write timeout. Default DefaultRedisTimeout.
	RedisTimeout time.Duration
	// BacklogLimit refuses uploads to a partition whose stream holds this
	// many entries (503): the processors are behind, and accepting more
	// would only grow Redis's memory. 0 turns the limit off. Default
	// DefaultBacklogLimit.
	BacklogLimit int64
	// MaxClockSkew is how far after the server's clock a point's timestamp
	// may be. Default DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered: a retry
	// within it is stored once. Default DefaultIdempotencyTTL.
	IdempotencyTTL time.Duration
}

// DefaultRouterConfig returns the default limits.
func DefaultRouterConfig() RouterConfig {
	return RouterConfig{
		MaxBodyBytes:   DefaultMaxBodyBytes,
		MaxBatch:       DefaultMaxBatch,
		RedisTimeout:   DefaultRedisTimeout,
		BacklogLimit:   DefaultBacklogLimit,
		MaxClockSkew:   DefaultMaxClockSkew,
		IdempotencyTTL: DefaultIdempotencyTTL,
	}
}

// Validate checks the limits.
func (c RouterConfig) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > MaxMaxBodyBytes {
		errs = append(errs, fmt.Errorf("max-body-bytes must be 1..%d, got %d", MaxMaxBodyBytes, c.MaxBodyBytes))
	}
	if c.MaxBatch < 1 || c.MaxBatch > MaxMaxBatch {
		errs = append(errs, fmt.Errorf("max-batch must be 1..%d, got %d", MaxMaxBatch, c.MaxBatch))
	}
	if c.RedisTimeout <= 0 {
		errs = append(errs, fmt.Errorf("redis-timeout must be positive, got %v", c.RedisTimeout))
	}
	if c.BacklogLimit < 0 {
		errs = append(errs, fmt.Errorf("backlog-limit must be 0 (off) or positive, got %d", c.BacklogLimit))
	}
	if c.MaxClockSkew <= 0 {
		errs = append(errs, fmt.Errorf("max-clock-skew must be positive, got %v", c.MaxClockSkew))
	}
	if c.IdempotencyTTL < time.Second {
		errs = append(errs, fmt.Errorf("idempotency-ttl must be at least 1s, got %v", c.IdempotencyTTL))
	}
	return errors.Join(errs...)
}

// Config is ingest-svc's configuration: the settings every service shares,
// the request limits, and the HTTP server's timeouts. Register binds each
// field to a flag and a GEOSTREAM_* environment variable.
type Config struct {
	service.Common
	RouterConfig

	// ReadHeaderTimeout bounds reading a request's headers (slow clients).
	// Default DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included; 0 means
	// none. Default DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end
	// of its response; it must exceed RedisTimeout. 0 means none. Default
	// DefaultWriteTimeout.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may sit idle; 0 means
	// ReadTimeout. Default DefaultIdleTimeout.
	IdleTimeout time.Duration
}

// Register defines every setting on s.
func (c *Config) Register(s *envflag.Set) {
	c.Common.Register(s, DefaultHTTPAddr)
	s.Int64(&c.MaxBodyBytes, "max-body-bytes", DefaultMaxBodyBytes, "largest accepted request body in bytes, as sent and after gzip decompression")
	s.Int(&c.MaxBatch, "max-batch", DefaultMaxBatch, "most points in one upload request")
	s.Duration(&c.RedisTimeout, "redis-timeout", DefaultRedisTimeout, "time the Redis work of one request may take before it answers 503")
	s.Int64(&c.BacklogLimit, "backlog-limit", DefaultBacklogLimit, "entries a partition stream may hold before uploads to it answer 503 (0 = no limit)")
	s.Duration(&c.MaxClockSkew, "max-clock-skew", DefaultMaxClockSkew, "how far in the future a point's timestamp may be")
	s.Duration(&c.IdempotencyTTL, "idempotency-ttl", DefaultIdempotencyTTL, "how long an Idempotency-Key is remembered")
	s.Duration(&c.ReadHeaderTimeout, "read-header-timeout", DefaultReadHeaderTimeout, "time to read a request's headers")
	s.Duration(&c.ReadTimeout, "read-timeout", DefaultReadTimeout, "time to read a whole request (0 = none)")
	s.Duration(&c.WriteTimeout, "write-timeout", DefaultWriteTimeout, "time from the end of a request's headers to the end of its response (0 = none)")
	s.Duration(&c.IdleTimeout, "idle-timeout", DefaultIdleTimeout, "time a keep-alive connection may sit idle")
}

// Validate checks every setting and reports all problems at once.
func (c *Config) Validate() error {
	errs := []error{c.Common.Validate(), c.RouterConfig.Validate()}
	if c.ReadHeaderTimeout <= 0 {
		errs = append(errs, fmt.Errorf("read-header-timeout must be positive, got %v", c.ReadHeaderTimeout))
	}
	for _, t := range []struct {
		name string
		v    time.Duration
	}{{"read-timeout", c.ReadTimeout}, {"write-timeout", c.WriteTimeout}, {"idle-timeout", c.IdleTimeout}} {
		if t.v < 0 {
			errs = append(errs, fmt.Errorf("%s must be 0 (none) or positive, got %v", t.name, t.v))
		}
	}
	if c.WriteTimeout > 0 && c.WriteTimeout <= c.RedisTimeout {
		errs = append(errs, fmt.Errorf("write-timeout (%v) must exceed redis-timeout (%v), or the 503 of a slow Redis could not be written",
			c.WriteTimeout, c.RedisTimeout))
	}
	return errors.Join(errs...)
}

// HTTPServer returns the server of handler h with the configured timeouts.
func (c *Config) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
	}
}
