package load

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBodiesAreValidPoints(t *testing.T) {
	base := time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)
	single := Bodies(3, 1, Devices, base)
	var one map[string]any
	if err := json.Unmarshal(single[2], &one); err != nil || one["device_id"] == nil {
		t.Fatalf("single body %s: %v", single[2], err)
	}
	batch := Bodies(2, 500, 8, base)
	var many []struct {
		Timestamp string  `json:"timestamp"`
		Latitude  float64 `json:"latitude"`
		Longitude float64 `json:"longitude"`
		DeviceID  string  `json:"device_id"`
	}
	if err := json.Unmarshal(batch[1], &many); err != nil || len(many) != 500 {
		t.Fatalf("batch body: %d points, %v", len(many), err)
	}
	devices := map[string]bool{}
	for _, p := range many {
		devices[p.DeviceID] = true
		if p.Latitude < -90 || p.Latitude > 90 || p.Longitude < -180 || p.Longitude > 180 {
			t.Fatalf("point out of range: %+v", p)
		}
		if ts, err := time.Parse(time.RFC3339, p.Timestamp); err != nil || ts.Before(base) {
			t.Fatalf("timestamp %q: %v", p.Timestamp, err)
		}
	}
	if len(devices) != 8 {
		t.Errorf("%d devices, want 8", len(devices))
	}
}

func TestPercentile(t *testing.T) {
	v := make([]time.Duration, 100)
	for i := range v {
		v[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := Percentile(v, c.p); got != c.want {
			t.Errorf("Percentile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if Percentile(nil, 50) != 0 {
		t.Error("empty: want 0")
	}
}

func TestWrkScriptEmbedsBodies(t *testing.T) {
	s := string(wrkScript(Spec{Method: "POST", ContentType: "application/json", Bodies: [][]byte{[]byte(`{"a":1}`)}}))
	for _, want := range []string{`[==[{"a":1}]==]`, `"POST"`, "BENCHJSON", "function done"} {
		if !strings.Contains(s, want) {
			t.Errorf("script lacks %q", want)
		}
	}
}
