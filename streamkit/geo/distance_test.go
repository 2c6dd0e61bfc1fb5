package geo

import (
	"math"
	"testing"
)

func TestDistance(t *testing.T) {
	quarter := math.Pi / 2 * EarthRadius
	for _, tc := range []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want                   float64
	}{
		{"same point", 52.5, 13.4, 52.5, 13.4, 0},
		{"equator to pole", 0, 0, 90, 0, quarter},
		{"across the antimeridian", 0, 179.5, 0, -179.5, EarthRadius * math.Pi / 180},
		{"antipodes", 10, 20, -10, -160, 2 * quarter},
		// GEODIST of these two members on redis-server 7.0 (Palermo, Catania).
		{"Redis's GEODIST example", 38.115556, 13.361389, 37.502669, 15.087269, 166274.1516},
	} {
		if got := Distance(tc.lat1, tc.lon1, tc.lat2, tc.lon2); math.Abs(got-tc.want) > 0.5 {
			t.Errorf("%s: %.4f m, want %.4f", tc.name, got, tc.want)
		}
	}
}

func TestInIndexRange(t *testing.T) {
	for lat, want := range map[int64]bool{0: true, IndexMaxLatE7: true, -IndexMaxLatE7: true,
		IndexMaxLatE7 + 1: false, -IndexMaxLatE7 - 1: false, 900_000_000: false} {
		if got := InIndexRange(lat); got != want {
			t.Errorf("InIndexRange(%d) = %v", lat, got)
		}
	}
	if IndexMaxLat > 85.05112878 {
		t.Errorf("IndexMaxLat %v is beyond GEOADD's limit", IndexMaxLat)
	}
}
