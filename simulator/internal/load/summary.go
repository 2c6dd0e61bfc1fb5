package load

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// Summary is the final report of a run, printed as text or, with --json,
// as JSON.
type Summary struct {
	Target      string  `json:"target"`
	RunID       string  `json:"run_id"`
	Mode        string  `json:"mode"`
	Devices     int     `json:"devices"`
	Seed        uint64  `json:"seed"`
	Batch       int     `json:"batch"`
	Concurrency int     `json:"concurrency"`
	RateLimit   float64 `json:"rate_limit"` // configured points/s, 0 = unlimited
	Burst       string  `json:"burst,omitempty"`
	Interrupted bool    `json:"interrupted"`

	ElapsedSeconds float64 `json:"elapsed_seconds"`
	Requests       Counts  `json:"requests"`
	Points         Counts  `json:"points"`
	// AckedPerSecond is acked points over the whole run.
	AckedPerSecond float64          `json:"acked_points_per_second"`
	Retries        int64            `json:"retries"`
	Replayed       int64            `json:"replayed"`
	Errors         map[string]int64 `json:"errors_by_kind"`
	LatencyMs      Latency          `json:"latency_ms"`
}

// Latency holds upload attempt latency percentiles in milliseconds.
type Latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func (r *Runner) summary(s Snapshot, interrupted bool) Summary {
	g := r.cfg.Gen
	sum := Summary{
		Target: r.client.Target(), RunID: r.runID, Mode: string(g.Mode), Devices: len(r.gen.DeviceIDs()),
		Seed: g.Seed, Batch: r.cfg.Batch, Concurrency: r.cfg.Concurrency,
		RateLimit: r.cfg.Rate, Burst: r.cfg.Burst.String(), Interrupted: interrupted,
		ElapsedSeconds: math.Round(s.Elapsed.Seconds()*1000) / 1000,
		Requests:       s.Requests, Points: s.Points,
		Retries: s.Retries, Replayed: s.Replayed, Errors: s.Errors,
		LatencyMs: Latency{P50: ms(s.P50), P90: ms(s.P90), P99: ms(s.P99), Max: ms(s.Max)},
	}
	if sum.Mode == "" {
		sum.Mode = "tracks"
	}
	if sec := s.Elapsed.Seconds(); sec > 0 {
		sum.AckedPerSecond = math.Round(float64(s.Points.Acked)/sec*10) / 10
	}
	return sum
}

// WriteText writes the summary for a person.
func (s Summary) WriteText(w io.Writer) error {
	state := "finished"
	if s.Interrupted {
		state = "interrupted"
	}
	rate := "unlimited"
	if s.RateLimit > 0 {
		rate = fmt.Sprintf("%g points/s", s.RateLimit)
		if s.Burst != "" {
			rate += ", burst " + s.Burst
		}
	}
	_, err := fmt.Fprintf(w, `simulator run %s (run %s) against %s
  load:      %s mode, %d devices, seed %d, batch %d, concurrency %d, rate %s
  elapsed:   %.3fs
  points:    sent %d, acked %d, rejected %d, lost %d (%.1f acked/s)
  requests:  sent %d, acked %d, rejected %d, lost %d, retries %d, replayed %d
  errors:    %s
  latency:   p50 %.1fms, p90 %.1fms, p99 %.1fms, max %.1fms
`, state, s.RunID, s.Target,
		s.Mode, s.Devices, s.Seed, s.Batch, s.Concurrency, rate,
		s.ElapsedSeconds,
		s.Points.Sent, s.Points.Acked, s.Points.Rejected, s.Points.Lost, s.AckedPerSecond,
		s.Requests.Sent, s.Requests.Acked, s.Requests.Rejected, s.Requests.Lost, s.Retries, s.Replayed,
		FormatErrors(s.Errors),
		s.LatencyMs.P50, s.LatencyMs.P90, s.LatencyMs.P99, s.LatencyMs.Max)
	return err
}

// WriteJSON writes the summary as one indented JSON object.
func (s Summary) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
