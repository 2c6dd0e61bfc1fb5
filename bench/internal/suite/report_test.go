package suite

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/bench/internal/load"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// The ratio is the median of the per-repetition ratios, and the target is
// judged on it.
func TestFiguresRatios(t *testing.T) {
	rep := func(single, noop int64) *RepResult {
		return &RepResult{
			Single: load.Result{OK: single, Duration: time.Second},
			Noop:   load.Result{OK: noop, Duration: time.Second},
		}
	}
	figs := figures(Full(), []*RepResult{rep(70, 100), rep(90, 100), rep(40, 100)})
	f := figs[0]
	if f.Key != "single_post_rps" || f.Value != 70 || f.CeilVal != 100 || f.Ratio != 0.7 || f.Met == nil || !*f.Met {
		t.Fatalf("single-point figure = %+v", f)
	}
	var buf bytes.Buffer
	(&Report{Figures: figs}).WriteTable(&buf)
	if !strings.Contains(buf.String(), "single-point POST /upload") || !strings.Contains(buf.String(), "0.70") {
		t.Errorf("table:\n%s", buf.String())
	}
}

func TestFormatValue(t *testing.T) {
	for in, want := range map[float64]string{1.234: "1.23", 99.999: "100.00", 1234567: "1,234,567", -4321: "-4,321", 100: "100"} {
		if got := formatValue(in); got != want {
			t.Errorf("formatValue(%v) = %q, want %q", in, got, want)
		}
	}
}
