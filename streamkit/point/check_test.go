package point

import (
	"math"
	"strings"
	"testing"
)

func TestExtrasSet(t *testing.T) {
	for _, tt := range []struct {
		x       Extra
		f       float64
		wantErr string
	}{
		{Altitude, -430.5, ""},
		{Altitude, math.Inf(1), "must be a finite number"},
		{Speed, 0, ""},
		{Speed, -0.1, "must be 0 or more (metres per second), got -0.1"},
		{Heading, 360, ""},
		{Heading, 360.5, "must be between 0 and 360 (degrees from true north), got 360.5"},
		{Heading, -1, "must be between 0 and 360"},
		{Accuracy, -2, "must be 0 or more (metres), got -2"},
		{Battery, 100, ""},
		{Battery, 101, "must be between 0 and 100 (percent), got 101"},
		{Battery, math.NaN(), "must be a finite number"},
		{Extra(5), 1, "unknown measurement 5"},
		{Extra(-1), 1, "unknown measurement -1"},
	} {
		var e Extras
		msg := e.Set(tt.x, tt.f)
		if tt.wantErr == "" && msg != "" || tt.wantErr != "" && !strings.Contains(msg, tt.wantErr) {
			t.Errorf("Set(%d, %v) = %q, want %q", tt.x, tt.f, msg, tt.wantErr)
			continue
		}
		got := [...]*float64{e.Altitude, e.Speed, e.Heading, e.Accuracy, e.Battery}
		for x, v := range got {
			stored := tt.wantErr == "" && Extra(x) == tt.x
			if (v != nil) != stored || stored && *v != tt.f {
				t.Errorf("Set(%d, %v): field %d holds %v", tt.x, tt.f, x, v)
			}
		}
	}
	var e Extras
	if e.Set(Speed, math.Copysign(0, -1)); math.Signbit(*e.Speed) {
		t.Error("-0 is stored as -0, want 0")
	}
}
