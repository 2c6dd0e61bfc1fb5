package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// figures are what a fault test publishes (docs/reliability.md), logged as
// one greppable line per test:
//
//	FIGURES test=<name> faults=<n> sent=<points> acked=<points> counted=<points> lost=<points> duplicated=<points> [key=value ...]
//
// All counts are points, not requests:
//   - sent: the points the clients generated, each once however often its
//     request was retried;
//   - acked: points of requests answered 200;
//   - counted: points in the aggregates at the end;
//   - lost: acknowledged points that are not counted;
//   - duplicated: points counted more than once.
//
// The extra key=value pairs are test-specific (unacked points, requests
// stored although unacknowledged, latencies, bounds). With
// GEOSTREAM_FIGURES_FILE set, each line is also appended to that file.
type figures struct {
	faults                                 int
	sent, acked, counted, lost, duplicated int64
	extra                                  []any // key, value, key, value, ...
}

// add appends key=value pairs.
func (f *figures) add(kv ...any) { f.extra = append(f.extra, kv...) }

// logFigures logs f for t.
func logFigures(t *testing.T, f figures) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "FIGURES test=%s faults=%d sent=%d acked=%d counted=%d lost=%d duplicated=%d",
		t.Name(), f.faults, f.sent, f.acked, f.counted, f.lost, f.duplicated)
	for i := 0; i+1 < len(f.extra); i += 2 {
		fmt.Fprintf(&b, " %v=%v", f.extra[i], f.extra[i+1])
	}
	line := b.String()
	t.Log(line)
	if path := os.Getenv("GEOSTREAM_FIGURES_FILE"); path != "" {
		fh, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Errorf("figures file: %v", err)
			return
		}
		defer fh.Close()
		fmt.Fprintln(fh, line)
	}
}

// verifyFigures fills the point counts of f from a verifier's report and
// the count in Redis: counted should be acked plus the unacknowledged
// points the verifier found stored; below is lost, above is duplicated.
func verifyFigures(f *figures, rep *verifyReport, counted int64) {
	f.sent, f.acked, f.counted = rep.Points.Sent, rep.Points.Acked, counted
	want := rep.Points.Acked + rep.StoredUnacked
	f.lost, f.duplicated = max(0, want-counted), max(0, counted-want)
	f.add("unacked", rep.Points.Lost+rep.Points.Rejected, "stored_unacked", rep.StoredUnacked,
		"retries", rep.Load.Retries, "replayed", rep.ReplayedAcks)
}
