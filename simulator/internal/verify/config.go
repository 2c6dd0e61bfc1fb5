package verify

import (
	"errors"
	"fmt"
	"time"

	"github.com/geostream/geostream/simulator/internal/load"
	"github.com/geostream/geostream/streamkit/envflag"
)

const (
	// DefaultCount is the size of the verification data set.
	DefaultCount = 1000
	// DefaultTimeout bounds the wait for the API to catch up.
	DefaultTimeout = time.Minute
	// DefaultPollInterval is the time between two rounds of /retrieve
	// while waiting.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultSettle is how long the verifier waits after the counts are
	// reached before its final read, so that a late duplicate or a late
	// unacknowledged request is seen rather than missed.
	DefaultSettle = time.Second
)

// Config configures a verification.
type Config struct {
	// Load is the data set and how it is sent; Load.Count must be set.
	Load load.Config
	// Fresh means the API held no data before this run: the verifier
	// checks that, and then also compares the global summary.
	Fresh bool
	// Timeout bounds the wait for the API to catch up; default
	// DefaultTimeout.
	Timeout time.Duration
	// PollInterval is the time between polling rounds; default
	// DefaultPollInterval.
	PollInterval time.Duration
	// Settle is the wait before the final read; default DefaultSettle,
	// negative for none.
	Settle time.Duration
	// WindowStep, when positive, adds windowed checks: /retrieve with
	// from/to over whole steps of the data set (see Window), globally with
	// Fresh and per device. It must be a multiple of the API's finest
	// resolution, and Load.Gen.Start the data set's pinned start; 0 turns
	// the checks off. The CLI sets DefaultWindowStep when --start-time is
	// given.
	WindowStep time.Duration
}

// Register defines the verifier's own flags on s.
func (c *Config) Register(s *envflag.Set) {
	s.Bool(&c.Fresh, "fresh", false, "the API holds no data yet: check that, and compare the global summary too")
	s.Duration(&c.Timeout, "timeout", DefaultTimeout, "how long to wait for the API to catch up")
	s.Duration(&c.PollInterval, "poll-interval", DefaultPollInterval, "time between polls of /retrieve while waiting")
	s.Duration(&c.Settle, "settle", DefaultSettle, "wait after the counts are reached before the final read (negative: none)")
	s.Duration(&c.WindowStep, "window-step", DefaultWindowStep, "with --start-time: also check /retrieve?from=&to= over a window of whole steps of the data (a multiple of the API's finest resolution; 0 = off)")
}

func (c *Config) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Settle == 0 {
		c.Settle = DefaultSettle
	}
}

// Validate checks the settings and applies the defaults.
func (c *Config) Validate() error {
	c.setDefaults()
	var errs []error
	if c.Load.Count <= 0 {
		errs = append(errs, fmt.Errorf("verify needs --count > 0, got %d", c.Load.Count))
	}
	if c.Load.Duration != 0 {
		errs = append(errs, errors.New("verify sends a fixed data set: use --count, not --duration"))
	}
	if c.Timeout < 0 || c.PollInterval < 0 {
		errs = append(errs, errors.New("timeout and poll-interval must not be negative"))
	}
	switch {
	case c.WindowStep < 0 || (c.WindowStep > 0 && c.WindowStep%time.Millisecond != 0):
		errs = append(errs, fmt.Errorf("window-step must be 0 (off) or a whole number of milliseconds, got %v", c.WindowStep))
	case c.WindowStep > 0 && c.Load.Gen.Start.IsZero():
		errs = append(errs, errors.New("windowed checks need the data set's start time (--start-time)"))
	}
	errs = append(errs, c.Load.Validate())
	return errors.Join(errs...)
}
