package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/geostream/geostream/simulator/internal/load"
	"github.com/geostream/geostream/streamkit/agg"
)

// Identification values of Report.
const (
	IdentNotNeeded   = "not needed"   // every request was acknowledged
	IdentIdentified  = "identified"   // the answers are explained exactly
	IdentUnexplained = "unexplained"  // no set of unacknowledged requests explains them
	IdentSearchLimit = "search limit" // too many unacknowledged requests to tell
)

// Report is the outcome of a verification.
type Report struct {
	// OK is true when every answer matched.
	OK     bool   `json:"ok"`
	Target string `json:"target"`
	RunID  string `json:"run_id"`
	Fresh  bool   `json:"fresh"`
	// Window is the time range of the windowed checks ("from/to", RFC
	// 3339), empty when there were none.
	Window       string      `json:"window,omitempty"`
	ScopesCount  int         `json:"scopes_checked"`
	CaughtUp     bool        `json:"caught_up"`
	WaitSeconds  float64     `json:"wait_seconds"`
	Requests     load.Counts `json:"requests"`
	Points       load.Counts `json:"points"`
	ReplayedAcks int         `json:"replayed_acks"`
	// StoredUnacked is the number of points the API holds from requests
	// the client gave up on, and StoredUnackedKeys their Idempotency-Keys.
	StoredUnacked     int64    `json:"stored_although_unacknowledged"`
	StoredUnackedKeys []string `json:"stored_unacknowledged_requests,omitempty"`
	// Identification tells how the unacknowledged requests were
	// accounted for (Ident* constants).
	Identification string       `json:"identification"`
	Diffs          []Diff       `json:"diffs"`
	Notes          []string     `json:"notes,omitempty"`
	Load           load.Summary `json:"load"`
}

// Err returns nil for a matching report and an error wrapping ErrMismatch
// otherwise.
func (r *Report) Err() error {
	if r.OK {
		return nil
	}
	return fmt.Errorf("%w: %d differences", ErrMismatch, len(r.Diffs))
}

// buildReport compares the final answers with the expectations.
func buildReport(scopes []Scope, rec *recorder, w waited) *Report {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	names := make([]string, len(scopes))
	for i, sc := range scopes {
		names[i] = sc.Name
	}
	sortLost(rec.lost)
	rep := &Report{ScopesCount: len(scopes), CaughtUp: w.caughtUp, ReplayedAcks: rec.replayed,
		WaitSeconds: math.Round(w.elapsed.Seconds()*1000) / 1000, Diffs: []Diff{}}

	expected := append([]agg.Sums(nil), rec.acked...)
	chosen, res := identify(names, rec.acked, w.answers, rec.lost)
	switch {
	case len(rec.lost) == 0:
		rep.Identification = IdentNotNeeded
	case res == identified:
		rep.Identification = IdentIdentified
	case res == exhausted:
		rep.Identification = IdentSearchLimit
	default:
		rep.Identification = IdentUnexplained
	}
	for _, r := range chosen {
		p := rec.lost[r]
		rep.StoredUnacked += int64(p.points)
		rep.StoredUnackedKeys = append(rep.StoredUnackedKeys, p.key)
		for _, c := range p.parts {
			expected[c.scope].Merge(c.sums)
		}
	}

	lostMax := rec.lostMax()
	for i := range scopes {
		diffs := Compare(names[i], expected[i], w.answers[i].sum, w.answers[i].noData)
		for j := range diffs {
			if diffs[j].Field == "data_count" {
				diffs[j].Note = countNote(w.answers[i].count(), rec.acked[i].Count, lostMax[i], res, w.caughtUp)
			}
		}
		rep.Diffs = append(rep.Diffs, diffs...)
	}
	for _, rj := range rec.rejected {
		rep.Diffs = append(rep.Diffs, Diff{Scope: "upload", Field: "status", Expected: "2xx", Got: rj.err,
			Note: fmt.Sprintf("request %d (Idempotency-Key %s): the API rejected valid generated data", rj.seq, rj.key)})
	}
	if len(rec.lost) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d request(s) given up on, first: %s", len(rec.lost), rec.lost[0].err))
	}
	if !w.caughtUp {
		rep.Notes = append(rep.Notes, "the API did not reach the acknowledged counts before --timeout")
	}
	return rep
}

// countNote explains a data_count difference.
func countNote(got, acked, lost int64, res identifyResult, caughtUp bool) string {
	switch {
	case got < acked && !caughtUp:
		return "acknowledged points missing (not caught up by --timeout, or lost); other fields not compared"
	case got < acked:
		return "acknowledged points missing; other fields not compared"
	case got > acked+lost:
		return fmt.Sprintf("more than acked (%d) + unacknowledged (%d): points counted twice or foreign data; other fields not compared", acked, lost)
	case res == exhausted:
		return fmt.Sprintf("within acked (%d) .. acked + unacknowledged (%d), but too many unacknowledged requests to tell which were stored", acked, acked+lost)
	default:
		return fmt.Sprintf("within acked (%d) .. acked + unacknowledged (%d), but no set of unacknowledged requests explains the answer", acked, acked+lost)
	}
}

// WriteText writes the report for a person: the verdict, the counts, and
// the differences as a table.
func (r *Report) WriteText(w io.Writer) error {
	verdict := "OK"
	if !r.OK {
		verdict = "FAILED"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "verify %s: %s (run %s)\n", verdict, r.Target, r.RunID)
	fmt.Fprintf(&b, "  points:    sent %d, acked %d, unacknowledged %d (lost %d, rejected %d) in %d requests\n",
		r.Points.Sent, r.Points.Acked, r.Points.Lost+r.Points.Rejected, r.Points.Lost, r.Points.Rejected, r.Requests.Sent)
	global := "per device only"
	if r.Fresh {
		global = "global and per device"
	}
	if r.Window != "" {
		global += ", all time and window " + r.Window
	}
	fmt.Fprintf(&b, "  checked:   %d scopes (%s), caught up: %v after %.3fs\n", r.ScopesCount, global, r.CaughtUp, r.WaitSeconds)
	fmt.Fprintf(&b, "  stored although unacknowledged: %d", r.StoredUnacked)
	if len(r.StoredUnackedKeys) > 0 {
		fmt.Fprintf(&b, " (requests %s)", strings.Join(r.StoredUnackedKeys, ", "))
	}
	fmt.Fprintf(&b, " [identification: %s]\n", r.Identification)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	if _, err := io.WriteString(w, b.String()); err != nil || len(r.Diffs) == 0 {
		return err
	}
	fmt.Fprintf(w, "  differences (%d):\n", len(r.Diffs))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "    SCOPE\tFIELD\tEXPECTED\tGOT\tNOTE")
	for _, d := range r.Diffs {
		fmt.Fprintf(tw, "    %s\t%s\t%s\t%s\t%s\n", d.Scope, d.Field, d.Expected, d.Got, d.Note)
	}
	return tw.Flush()
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
