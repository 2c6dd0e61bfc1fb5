// Package ingest is ingest-svc: the HTTP API that stores uploaded points in
// the partition streams (POST /upload) and answers from the aggregates the
// processors keep: summaries of all time, of time ranges and series
// (GET /retrieve), and devices with their last positions (GET /devices,
// GET /devices/{id}). GET /openapi.json describes it.
package ingest

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/geostream/geostream/ingest-svc/internal/apikey"
	"github.com/geostream/geostream/streamkit/envflag"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/service"
	"github.com/geostream/geostream/streamkit/window"
)

// Defaults of ingest-svc's settings.
const (
	// DefaultHTTPAddr is where the API listens.
	DefaultHTTPAddr = "127.0.0.1:8080"
	// DefaultMaxBodyBytes bounds a request body as sent: 8 MiB.
	DefaultMaxBodyBytes = 8 << 20
	// DefaultMaxDecompressedBytes bounds a gzip body after decompression:
	// 8 MiB.
	DefaultMaxDecompressedBytes = 8 << 20
	// DefaultMaxBatch is the most points one upload may hold.
	DefaultMaxBatch = 10_000
	// DefaultRedisTimeout bounds the Redis work of one request.
	DefaultRedisTimeout = 2 * time.Second
	// DefaultBacklogLimit is how many points of a partition the processors
	// may have left to count before uploads to it are refused.
	DefaultBacklogLimit = 1_000_000
	// DefaultMaxClockSkew is how far in the future a point's timestamp may be.
	DefaultMaxClockSkew = point.DefaultMaxClockSkew
	// DefaultReplicaAckTimeout is how long an upload waits for the replicas
	// of --min-replicas-acked.
	DefaultReplicaAckTimeout = time.Second
	// DefaultIdempotencyTTL is how long an Idempotency-Key is remembered
	// at least (at most twice that): 5× the simulator's --give-up-after
	// (2m), longer than any backoff of the device apps; a retry after it
	// stores again. Redis keeps ~2 TTLs of keys (docs/performance.md).
	DefaultIdempotencyTTL = 10 * time.Minute
	// DefaultReadHeaderTimeout bounds reading a request's headers.
	DefaultReadHeaderTimeout = 5 * time.Second
	// DefaultReadTimeout bounds reading a whole request, body included.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds a request from the end of its headers to the
	// end of the response.
	DefaultWriteTimeout = 30 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may sit idle.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxHeaderBytes bounds a request's header lines: 64 KiB.
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxRangeBuckets bounds the bucket reads of one ranged
	// /retrieve, and so its cost: window.DefaultMaxBuckets.
	DefaultMaxRangeBuckets = window.DefaultMaxBuckets
	// DefaultMaxInFlight is how many API requests may be served at once
	// before more answer 503. Small requests take a millisecond or so, so
	// this is far more than one instance needs at full speed; what it
	// bounds is memory: an upload of a full batch (10,000 points) allocates
	// about 7 MB while it is decoded and stored (see docs/security.md for
	// sizing it to a container's memory).
	DefaultMaxInFlight = 256
	// DefaultMaxInFlightPerClient is how many of those one API key (or
	// client IP) may hold: a client with many slow requests cannot take
	// every slot.
	DefaultMaxInFlightPerClient = 64
	// DefaultRateLimit is the points a second one API key (or client IP)
	// may upload.
	DefaultRateLimit = 5000
	// DefaultRateBurst is how many points a key may upload at once after
	// a quiet spell: two full batches.
	DefaultRateBurst = 2 * DefaultMaxBatch
	// DefaultReadRateLimit is the read requests a second one API key (or
	// client IP) may make.
	DefaultReadRateLimit = 100
	// DefaultReadRateBurst is how many read requests a key may make at
	// once after a quiet spell.
	DefaultReadRateBurst = 200
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
	// MaxMaxRangeBuckets bounds --max-range-buckets: the reads of one
	// /retrieve go to Redis in one pipeline.
	MaxMaxRangeBuckets = 20_000
	// MaxMaxInFlight bounds --max-in-flight.
	MaxMaxInFlight = 100_000
	// MaxMinReplicasAcked bounds --min-replicas-acked.
	MaxMinReplicasAcked = 16
)

