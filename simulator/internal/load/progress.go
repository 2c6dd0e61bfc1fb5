package load

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

const (
	// DefaultProgressInterval is the time between two progress log lines
	// when the output is not a terminal.
	DefaultProgressInterval = 5 * time.Second
	// barRefresh is the redraw interval of the terminal progress bar.
	barRefresh = 250 * time.Millisecond
)

// reporter shows a run's progress.
type reporter interface {
	// update is called every interval with the current state.
	update(Snapshot)
	// finish is called once at the end.
	finish(Snapshot)
	// interval is the time between updates.
	interval() time.Duration
}

// rateOf returns the acked points per second between two snapshots.
func rateOf(prev, cur Snapshot) float64 {
	dt := (cur.Elapsed - prev.Elapsed).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(cur.Points.Acked-prev.Points.Acked) / dt
}

// FormatErrors renders error counts as "status_503=4 network=1", sorted by
// kind; "none" when there are none.
func FormatErrors(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// logReporter writes one log line per interval: for containers and CI.
type logReporter struct {
	log   *slog.Logger
	every time.Duration
	prev  Snapshot
}

func (r *logReporter) interval() time.Duration { return r.every }

func (r *logReporter) update(s Snapshot) {
	r.log.Info("progress",
		"elapsed", s.Elapsed.Round(100*time.Millisecond).String(),
		"points_sent", s.Points.Sent, "points_acked", s.Points.Acked,
		"points_lost", s.Points.Lost, "points_rejected", s.Points.Rejected,
		"in_flight_requests", s.Requests.InFlight(),
		"rate_per_s", fmt.Sprintf("%.1f", rateOf(r.prev, s)),
		"retries", s.Retries, "errors", FormatErrors(s.Errors),
		"p50_ms", ms(s.P50), "p99_ms", ms(s.P99))
	r.prev = s
}

func (r *logReporter) finish(Snapshot) {}

// barReporter draws a progress bar on a terminal: a bar towards --count
// when there is one, a spinner otherwise, with the live figures beside it.
type barReporter struct {
	w    io.Writer
	bar  *progressbar.ProgressBar
	prev Snapshot // the state a second or more ago, for the rate
	rate float64
}

func newBarReporter(w io.Writer, total int64) *barReporter {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription("starting"),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(barRefresh),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
	}
	if total <= 0 {
		total = -1 // a spinner; the description holds the counts
	} else {
		opts = append(opts, progressbar.OptionShowCount()) // done/total
	}
	return &barReporter{w: w, bar: progressbar.NewOptions64(total, opts...)}
}

func (r *barReporter) interval() time.Duration { return barRefresh }

func (r *barReporter) update(s Snapshot) {
	if s.Elapsed-r.prev.Elapsed >= time.Second {
		r.rate = rateOf(r.prev, s)
		r.prev = s
	}
	// The count first: Describe redraws, and must not show the last count.
	r.bar.Set64(s.Points.Acked + s.Points.Lost + s.Points.Rejected)
	r.bar.Describe(fmt.Sprintf("acked %d lost %d rejected %d | %.0f/s | p50 %.1fms p99 %.1fms | errors %s",
		s.Points.Acked, s.Points.Lost, s.Points.Rejected, r.rate, ms(s.P50), ms(s.P99), FormatErrors(s.Errors)))
}

func (r *barReporter) finish(s Snapshot) {
	r.update(s)
	r.bar.Exit()
	fmt.Fprintln(r.w)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
