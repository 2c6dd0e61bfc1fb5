package client

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/geostream/geostream/streamkit/envflag"
)

const (
	// DefaultTarget is the base URL of the API when none is configured: a
	// locally running ingest-svc.
	DefaultTarget = "http://127.0.0.1:8080"
	// DefaultMaxRetries is how many times a request is retried after its
	// first attempt before its points are counted as lost.
	DefaultMaxRetries = 8
	// DefaultGiveUpAfter bounds the time one request may take, retries and
	// waits included. It is long enough to ride out a Redis restart, short
	// enough that a dead target shows up as losses within minutes.
	DefaultGiveUpAfter = 2 * time.Minute
	// DefaultRequestTimeout bounds one attempt (connect, send, answer).
	DefaultRequestTimeout = 10 * time.Second
	// DefaultBackoffBase is the backoff cap of the first retry; it doubles
	// with every retry up to DefaultBackoffMax.
	DefaultBackoffBase = 100 * time.Millisecond
	// DefaultBackoffMax caps the exponential backoff.
	DefaultBackoffMax = 10 * time.Second
)

// Config configures a Client.
type Config struct {
	// Target is the API's base URL; default DefaultTarget.
	Target string
	// MaxRetries is the number of retries after the first attempt; default
	// DefaultMaxRetries. Negative is invalid, 0 disables retries.
	MaxRetries int
	// GiveUpAfter bounds one request, retries and waits included; default
	// DefaultGiveUpAfter.
	GiveUpAfter time.Duration
	// RequestTimeout bounds one attempt; default DefaultRequestTimeout.
	RequestTimeout time.Duration
	// BackoffBase is the backoff cap before the first retry; default
	// DefaultBackoffBase.
	BackoffBase time.Duration
	// BackoffMax caps the backoff; default DefaultBackoffMax.
	BackoffMax time.Duration
	// APIKey, when set, is sent with every request as "Authorization:
	// Bearer <key>" (ingest-svc with API keys; see docs/security.md). It is
	// never logged.
	APIKey string
	// MaxConns is the number of connections kept open to the target, the
	// number of concurrent senders; default 1. Not a flag: the runner sets
	// it from its concurrency.
	MaxConns int
}

// Register defines the client's flags on s.
func (c *Config) Register(s *envflag.Set) {
	s.String(&c.Target, "target", DefaultTarget, "base URL of the geostream API (ingest-svc)")
	s.Int(&c.MaxRetries, "max-retries", DefaultMaxRetries, "retries of a failed request (429, 503, 5xx, network) before its points count as lost")
	s.Duration(&c.GiveUpAfter, "give-up-after", DefaultGiveUpAfter, "time bound of one request including retries; then its points count as lost")
	s.Duration(&c.RequestTimeout, "request-timeout", DefaultRequestTimeout, "time bound of one HTTP attempt")
	s.Duration(&c.BackoffBase, "backoff-base", DefaultBackoffBase, "backoff cap of the first retry (doubles per retry, full jitter)")
	s.Duration(&c.BackoffMax, "backoff-max", DefaultBackoffMax, "largest backoff between retries")
	s.Secret(&c.APIKey, "api-key", "", "API key sent as 'Authorization: Bearer <key>' with every request (when ingest-svc has API keys)")
}

func (c *Config) setDefaults() {
	if c.Target == "" {
		c.Target = DefaultTarget
	}
	if c.GiveUpAfter == 0 {
		c.GiveUpAfter = DefaultGiveUpAfter
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.BackoffBase == 0 {
		c.BackoffBase = DefaultBackoffBase
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = DefaultBackoffMax
	}
	if c.MaxConns == 0 {
		c.MaxConns = 1
	}
}

// Validate reports invalid settings; zero values mean their defaults.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	if u, err := url.Parse(c.Target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("target %q: want an http:// or https:// URL", c.Target))
	}
	if c.MaxRetries < 0 {
		errs = append(errs, fmt.Errorf("max-retries must not be negative, got %d", c.MaxRetries))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"give-up-after", c.GiveUpAfter}, {"request-timeout", c.RequestTimeout},
		{"backoff-base", c.BackoffBase}, {"backoff-max", c.BackoffMax},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s must not be negative, got %v", d.name, d.v))
		}
	}
	if c.BackoffMax < c.BackoffBase {
		errs = append(errs, fmt.Errorf("backoff-max %v is below backoff-base %v", c.BackoffMax, c.BackoffBase))
	}
	if c.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("connections must not be negative, got %d", c.MaxConns))
	}
	return errors.Join(errs...)
}