// RouterConfig is what the HTTP handlers need to know: limits and timeouts
// of a request.
type RouterConfig struct {
	// MaxBodyBytes is the largest accepted request body in bytes, as sent;
	// larger is 413. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxDecompressedBytes is the largest accepted gzip body after
	// decompression (a "gzip bomb" is cut off there); larger is 413.
	// Default DefaultMaxDecompressedBytes.
	MaxDecompressedBytes int64
	// MaxBatch is the most points one upload may hold; more is 413.
	// Default DefaultMaxBatch.
	MaxBatch int
	// RedisTimeout bounds the Redis work of one request; a request whose
	// writes have not all finished by then answers 503. It is also the
	// client's dial, read and write timeout. Default DefaultRedisTimeout.
	RedisTimeout time.Duration
	// BacklogLimit refuses uploads to a partition whose processors have
	// this many points left to count (503): they are behind, and accepting
	// more would only grow Redis's memory. 0 turns the limit off. Default
	// DefaultBacklogLimit.
	BacklogLimit int64
	// MaxClockSkew is how far after the server's clock a point's timestamp
	// may be. Default DefaultMaxClockSkew.
	MaxClockSkew time.Duration
	// IdempotencyTTL is how long an Idempotency-Key is remembered at least
	// (at most twice as long: markers expire by time slice): a retry
	// within it is stored once. Default DefaultIdempotencyTTL.
	IdempotencyTTL time.Duration
	// MinReplicasAcked is how many replicas of each Redis master an upload
	// wrote to must have its points (WAIT) before it answers 200; when
	// fewer do within ReplicaAckTimeout it answers 503 (the points are
	// stored on the master: a retry with the same Idempotency-Key waits
	// again and stores nothing twice). 0 answers once the master has them.
	// Default 0.
	MinReplicasAcked int
	// ReplicaAckTimeout bounds the wait for MinReplicasAcked; it must be
	// shorter than RedisTimeout. Default DefaultReplicaAckTimeout.
	ReplicaAckTimeout time.Duration
	// MaxRangeBuckets bounds the bucket reads of one ranged /retrieve
	// (per partition read); more is 400. Default DefaultMaxRangeBuckets.
	MaxRangeBuckets int

	// MaxInFlight is how many requests to the API endpoints (/upload,
	// /retrieve, /devices) may be served at once; more answer 503 with
	// Retry-After at once. Health and metrics are not counted. Default
	// DefaultMaxInFlight.
	MaxInFlight int
	// MaxInFlightPerClient is how many of MaxInFlight one API key (or
	// client IP, see RateLimitByIP) may hold; more answer 429. 0 turns it
	// off. Default DefaultMaxInFlightPerClient.
	MaxInFlightPerClient int
	// RateLimit is the points a second each API key (or client IP, see
	// RateLimitByIP) may upload, a token bucket of RateBurst points; over
	// it /upload answers 429 with Retry-After. 0 turns it off. Default
	// DefaultRateLimit.
	RateLimit float64
	// RateBurst is the bucket size of RateLimit: at least MaxBatch, or the
	// largest upload could never pass. Default DefaultRateBurst.
	RateBurst int
	// ReadRateLimit is the read requests (/retrieve, /devices) a second
	// each API key (or client IP) may make, a token bucket of
	// ReadRateBurst requests; 0 turns it off. Default
	// DefaultReadRateLimit.
	ReadRateLimit float64
	// ReadRateBurst is the bucket size of ReadRateLimit. Default
	// DefaultReadRateBurst.
	ReadRateBurst int
	// RateLimitByIP applies the rate limits per client IP when
	// authentication is off (with it on they apply per key). The IP is
	// the connection's peer: behind a proxy or load balancer every client
	// has its address, so leave it off there. Default false.
	RateLimitByIP bool
	// MetricsPublic serves GET /metrics without a key when authentication
	// is on; otherwise it needs a key with scope metrics. Default false.
	MetricsPublic bool
}

