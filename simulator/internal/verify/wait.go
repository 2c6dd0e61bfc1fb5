package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/backoff"
)

// waited is the outcome of waiting for the API: the last answer of every
// scope, and whether every count reached its acknowledged points in time.
type waited struct {
	answers  []answer
	caughtUp bool
	elapsed  time.Duration
}

// waitForAPI polls every scope until its count reaches the acknowledged
// points (the processor consumes a stream, so counts grow after the
// uploads are acknowledged), or cfg.Timeout passes. Then, after
// cfg.Settle, it reads every scope once more: the final answers include
// anything that arrived late, such as a duplicate.
func waitForAPI(ctx context.Context, c *client.Client, scopes []Scope, acked []agg.Sums, cfg Config, log *slog.Logger) (waited, error) {
	start := time.Now()
	deadline := start.Add(cfg.Timeout)
	w := waited{answers: make([]answer, len(scopes))}
	done := make([]bool, len(scopes))
	remaining := len(scopes)
	for round := 0; ; round++ {
		for i, sc := range scopes {
			if done[i] {
				continue
			}
			a, err := fetch(ctx, c, sc)
			if err != nil {
				return w, err
			}
			w.answers[i] = a
			if a.count() >= acked[i].Count {
				done[i] = true
				remaining--
			}
		}
		if remaining == 0 {
			w.caughtUp = true
			break
		}
		if !time.Now().Before(deadline) {
			log.Warn("the API did not catch up before the timeout", "timeout", cfg.Timeout, "scopes_behind", remaining)
			break
		}
		if round%20 == 19 {
			log.Info("waiting for the API to catch up", "scopes_behind", remaining, "waited", time.Since(start).Round(time.Millisecond).String())
		}
		if err := backoff.Sleep(ctx, min(cfg.PollInterval, time.Until(deadline))); err != nil {
			return w, err
		}
	}
	w.elapsed = time.Since(start)
	if w.caughtUp && cfg.Settle > 0 {
		if err := backoff.Sleep(ctx, cfg.Settle); err != nil {
			return w, err
		}
		for i, sc := range scopes {
			a, err := fetch(ctx, c, sc)
			if err != nil {
				return w, err
			}
			w.answers[i] = a
		}
	}
	return w, nil
}

// fetch reads one scope's summary; no data is an answer too.
func fetch(ctx context.Context, c *client.Client, sc Scope) (answer, error) {
	s, err := c.Retrieve(ctx, sc.Query)
	switch {
	case errors.Is(err, client.ErrNoData):
		return answer{noData: true}, nil
	case err != nil:
		return answer{}, fmt.Errorf("verify: read %s: %w", sc.Name, err)
	}
	return answer{sum: s}, nil
}
