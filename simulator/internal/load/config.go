package load

import (
	"errors"
	"fmt"
	"time"

	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/simulator/internal/gen"
	"github.com/geostream/geostream/streamkit/envflag"
)

const (
	// DefaultBatch is the number of points per request: one, like the
	// seed prototype's tester.
	DefaultBatch = 1
	// DefaultConcurrency is the number of requests in flight at once.
	DefaultConcurrency = 4
	// DefaultDrain is how long in-flight requests may finish after an
	// interrupt before they are cancelled (and their points counted lost).
	DefaultDrain = 5 * time.Second
	// MaxBatch keeps a request well below the API's 8 MiB body limit (a
	// point is at most about 250 bytes of JSON).
	MaxBatch = 10_000
)

// Config configures a Runner.
type Config struct {
	// Gen selects the data.
	Gen gen.Config
	// Client configures the HTTP client; MaxConns is set from
	// Concurrency.
	Client client.Config
	// Rate is the overall send rate in points per second; 0 sends as fast
	// as the API answers.
	Rate float64
	// Burst changes the rate periodically; needs Rate > 0.
	Burst Burst
	// BurstText is the flag form of Burst, parsed by Validate.
	BurstText string
	// Batch is the number of points per request; default DefaultBatch.
	Batch int
	// Concurrency is the number of requests in flight; default
	// DefaultConcurrency.
	Concurrency int
	// Duration stops generating after this time; 0: no bound.
	Duration time.Duration
	// Count stops after this many points; 0: no bound. With both 0 the
	// run lasts until interrupted.
	Count int64
	// Format is the upload body format; default client.FormatJSON.
	Format client.Format
	// FormatText is the flag form of Format, parsed by Validate.
	FormatText string
	// Protocol is the API the points go to; default client.ProtocolUpload.
	Protocol client.Protocol
	// ProtocolText is the flag form of Protocol, parsed by Validate.
	ProtocolText string
	// Drain is how long in-flight requests may finish after an interrupt;
	// default DefaultDrain.
	Drain time.Duration
	// ProgressInterval is the time between progress log lines when the
	// output is not a terminal; default DefaultProgressInterval.
	ProgressInterval time.Duration
}

// Register defines the runner's own flags on s (the client's and the
// generator's are registered by their owners).
func (c *Config) Register(s *envflag.Set) {
	s.Float64(&c.Rate, "rate", 0, "overall send rate in points per second; 0 = as fast as possible")
	s.String(&c.BurstText, "burst", "", "periodic rate change ON:FACTORx/PERIOD, e.g. 5s:4x/25s = every 25s, 5s at 4x the rate (needs --rate)")
	s.Int(&c.Batch, "batch", DefaultBatch, "points per request (1 = one point per request, like the seed)")
	s.Int(&c.Concurrency, "concurrency", DefaultConcurrency, "requests in flight at once (connections)")
	s.Duration(&c.Duration, "duration", 0, "stop after this time; 0 = no time bound")
	s.Int64(&c.Count, "count", 0, "stop after this many points; 0 = no count bound (with --duration 0: until interrupted); verify: 0 means 1000")
	s.String(&c.FormatText, "format", string(client.FormatJSON), "upload body: json (object or array) or ndjson")
	s.String(&c.ProtocolText, "protocol", string(client.ProtocolUpload),
		"where and how points are sent: upload (POST /upload, --format), or a device app's URL and wire format: owntracks, osmand, traccar (one point per request: --batch 1) or overland")
	s.Duration(&c.Drain, "drain", DefaultDrain, "time in-flight requests may take to finish after an interrupt")
	s.Duration(&c.ProgressInterval, "progress-interval", DefaultProgressInterval, "time between progress lines when not on a terminal")
}

func (c *Config) setDefaults() {
	if c.Batch == 0 {
		c.Batch = DefaultBatch
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Format == "" {
		c.Format = client.FormatJSON
	}
	if c.Protocol == "" {
		c.Protocol = client.ProtocolUpload
	}
	if c.Drain == 0 {
		c.Drain = DefaultDrain
	}
	if c.ProgressInterval == 0 {
		c.ProgressInterval = DefaultProgressInterval
	}
	c.Client.MaxConns = c.Concurrency
}

// Validate parses the text forms and checks every setting, and applies
// the defaults.
func (c *Config) Validate() error {
	var errs []error
	if c.FormatText != "" {
		f, err := client.ParseFormat(c.FormatText)
		errs = append(errs, err)
		c.Format = f
	}
	if c.ProtocolText != "" {
		p, err := client.ParseProtocol(c.ProtocolText)
		errs = append(errs, err)
		c.Protocol = p
	}
	if c.BurstText != "" {
		b, err := ParseBurst(c.BurstText)
		errs = append(errs, err)
		c.Burst = b
	}
	c.setDefaults()
	if c.Rate < 0 || c.Rate != c.Rate {
		errs = append(errs, fmt.Errorf("rate must not be negative, got %v", c.Rate))
	}
	if c.Burst.Enabled() && c.Rate == 0 {
		errs = append(errs, errors.New("burst needs a --rate to multiply"))
	}
	if c.Batch < 1 || c.Batch > MaxBatch {
		errs = append(errs, fmt.Errorf("batch must be 1..%d, got %d", MaxBatch, c.Batch))
	}
	if c.Protocol.OnePerRequest() && c.Batch != 1 {
		errs = append(errs, fmt.Errorf("protocol %s sends one point per request: use --batch 1, got %d", c.Protocol, c.Batch))
	}
	if c.Concurrency < 1 || c.Concurrency > 1024 {
		errs = append(errs, fmt.Errorf("concurrency must be 1..1024, got %d", c.Concurrency))
	}
	if c.Duration < 0 || c.Count < 0 {
		errs = append(errs, fmt.Errorf("duration and count must not be negative, got %v and %d", c.Duration, c.Count))
	}
	if c.Drain < 0 || c.ProgressInterval < 0 {
		errs = append(errs, errors.New("drain and progress-interval must not be negative"))
	}
	errs = append(errs, c.Gen.Validate(), c.Client.Validate())
	return errors.Join(errs...)
}
