package gen

import (
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

var testStart = time.Date(2025, 1, 23, 12, 0, 0, 0, time.UTC)

func generate(tb testing.TB, cfg Config, n int) (*Generator, []point.Point) {
	tb.Helper()
	g, err := New(cfg)
	if err != nil {
		tb.Fatalf("New(%+v): %v", cfg, err)
	}
	pts := make([]point.Point, n)
	for i := range pts {
		pts[i] = g.Next()
	}
	return g, pts
}

// byDevice splits points per device, keeping their order.
func byDevice(pts []point.Point) map[string][]point.Point {
	m := map[string][]point.Point{}
	for _, p := range pts {
		m[p.DeviceID] = append(m[p.DeviceID], p)
	}
	return m
}

func TestReproducible(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"tracks", Config{Devices: 12, Seed: 7, Start: testStart}},
		{"uniform", Config{Devices: 3, Seed: 7, Mode: ModeUniform, Start: testStart}},
		{"one device, slow fixes", Config{Devices: 1, Seed: 99, Start: testStart, Interval: 30 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, a := generate(t, tc.cfg, 2000)
			_, b := generate(t, tc.cfg, 2000)
			if !reflect.DeepEqual(a, b) {
				t.Fatal("two generators with the same config differ")
			}
			other := tc.cfg
			other.Seed++
			_, c := generate(t, other, 2000)
			if reflect.DeepEqual(a, c) {
				t.Fatal("a different seed gave the same points")
			}
		})
	}
}

func TestDeviceDataIndependentOfDeviceCount(t *testing.T) {
	_, few := generate(t, Config{Devices: 2, Seed: 3, Start: testStart}, 400)
	_, many := generate(t, Config{Devices: 7, Seed: 3, Start: testStart}, 1400)
	a, b := byDevice(few)["sim-0002"], byDevice(many)["sim-0002"]
	n := min(len(a), len(b))
	if n < 150 || !reflect.DeepEqual(a[:n], b[:n]) {
		t.Fatalf("device sim-0002 differs with the number of devices (compared %d points)", n)
	}
}

func TestPointsValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"tracks", Config{Devices: 20, Seed: 1, Start: testStart}},
		{"uniform", Config{Devices: 5, Seed: 1, Mode: ModeUniform, Start: testStart, DevicePrefix: "u:"}},
		{"many devices", Config{Devices: 12345, Seed: 2, Start: testStart, DevicePrefix: "run-42."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g, pts := generate(t, tc.cfg, 20000)
			ids := map[string]bool{}
			for _, id := range g.DeviceIDs() {
				ids[id] = true
			}
			if len(ids) != tc.cfg.Devices {
				t.Fatalf("%d distinct device ids, want %d", len(ids), tc.cfg.Devices)
			}
			last := map[string]int64{}
			prev := int64(math.MinInt64)
			for i, p := range pts {
				if err := point.ValidDeviceID(p.DeviceID); err != nil || !ids[p.DeviceID] {
					t.Fatalf("point %d: device id %q invalid or unknown", i, p.DeviceID)
				}
				if p.LatE7 < -90*geo.DegreeScale || p.LatE7 > 90*geo.DegreeScale ||
					p.LonE7 < -180*geo.DegreeScale || p.LonE7 > 180*geo.DegreeScale {
					t.Fatalf("point %d out of range: %+v", i, p)
				}
				if p.TimeMs < testStart.UnixMilli() || p.TimeMs < prev || p.TimeMs < last[p.DeviceID] {
					t.Fatalf("point %d: time %d before start, the previous point or the device's last fix", i, p.TimeMs)
				}
				prev, last[p.DeviceID] = p.TimeMs, p.TimeMs
				if e := p.Extras; e.Speed != nil && (*e.Speed < 0 || *e.Heading < 0 || *e.Heading >= 360 || *e.Accuracy < 0) {
					t.Fatalf("point %d: extras out of range: speed %v heading %v accuracy %v", i, *e.Speed, *e.Heading, *e.Accuracy)
				}
			}
		})
	}
	if id := DeviceID("sim-", 0, 10); id != "sim-0001" {
		t.Errorf("DeviceID = %q, want sim-0001", id)
	}
}

func TestTracksMoveSmoothly(t *testing.T) {
	const n = 30000
	g, pts := generate(t, Config{Devices: 30, Seed: 11, Start: testStart}, n)
	profiles := map[string]profile{}
	for i, id := range g.DeviceIDs() {
		profiles[id] = regions[i%len(regions)].profile
	}
	for id, track := range byDevice(pts) {
		pr := profiles[id]
		for i := 1; i < len(track); i++ {
			a, b := track[i-1], track[i]
			dt := float64(b.TimeMs-a.TimeMs) / 1000
			lat1, lon1 := geo.FromFixed(a.LatE7), geo.FromFixed(a.LonE7)
			lat2, lon2 := geo.FromFixed(b.LatE7), geo.FromFixed(b.LonE7)
			// The true position moves at most maxSpeed·dt; each reported
			// position is within 3σ of it; rounding adds centimetres.
			if d, bound := Distance(lat1, lon1, lat2, lon2), pr.maxSpeed*dt+6*pr.noise+0.1; d > bound {
				t.Fatalf("%s (%s) fix %d: moved %.1f m in %.3f s, bound %.1f m", id, pr.name, i, d, dt, bound)
			}
			if dv := math.Abs(*b.Extras.Speed - *a.Extras.Speed); dv > pr.maxAccel*dt+0.011 {
				t.Fatalf("%s fix %d: speed jumped by %.2f m/s in %.3f s", id, i, dv, dt)
			}
			if math.Abs(lat1) > 89.5 || dt > 5 {
				continue // heading relative to north is meaningless at the pole
			}
			// Besides turning, a great circle's bearing drifts by about
			// s·tan(lat)/R radians over a step of s metres.
			drift := pr.maxSpeed * dt * math.Abs(math.Tan(lat1*deg)) / EarthRadius * rad
			dh := math.Abs(angleDiff(*a.Extras.Heading*deg, *b.Extras.Heading*deg)) * rad
			if bound := pr.maxTurn*dt + 2*drift + 0.11; dh > bound {
				t.Fatalf("%s (%s) fix %d at lat %.3f: heading turned %.2f° in %.3f s, bound %.2f°", id, pr.name, i, lat1, dh, dt, bound)
			}
		}
	}
}

