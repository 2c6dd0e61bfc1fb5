package geo

import (
	"math"
	"testing"
)

func TestToFixedRoundTrip(t *testing.T) {
	for _, deg := range []float64{0, 52.52, -33.8688, 179.9999999, -180, 90, -90, 13.4050123} {
		if got := FromFixed(ToFixed(deg)); math.Abs(got-deg) > 0.5e-7 {
			t.Errorf("FromFixed(ToFixed(%v)) = %v", deg, got)
		}
	}
	// Seven decimals survive exactly: what a client sends rounded to 1e-7 is
	// what is stored.
	if got := ToFixed(52.5200123); got != 525200123 {
		t.Errorf("ToFixed(52.5200123) = %d, want 525200123", got)
	}
	if got := ToFixed(-0.00000005); got != -1 {
		t.Errorf("ToFixed rounds half away from zero: got %d, want -1", got)
	}
}

func TestRangeChecks(t *testing.T) {
	tests := []struct {
		name    string
		f       func(float64) (int64, error)
		in      float64
		wantErr bool
	}{
		{"lat 90", LatitudeE7, 90, false},
		{"lat -90", LatitudeE7, -90, false},
		{"lat 90.0000001", LatitudeE7, 90.0000001, true},
		{"lat NaN", LatitudeE7, math.NaN(), true},
		{"lat +Inf", LatitudeE7, math.Inf(1), true},
		{"lon 180", LongitudeE7, 180, false},
		{"lon -180", LongitudeE7, -180, false},
		{"lon -180.5", LongitudeE7, -180.5, true},
		{"lon NaN", LongitudeE7, math.NaN(), true},
		{"lon -Inf", LongitudeE7, math.Inf(-1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.f(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
		})
	}
}

// centroidOf sums the fixed-point unit vectors of positions given in degrees.
func centroidOf(tb testing.TB, pts ...[2]float64) (lat, lon float64, ok bool) {
	tb.Helper()
	var sx, sy, sz int64
	for _, p := range pts {
		v := UnitVector(ToFixed(p[0]), ToFixed(p[1]))
		sx, sy, sz = sx+v.X, sy+v.Y, sz+v.Z
	}
	return Centroid(sx, sy, sz)
}

func TestCentroid(t *testing.T) {
	tests := []struct {
		name             string
		pts              [][2]float64
		wantLat, wantLon float64
		tol              float64
	}{
		{"single point", [][2]float64{{52.52, 13.405}}, 52.52, 13.405, 1e-6},
		// Unit vectors are kept to 1e-9, so a centroid is exact to about 1e-7°.
		{"equator pair", [][2]float64{{0, 10}, {0, 20}}, 0, 15, 1e-7},
		// The arithmetic mean of 179.5 and -179.5 is 0, on the wrong side of
		// the Earth; the spherical mean is on the antimeridian.
		{"antimeridian", [][2]float64{{0, 179.5}, {0, -179.5}}, 0, 180, 1e-9},
		{"antimeridian north", [][2]float64{{10, 170}, {10, -170}}, 10.15, 180, 0.01},
		// Around the north pole at 89°, spread over all longitudes: the
		// centroid is the pole, whatever the mean longitude says.
		{"around the pole", [][2]float64{{89, 0}, {89, 90}, {89, 180}, {89, -90}}, 90, 0, 1e-6},
		{"near the pole", [][2]float64{{89.9, 0}, {89.9, 180}}, 90, 0, 1e-6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lat, lon, ok := centroidOf(t, tt.pts...)
			if !ok {
				t.Fatal("centroid undefined")
			}
			if math.Abs(lat-tt.wantLat) > tt.tol {
				t.Errorf("lat = %.10f, want %.10f", lat, tt.wantLat)
			}
			if tt.wantLat == 90 {
				return // longitude is meaningless at the pole
			}
			if d := math.Abs(math.Abs(lon) - math.Abs(tt.wantLon)); d > tt.tol {
				t.Errorf("lon = %.10f, want ±%.10f", lon, tt.wantLon)
			}
		})
	}
}

func TestCentroidUndefined(t *testing.T) {
	if _, _, ok := centroidOf(t, [2]float64{0, 0}, [2]float64{0, 180}); ok {
		t.Error("antipodal points: want no centroid")
	}
	if _, _, ok := Centroid(0, 0, 0); ok {
		t.Error("empty sums: want no centroid")
	}
}

func TestUnitVectorIsUnit(t *testing.T) {
	for _, p := range [][2]float64{{0, 0}, {90, 0}, {-90, 0}, {45, 45}, {-12.3456789, 179.9999999}} {
		v := UnitVector(ToFixed(p[0]), ToFixed(p[1]))
		x, y, z := float64(v.X)/VectorScale, float64(v.Y)/VectorScale, float64(v.Z)/VectorScale
		if n := math.Sqrt(x*x + y*y + z*z); math.Abs(n-1) > 2e-9 {
			t.Errorf("|UnitVector(%v)| = %v", p, n)
		}
	}
}

func FuzzUnitVectorCentroid(f *testing.F) {
	f.Add(0.0, 0.0)
	f.Add(90.0, 180.0)
	f.Add(-90.0, -180.0)
	f.Add(math.NaN(), 1.0)
	f.Add(math.Inf(1), 1.0)
	f.Add(1e308, -1e308)
	f.Fuzz(func(t *testing.T, lat, lon float64) {
		la, err1 := LatitudeE7(lat)
		lo, err2 := LongitudeE7(lon)
		if err1 != nil || err2 != nil {
			return
		}
		v := UnitVector(la, lo)
		clat, clon, ok := Centroid(v.X, v.Y, v.Z)
		if !ok {
			t.Fatalf("single point (%v, %v) has no centroid", lat, lon)
		}
		if math.Abs(clat-lat) > 1e-6 {
			t.Fatalf("centroid lat %v of single point %v", clat, lat)
		}
		if math.Abs(lat) < 89.99 {
			d := math.Mod(math.Abs(clon-lon), 360)
			if d > 1e-5 && math.Abs(d-360) > 1e-5 {
				t.Fatalf("centroid lon %v of single point %v", clon, lon)
			}
		}
	})
}
