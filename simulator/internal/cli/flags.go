package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"time"

	"github.com/geostream/geostream/simulator/internal/gen"
	"github.com/geostream/geostream/simulator/internal/load"
	"github.com/geostream/geostream/streamkit/envflag"
	"github.com/geostream/geostream/streamkit/logx"
)

// common holds the settings both subcommands share besides load.Config:
// how the data set is generated and how results are written.
type common struct {
	load      load.Config
	seed      int64
	mode      string
	startTime string
	interval  time.Duration
	json      bool
	logFormat string
	logLevel  string
}

// register defines the shared flags on s.
func (c *common) register(s *envflag.Set) {
	c.load.Client.Register(s)
	s.Int(&c.load.Gen.Devices, "devices", gen.DefaultDevices, "number of simulated devices")
	s.Int64(&c.seed, "seed", 1, "seed of the generated data: the same seed, --start-time and settings give the same points")
	s.String(&c.mode, "mode", string(gen.ModeTracks), "tracks (realistic movement in several regions) or uniform (the seed's uniform random points)")
	s.String(&c.load.Gen.DevicePrefix, "device-prefix", "", "start of every device id (run: sim-, verify: vfy-<random>-)")
	s.String(&c.startTime, "start-time", "", "event time of the first fixes, RFC 3339; empty = now (not reproducible)")
	s.Duration(&c.interval, "interval", 0, "time between two fixes of one device; 0 = devices/rate, or 1s without a rate")
	c.load.Register(s)
	s.Bool(&c.json, "json", false, "write the final summary as JSON on stdout")
	s.String(&c.logFormat, "log-format", "auto", "log format on stderr: text, json or auto (text on a terminal)")
	s.String(&c.logLevel, "log-level", "info", "log level: debug, info, warn or error")
}

// apply turns the parsed flags into the generator settings. now is the
// start of the run; span is how much event time the data set covers, for
// a start time placed so that the last fix is not in the future (0 keeps
// "now").
func (c *common) apply(now time.Time, span func(interval time.Duration) time.Duration) error {
	var errs []error
	if c.seed < 0 {
		errs = append(errs, fmt.Errorf("seed must not be negative, got %d", c.seed))
	}
	g := &c.load.Gen
	g.Seed, g.Mode, g.Interval = uint64(c.seed), gen.Mode(c.mode), c.interval
	if g.Interval == 0 {
		g.Interval = gen.DefaultInterval
		if c.load.Rate > 0 && g.Devices > 0 {
			// Each device reports at its share of the rate, so event time
			// keeps pace with the wall clock.
			sec := float64(g.Devices) / c.load.Rate
			g.Interval = time.Duration(min(sec, 3600) * float64(time.Second))
			g.Interval = max(time.Millisecond, g.Interval.Round(time.Millisecond))
		}
	}
	if c.startTime != "" {
		t, err := time.Parse(time.RFC3339Nano, c.startTime)
		if err != nil {
			errs = append(errs, fmt.Errorf("start-time %q: want RFC 3339, e.g. 2025-01-23T12:00:00Z", c.startTime))
		}
		g.Start = t
	} else {
		g.Start = now.Add(-span(g.Interval))
		// Without a fixed start the run is live: no timestamp may pass
		// the wall clock, whatever the load does.
		g.NotAfter = time.Now
	}
	return errors.Join(errs...)
}

// logger builds the logger of the parsed settings, writing to w.
func (c *common) logger(w io.Writer) (*slog.Logger, error) {
	return logx.New(w, c.logFormat, c.logLevel)
}

// verifySpan estimates the event time a verification data set covers:
// count/devices fixes per device, plus room for jitter and silences.
func verifySpan(count int64, devices int) func(time.Duration) time.Duration {
	return func(interval time.Duration) time.Duration {
		perDevice := math.Ceil(float64(count) / float64(max(1, devices)))
		return time.Duration(perDevice * 1.25 * float64(interval))
	}
}

// newSet returns the flag set of a subcommand, reading the environment
// through getenv.
func newSet(name string, getenv func(string) string, out io.Writer, usage string) *envflag.Set {
	s := envflag.New("simulator "+name, func(k string) (string, bool) {
		v := getenv(k)
		return v, v != ""
	})
	s.SetOutput(out)
	s.Usage = func() {
		fmt.Fprintf(out, "%s\n\nFlags (each also read from the GEOSTREAM_* variable in brackets):\n", strings.TrimSpace(usage))
		s.PrintDefaults()
	}
	return s
}