func TestTracksCoverSpecialCases(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4, 5} {
		t.Run("seed "+string(rune('0'+seed)), func(t *testing.T) {
			_, pts := generate(t, Config{Devices: 20, Seed: seed, Start: testStart}, 20*600)
			var crossings, arctic, antarctic, gaps int
			for _, track := range byDevice(pts) {
				for i, p := range track {
					switch {
					case p.LatE7 > 80*geo.DegreeScale:
						arctic++
					case p.LatE7 < -80*geo.DegreeScale:
						antarctic++
					}
					if i == 0 {
						continue
					}
					a := track[i-1]
					if (a.LonE7 > 170*geo.DegreeScale && p.LonE7 < -170*geo.DegreeScale) ||
						(a.LonE7 < -170*geo.DegreeScale && p.LonE7 > 170*geo.DegreeScale) {
						crossings++
					}
					if p.TimeMs-a.TimeMs >= 10*DefaultInterval.Milliseconds() {
						gaps++
					}
				}
			}
			if crossings == 0 || arctic == 0 || antarctic == 0 || gaps == 0 {
				t.Fatalf("antimeridian crossings %d, points above 80°N %d, below 80°S %d, gaps %d: want each > 0",
					crossings, arctic, antarctic, gaps)
			}
		})
	}
}

func TestUniformCoversRanges(t *testing.T) {
	_, pts := generate(t, Config{Devices: 4, Seed: 5, Mode: ModeUniform, Start: testStart}, 20000)
	var cells [6][6]int
	minLat, maxLat, minLon, maxLon := int64(math.MaxInt64), int64(math.MinInt64), int64(math.MaxInt64), int64(math.MinInt64)
	var sumLat, sumLon float64
	for _, p := range pts {
		minLat, maxLat = min(minLat, p.LatE7), max(maxLat, p.LatE7)
		minLon, maxLon = min(minLon, p.LonE7), max(maxLon, p.LonE7)
		sumLat += geo.FromFixed(p.LatE7)
		sumLon += geo.FromFixed(p.LonE7)
		r := min(5, int((geo.FromFixed(p.LatE7)+90)/30))
		c := min(5, int((geo.FromFixed(p.LonE7)+180)/60))
		cells[r][c]++
		if p.Extras != (point.Extras{}) {
			t.Fatal("uniform points carry extras; the seed's points had none")
		}
	}
	if geo.FromFixed(minLat) > -89.5 || geo.FromFixed(maxLat) < 89.5 || geo.FromFixed(minLon) > -179.5 || geo.FromFixed(maxLon) < 179.5 {
		t.Errorf("ranges not covered: lat %v..%v lon %v..%v", geo.FromFixed(minLat), geo.FromFixed(maxLat), geo.FromFixed(minLon), geo.FromFixed(maxLon))
	}
	for r, row := range cells {
		for c, n := range row {
			// 20000/36 ≈ 556 expected per cell.
			if n < 400 || n > 720 {
				t.Errorf("cell lat band %d lon band %d holds %d points, want about 556", r, c, n)
			}
		}
	}
	if m := sumLat / float64(len(pts)); math.Abs(m) > 2 {
		t.Errorf("mean latitude %.2f, want about 0", m)
	}
	if m := sumLon / float64(len(pts)); math.Abs(m) > 4 {
		t.Errorf("mean longitude %.2f, want about 0", m)
	}
}

func TestNotAfterCapsTimestamps(t *testing.T) {
	limit := testStart.Add(10 * time.Second)
	_, pts := generate(t, Config{Devices: 2, Seed: 1, Start: testStart, NotAfter: func() time.Time { return limit }}, 100)
	for _, p := range pts {
		if p.TimeMs > limit.UnixMilli() {
			t.Fatalf("timestamp %d after the cap %d", p.TimeMs, limit.UnixMilli())
		}
	}
	if got := pts[len(pts)-1].TimeMs; got != limit.UnixMilli() {
		t.Fatalf("last timestamp %d, want it capped to %d", got, limit.UnixMilli())
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // substring of the error; "" means valid
	}{
		{"defaults", Config{}, ""},
		{"negative devices", Config{Devices: -1}, "devices"},
		{"bad mode", Config{Mode: "random"}, "mode"},
		{"bad prefix", Config{DevicePrefix: "sim/"}, "device-prefix"},
		{"prefix too long", Config{DevicePrefix: strings.Repeat("x", 125)}, "device-prefix"},
		{"interval too short", Config{Interval: time.Microsecond}, "interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Validate() = %v, want an error about %q", err, tc.want)
			}
		})
	}
}