// DefaultRouterConfig returns the default limits, those that are off when
// zero (the backlog and rate limits) included.
func DefaultRouterConfig() RouterConfig {
	c := RouterConfig{
		BacklogLimit:         DefaultBacklogLimit,
		MaxInFlightPerClient: DefaultMaxInFlightPerClient,
		RateLimit:            DefaultRateLimit,
		ReadRateLimit:        DefaultReadRateLimit,
	}
	c.SetDefaults()
	return c
}

// SetDefaults fills the zero-valued limits with their defaults; those whose
// zero means "off" (BacklogLimit, MaxInFlightPerClient, RateLimit,
// ReadRateLimit) stay zero.
func (c *RouterConfig) SetDefaults() {
	setDefault(&c.MaxBodyBytes, DefaultMaxBodyBytes)
	setDefault(&c.MaxDecompressedBytes, DefaultMaxDecompressedBytes)
	setDefault(&c.MaxBatch, DefaultMaxBatch)
	setDefault(&c.RedisTimeout, DefaultRedisTimeout)
	setDefault(&c.MaxClockSkew, DefaultMaxClockSkew)
	setDefault(&c.IdempotencyTTL, DefaultIdempotencyTTL)
	setDefault(&c.ReplicaAckTimeout, DefaultReplicaAckTimeout)
	setDefault(&c.MaxRangeBuckets, DefaultMaxRangeBuckets)
	setDefault(&c.MaxInFlight, DefaultMaxInFlight)
	setDefault(&c.RateBurst, DefaultRateBurst)
	setDefault(&c.ReadRateBurst, DefaultReadRateBurst)
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Validate checks the limits.
func (c RouterConfig) Validate() error {
	var errs []error
	if c.MaxBodyBytes < 1 || c.MaxBodyBytes > MaxMaxBodyBytes {
		errs = append(errs, fmt.Errorf("max-body-bytes must be 1..%d, got %d", MaxMaxBodyBytes, c.MaxBodyBytes))
	}
	if c.MaxDecompressedBytes < 1 || c.MaxDecompressedBytes > MaxMaxBodyBytes {
		errs = append(errs, fmt.Errorf("max-decompressed-bytes must be 1..%d, got %d", MaxMaxBodyBytes, c.MaxDecompressedBytes))
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
	if c.MaxRangeBuckets < 1 || c.MaxRangeBuckets > MaxMaxRangeBuckets {
		errs = append(errs, fmt.Errorf("max-range-buckets must be 1..%d, got %d", MaxMaxRangeBuckets, c.MaxRangeBuckets))
	}
	if c.MaxInFlight < 1 || c.MaxInFlight > MaxMaxInFlight {
		errs = append(errs, fmt.Errorf("max-in-flight must be 1..%d, got %d", MaxMaxInFlight, c.MaxInFlight))
	}
	if c.MaxInFlightPerClient < 0 || c.MaxInFlightPerClient > c.MaxInFlight {
		errs = append(errs, fmt.Errorf("max-in-flight-per-client must be 0 (off) up to max-in-flight (%d), got %d",
			c.MaxInFlight, c.MaxInFlightPerClient))
	}
	errs = append(errs, c.validateRates(), c.validateReplicas())
	return errors.Join(errs...)
}

// validateRates checks the rate limits: 0 (off) or positive and finite,
// bursts that let the largest request through.
func (c RouterConfig) validateRates() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{{"rate-limit", c.RateLimit}, {"read-rate-limit", c.ReadRateLimit}} {
		if r.v < 0 || math.IsNaN(r.v) || math.IsInf(r.v, 0) {
			errs = append(errs, fmt.Errorf("%s must be 0 (off) or a positive number, got %v", r.name, r.v))
		}
	}
	if c.RateLimit > 0 && c.RateBurst < c.MaxBatch {
		errs = append(errs, fmt.Errorf("rate-burst (%d) must be at least max-batch (%d), or the largest upload could never pass",
			c.RateBurst, c.MaxBatch))
	}
	if c.ReadRateLimit > 0 && c.ReadRateBurst < 1 {
		errs = append(errs, fmt.Errorf("read-rate-burst must be at least 1, got %d", c.ReadRateBurst))
	}
	return errors.Join(errs...)
}

// validateReplicas checks MinReplicasAcked and ReplicaAckTimeout.
func (c RouterConfig) validateReplicas() error {
	var errs []error
	if c.MinReplicasAcked < 0 || c.MinReplicasAcked > MaxMinReplicasAcked {
		errs = append(errs, fmt.Errorf("min-replicas-acked must be 0..%d, got %d", MaxMinReplicasAcked, c.MinReplicasAcked))
	}
	if c.MinReplicasAcked > 0 && (c.ReplicaAckTimeout <= 0 || c.ReplicaAckTimeout >= c.RedisTimeout) {
		errs = append(errs, fmt.Errorf("replica-ack-timeout must be positive and less than redis-timeout (%v), got %v",
			c.RedisTimeout, c.ReplicaAckTimeout))
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
	// MaxHeaderBytes bounds a request's header lines (431 beyond).
	// Default DefaultMaxHeaderBytes.
	MaxHeaderBytes int

	// APIKeysFile and APIKeys (the environment's GEOSTREAM_API_KEYS) hold
	// API key definitions (see apikey.Parse); with either set, every API
	// request needs a key. Secret: APIKeys is masked in logs.
	APIKeysFile, APIKeys string
	// RequireAuth refuses to start without API keys, so that a deployment
	// whose key file went missing does not run open. Default false.
	RequireAuth bool
}

// Register defines every setting on s.
func (c *Config) Register(s *envflag.Set) {
	c.Common.Register(s, DefaultHTTPAddr)
	s.Int64(&c.MaxBodyBytes, "max-body-bytes", DefaultMaxBodyBytes, "largest accepted request body in bytes, as sent")
	s.Int64(&c.MaxDecompressedBytes, "max-decompressed-bytes", DefaultMaxDecompressedBytes, "largest accepted gzip request body in bytes after decompression (gzip bombs)")
	s.Int(&c.MaxBatch, "max-batch", DefaultMaxBatch, "most points in one upload request")
	s.Duration(&c.RedisTimeout, "redis-timeout", DefaultRedisTimeout, "time the Redis work of one request may take before it answers 503")
	s.Int64(&c.BacklogLimit, "backlog-limit", DefaultBacklogLimit, "points of a partition not yet counted by the processors before uploads to it answer 503 (0 = no limit)")
	s.Duration(&c.MaxClockSkew, "max-clock-skew", DefaultMaxClockSkew, "how far in the future a point's timestamp may be")
	s.Int(&c.MinReplicasAcked, "min-replicas-acked", 0, "replicas of each Redis master an upload wrote to that must have its points (WAIT) before it answers 200; 503 when fewer do within --replica-ack-timeout (0 = the master alone)")
	s.Duration(&c.ReplicaAckTimeout, "replica-ack-timeout", DefaultReplicaAckTimeout, "how long an upload waits for --min-replicas-acked replicas (less than --redis-timeout)")
	s.Duration(&c.IdempotencyTTL, "idempotency-ttl", DefaultIdempotencyTTL, "how long an Idempotency-Key is remembered at least (at most twice as long); set it above your clients' longest retry")
	s.Duration(&c.ReadHeaderTimeout, "read-header-timeout", DefaultReadHeaderTimeout, "time to read a request's headers")
	s.Duration(&c.ReadTimeout, "read-timeout", DefaultReadTimeout, "time to read a whole request (0 = none)")
	s.Duration(&c.WriteTimeout, "write-timeout", DefaultWriteTimeout, "time from the end of a request's headers to the end of its response (0 = none)")
	s.Duration(&c.IdleTimeout, "idle-timeout", DefaultIdleTimeout, "time a keep-alive connection may sit idle")
	s.Int(&c.MaxHeaderBytes, "max-header-bytes", DefaultMaxHeaderBytes, "largest accepted size of a request's header lines in bytes")
	s.Int(&c.MaxRangeBuckets, "max-range-buckets", DefaultMaxRangeBuckets, "most time-bucket reads of one /retrieve with a time range (bounds its cost)")
	s.Int(&c.MaxInFlight, "max-in-flight", DefaultMaxInFlight, "API requests served at once; more answer 503 at once")
	s.Int(&c.MaxInFlightPerClient, "max-in-flight-per-client", DefaultMaxInFlightPerClient, "API requests one API key (or client IP with --rate-limit-by-ip) may have in flight; more answer 429 (0 = no limit)")
	s.String(&c.APIKeysFile, "api-keys-file", "", "file of API keys, one per line: <id> sha256:<hex> <scopes> [<device-id prefixes>]; with it or --api-keys every API request needs a key")
	s.Secret(&c.APIKeys, "api-keys", "", "API keys in the format of --api-keys-file, separated by newlines or ';'")
	s.Bool(&c.RequireAuth, "require-auth", false, "refuse to start without API keys")
	s.Bool(&c.MetricsPublic, "metrics-public", false, "serve /metrics without a key when API keys are configured (otherwise it needs scope metrics)")
	s.Float64(&c.RateLimit, "rate-limit", DefaultRateLimit, "points a second each API key (or client IP with --rate-limit-by-ip) may upload; 0 = no limit")
	s.Int(&c.RateBurst, "rate-burst", DefaultRateBurst, "points an API key may upload at once after a quiet spell (at least --max-batch)")
	s.Float64(&c.ReadRateLimit, "read-rate-limit", DefaultReadRateLimit, "read requests a second each API key (or client IP with --rate-limit-by-ip) may make; 0 = no limit")
	s.Int(&c.ReadRateBurst, "read-rate-burst", DefaultReadRateBurst, "read requests an API key may make at once after a quiet spell")
	s.Bool(&c.RateLimitByIP, "rate-limit-by-ip", false, "without API keys, rate-limit each client IP (not behind a proxy: all clients would share its IP)")
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
	if c.MaxHeaderBytes < 4<<10 || c.MaxHeaderBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("max-header-bytes must be %d..%d, got %d", 4<<10, 1<<20, c.MaxHeaderBytes))
	}
	if c.MinReplicasAcked > 0 && c.RedisURL == "" {
		errs = append(errs, errors.New("min-replicas-acked needs a redis-url: the embedded Redis has no replicas"))
	}
	if c.RequireAuth && c.APIKeysFile == "" && c.APIKeys == "" {
		errs = append(errs, errors.New("require-auth is set but neither api-keys-file nor api-keys is"))
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
		MaxHeaderBytes:    c.MaxHeaderBytes,
	}
}

// Keys loads the configured API keys: nil when none is configured
// (authentication off). See apikey.Load.
func (c *Config) Keys() (*apikey.Set, error) { return apikey.Load(c.APIKeysFile, c.APIKeys) }

// OpenWarning returns the start-up warning of a service that anyone who
// reaches it may use: authentication off on an address other than
// loopback. "" when there is nothing to warn about.
func (c *Config) OpenWarning(keys *apikey.Set) string {
	if keys != nil || isLoopback(c.HTTPAddr) {
		return ""
	}
	return "AUTHENTICATION IS OFF and the API listens on " + c.HTTPAddr +
		": anyone who can reach it may upload points and read every device. " +
		"Configure API keys (--api-keys-file or GEOSTREAM_API_KEYS; see docs/security.md), " +
		"or listen on 127.0.0.1 for a local demo"
}

// isLoopback reports whether a listen address accepts loopback
// connections only: localhost or a loopback IP. An empty host or 0.0.0.0
// is every interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
