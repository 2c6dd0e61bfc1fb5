// Package verify checks a geostream deployment end to end: it sends a
// reproducible data set through the load runner, remembers exactly which
// requests were acknowledged and which were given up on, waits until the
// API has caught up, and compares the API's summaries — per device, and
// globally on a fresh deployment; all time, and with WindowStep over a
// time window — with its own agg.Sums of the acknowledged points.
//
// Exactly once means every acknowledged point is counted once and every
// other point at most once: a scope's count must lie in [acked, acked +
// unacknowledged]. When the API shows more than the acknowledged points,
// the verifier searches for the unacknowledged requests that explain the
// answers exactly and reports them as "stored although unacknowledged"
// instead of miscounting.
package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/simulator/internal/gen"
	"github.com/geostream/geostream/simulator/internal/load"
)

var (
	// ErrMismatch is returned (wrapped) by Report.Err when the API's
	// answers differ from the expectation.
	ErrMismatch = errors.New("verification failed")
	// ErrNotFresh is returned when the scopes to check already hold data
	// before the run.
	ErrNotFresh = errors.New("data present before the run")
)

// Run sends cfg's data set and verifies the API's answers. It returns an
// error when the verification could not be carried out (bad settings,
// unreachable API, data present before the run, interrupted); a completed
// verification returns a Report whose OK tells the outcome.
func Run(ctx context.Context, cfg Config, log *slog.Logger, opts ...load.Option) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var rec *recorder
	opts = append(opts, load.WithResult(func(req *load.Request, res client.Result) { rec.record(req, res) }))
	runner, err := load.New(cfg.Load, log, opts...)
	if err != nil {
		return nil, err
	}
	scopes := DeviceScopes(runner.DeviceIDs(), cfg.Fresh)
	window := ""
	if cfg.WindowStep > 0 {
		g := cfg.Load.Gen
		interval := g.Interval
		if interval == 0 {
			interval = gen.DefaultInterval
		}
		from, to := Window(g.Start, dataSpan(cfg.Load.Count, len(runner.DeviceIDs()), interval), cfg.WindowStep)
		scopes = JoinScopes(scopes, WindowScopes(runner.DeviceIDs(), cfg.Fresh, from, to))
		window = from.Format(time.RFC3339Nano) + "/" + to.Format(time.RFC3339Nano)
		log.Info("windowed checks", "from", from, "to", to)
	}
	rec = newRecorder(scopes)
	c := runner.Client()

	if err := checkEmpty(ctx, c, scopes.Scopes()); err != nil {
		return nil, err
	}
	log.Info("sending data set", "points", cfg.Load.Count, "devices", len(runner.DeviceIDs()),
		"batch", cfg.Load.Batch, "run_id", runner.RunID())
	sum, err := runner.Run(ctx)
	if err != nil {
		return nil, err
	}
	if sum.Interrupted {
		return nil, fmt.Errorf("verify: interrupted: %w", ctx.Err())
	}
	log.Info("data set sent, waiting for the API to catch up",
		"acked", sum.Points.Acked, "lost", sum.Points.Lost, "rejected", sum.Points.Rejected)

	w, err := waitForAPI(ctx, c, scopes.Scopes(), rec.acked, cfg, log)
	if err != nil {
		return nil, err
	}
	rep := buildReport(scopes.Scopes(), rec, w)
	rep.Target, rep.RunID, rep.Fresh, rep.Window, rep.Load = c.Target(), runner.RunID(), cfg.Fresh, window, sum
	rep.Requests, rep.Points = sum.Requests, sum.Points
	rep.OK = len(rep.Diffs) == 0
	return rep, nil
}

// checkEmpty makes sure no scope holds data before the run: device ids
// are fresh, and with Fresh the whole API is empty. A verifier that started
// on data it did not send could not tell its points from others'.
func checkEmpty(ctx context.Context, c *client.Client, scopes []Scope) error {
	for _, sc := range scopes {
		s, err := c.Retrieve(ctx, sc.Query)
		switch {
		case errors.Is(err, client.ErrNoData):
			continue
		case err != nil && sc.Query.Has("from"):
			return fmt.Errorf("verify: read %s before the run (the API refuses the windowed check: give a --start-time whose %s buckets the API still keeps, a --window-step it keeps, or --window-step 0): %w",
				sc.Name, sc.Query.Get("from"), err)
		case err != nil:
			return fmt.Errorf("verify: read %s before the run: %w", sc.Name, err)
		case s.DataCount > 0:
			hint := "choose a new --device-prefix"
			if sc.Query == nil {
				hint = "drop --fresh to verify per device only"
			}
			return fmt.Errorf("verify: %s holds %d points before the run (%s): %w", sc.Name, s.DataCount, hint, ErrNotFresh)
		}
	}
	return nil
}
