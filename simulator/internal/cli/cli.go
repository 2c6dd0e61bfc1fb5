// Package cli implements the simulator's subcommands: parsing flags and
// GEOSTREAM_* variables, building the runner or the verifier, and writing
// the results. The main package only dispatches to it.
package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/geostream/geostream/simulator/internal/load"
	"github.com/geostream/geostream/simulator/internal/verify"
)

// ErrUsage wraps errors in the command line or the settings; the main
// package exits 2 for them.
var ErrUsage = errors.New("usage")

// RunUsage describes the run subcommand.
const RunUsage = `
simulator run [flags] — continuous load against the geostream API.

Simulated devices report positions to POST /upload: realistic tracks (cars,
walkers, ships and aircraft in several regions, some crossing the
antimeridian, some above 80° of latitude; smooth speed and heading, GPS
noise, occasional silences) or, with --mode uniform, the seed's uniform
random points. --rate paces the points (token bucket), --burst multiplies
the rate periodically to exercise backpressure. Failed requests (429, 503,
5xx, network) are retried with exponential backoff and full jitter,
honouring Retry-After, with one Idempotency-Key per request; after
--max-retries or --give-up-after their points count as lost.

Stops after --count points or --duration, whichever comes first; with
neither, at Ctrl-C. Progress goes to stderr (a bar on a terminal, a log line
every --progress-interval otherwise); the summary to stdout. Exits 1 when
points were sent and none was acknowledged.

Examples:
  simulator run --devices 50 --rate 500 --duration 1m
  simulator run --rate 200 --burst 5s:4x/25s --batch 20 --concurrency 8
  simulator run --mode uniform --count 10000 --json
`

// VerifyUsage describes the verify subcommand.
const VerifyUsage = `
simulator verify [flags] — end-to-end check of the geostream API.

Sends a reproducible data set (--devices, --count, --batch, --seed),
remembers which requests were acknowledged and which were given up on,
waits until GET /retrieve has caught up (--timeout), and compares the
answer of every device (and, with --fresh, the global answer) with its own
sums: counts, bounding box and first/last timestamps exactly, means and
centroid within 1e-9 degrees. With --start-time it also checks a time
window: GET /retrieve?from=&to= over whole --window-step steps of the data
(default 1m, the finest resolution kept; the first and last steps are left
out), globally with --fresh and per device; the start time must be recent
enough that the API still keeps those buckets (per device, minutes are kept
6 hours by default: use --window-step 1h or 1d for older data, 0 for none).
Points of unacknowledged requests may be stored at most once; those found
are reported as "stored although unacknowledged". Device ids are fresh
for each run (--device-prefix defaults to vfy-<random>-), so it works on a
deployment that holds data.

Exit status: 0 when everything matches, 1 with a table of differences
otherwise (or on an error), 2 for bad flags.

Examples:
  simulator verify --target http://127.0.0.1:8080 --count 5000 --batch 50
  simulator verify --fresh --devices 20 --count 20000 --json
  simulator verify --fresh --count 6000 --start-time 2025-01-23T12:00:00Z --window-step 1m
`

// Run is the run subcommand.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c common
	fs := newSet("run", getenv, stderr, RunUsage)
	c.register(fs)
	if err := parse(fs.FlagSet, fs.Parse, args); err != nil {
		return err
	}
	if c.load.Gen.DevicePrefix == "" {
		c.load.Gen.DevicePrefix = "sim-"
	}
	if err := c.apply(time.Now(), func(time.Duration) time.Duration { return 0 }); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	log, err := c.logger(stderr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	r, err := load.New(c.load, log, load.WithProgress(stderr))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	log.Info("simulator run starting", append([]any{"run_id", r.RunID(), "first_fix", c.load.Gen.Start.UTC(),
		"fix_interval", c.load.Gen.Interval.String()}, fs.Effective()...)...)
	sum, err := r.Run(ctx)
	if err != nil {
		return err
	}
	if c.json {
		err = sum.WriteJSON(stdout)
	} else {
		err = sum.WriteText(stdout)
	}
	if err == nil && sum.Points.Sent > 0 && sum.Points.Acked == 0 {
		// Most likely a wrong --target: say so in the exit status.
		err = fmt.Errorf("none of the %d points sent was acknowledged by %s", sum.Points.Sent, sum.Target)
	}
	return err
}

// Verify is the verify subcommand. A mismatch returns an error wrapping
// verify.ErrMismatch after the report is written.
func Verify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c common
	var vc verify.Config
	fs := newSet("verify", getenv, stderr, VerifyUsage)
	c.register(fs)
	vc.Register(fs)
	if err := parse(fs.FlagSet, fs.Parse, args); err != nil {
		return err
	}
	if c.load.Count == 0 {
		c.load.Count = verify.DefaultCount
	}
	if c.load.Gen.DevicePrefix == "" {
		var b [3]byte
		rand.Read(b[:])
		c.load.Gen.DevicePrefix = "vfy-" + hex.EncodeToString(b[:]) + "-"
	}
	now := time.Now()
	if err := c.apply(now, verifySpan(c.load.Count, c.load.Gen.Devices)); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if c.startTime == "" {
		// A fixed cap keeps the data set a function of the flags and this
		// instant, however long sending takes.
		c.load.Gen.NotAfter = func() time.Time { return now }
		// Windowed checks need to know where the data lies in time.
		vc.WindowStep = 0
	}
	vc.Load = c.load
	if err := vc.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	log, err := c.logger(stderr)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	log.Info("simulator verify starting", append([]any{"first_fix", c.load.Gen.Start.UTC(),
		"fix_interval", c.load.Gen.Interval.String()}, fs.Effective()...)...)
	rep, err := verify.Run(ctx, vc, log)
	if err != nil {
		return err
	}
	if c.json {
		err = rep.WriteJSON(stdout)
	} else {
		err = rep.WriteText(stdout)
	}
	if err != nil {
		return err
	}
	return rep.Err()
}

// parse parses args, turning -h into flag.ErrHelp and other flag errors
// into ErrUsage (the flag package has printed them with the usage).
func parse(fs *flag.FlagSet, p func([]string) error, args []string) error {
	err := p(args)
	switch {
	case err == nil && fs.NArg() > 0:
		return fmt.Errorf("%w: unexpected argument %q", ErrUsage, fs.Arg(0))
	case errors.Is(err, flag.ErrHelp):
		return err
	case err != nil:
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return nil
}
