package verify

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/point"
)

func sumsOf(pts ...point.Point) agg.Sums {
	var s agg.Sums
	for _, p := range pts {
		s.AddPoint(p)
	}
	return s
}

func TestCompare(t *testing.T) {
	base := sumsOf(point.Point{TimeMs: 1000, LatE7: 100, LonE7: 200}, point.Point{TimeMs: 3000, LatE7: 300, LonE7: -400})
	exact, _ := base.Summary()
	for _, tc := range []struct {
		name   string
		want   agg.Sums
		got    func(*agg.Summary)
		noData bool
		fields []string
	}{
		{name: "equal", want: base, got: func(*agg.Summary) {}},
		{name: "mean within tolerance", want: base, got: func(s *agg.Summary) { s.AverageLatitude += 5e-10 }},
		{name: "mean off", want: base, got: func(s *agg.Summary) { s.AverageLongitude += 2e-9 }, fields: []string{"average_longitude"}},
		{name: "count off hides the rest", want: base, got: func(s *agg.Summary) { s.DataCount++; s.AverageLatitude++ }, fields: []string{"data_count"}},
		{name: "centroid missing", want: base, got: func(s *agg.Summary) { s.Centroid = nil }, fields: []string{"centroid"}},
		{name: "bbox one unit off", want: base, got: func(s *agg.Summary) { s.BBox.MinLatitude -= 1e-7 }, fields: []string{"bbox.min_latitude"}},
		{name: "timestamp written differently", want: base, got: func(s *agg.Summary) { s.FirstTimestamp = "1970-01-01T00:00:01+00:00" }},
		{name: "timestamp off", want: base, got: func(s *agg.Summary) { s.LastTimestamp = "1970-01-01T00:00:03.001Z" }, fields: []string{"last_timestamp"}},
		{name: "expected empty, got empty", noData: true},
		{name: "expected data, got none", want: base, noData: true, fields: []string{"data_count"}},
		{name: "expected none, got data", got: func(*agg.Summary) {}, fields: []string{"data_count"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := exact
			if exact.Centroid != nil {
				c := *exact.Centroid
				got.Centroid = &c
			}
			if tc.got != nil {
				tc.got(&got)
			}
			var fields []string
			for _, d := range Compare("s", tc.want, got, tc.noData) {
				fields = append(fields, d.Field)
			}
			if !slices.Equal(fields, tc.fields) {
				t.Fatalf("diff fields %v, want %v", fields, tc.fields)
			}
		})
	}
}

func TestCompareCentroidAtTheAntimeridianAndPole(t *testing.T) {
	east := sumsOf(point.Point{LatE7: 0, LonE7: 1_800_000_000})
	sum, _ := east.Summary()
	got := sum
	got.Centroid = &agg.Position{Latitude: sum.Centroid.Latitude, Longitude: -sum.Centroid.Longitude}
	if d := Compare("s", east, got, false); len(d) != 0 {
		t.Errorf("180° and −180° reported as different: %v", d)
	}
	pole := sumsOf(point.Point{LatE7: 900_000_000, LonE7: 0})
	sum, _ = pole.Summary()
	got = sum
	got.Centroid = &agg.Position{Latitude: 90, Longitude: 123}
	if d := Compare("s", pole, got, false); len(d) != 0 {
		t.Errorf("longitude at the pole compared: %v", d)
	}
}

// lostSingles builds n single-point requests given up on, spread over
// devices, and the answers of an API that stored those chosen by keep.
func lostSingles(devices, n int, keep func(*rand.Rand) bool) (names []string, rec *recorder, got []answer, want []string) {
	ids := make([]string, devices)
	for i := range ids {
		ids[i] = string(rune('a' + i))
	}
	scopes := DeviceScopes(ids, true)
	rec = newRecorder(scopes)
	for _, s := range scopes.Scopes() {
		names = append(names, s.Name)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	stored := make([]agg.Sums, len(names))
	var idx []int
	for i := range n {
		p := point.Point{DeviceID: ids[rng.IntN(devices)], TimeMs: int64(i), LatE7: rng.Int64N(1e9), LonE7: rng.Int64N(1e9)}
		pd := pending{seq: int64(i), key: fmt.Sprint("k", i), points: 1}
		for _, s := range scopes.Of(idx[:0], &p) {
			pd.parts = append(pd.parts, contribution{scope: s, sums: sumsOf(p)})
		}
		rec.lost = append(rec.lost, pd)
		if keep(rng) {
			want = append(want, pd.key)
			for _, c := range pd.parts {
				stored[c.scope].Merge(c.sums)
			}
		}
	}
	got = make([]answer, len(names))
	for i, s := range stored {
		sum, ok := s.Summary()
		got[i] = answer{sum: sum, noData: !ok}
	}
	sortLost(rec.lost)
	return names, rec, got, want
}

func TestIdentify(t *testing.T) {
	for _, tc := range []struct {
		name    string
		devices int
		n       int
		keep    func(*rand.Rand) bool
		budget  int
		want    identifyResult
	}{
		{"none stored", 10, 500, func(*rand.Rand) bool { return false }, 0, identified},
		{"all stored", 10, 500, func(*rand.Rand) bool { return true }, 0, identified},
		{"some stored", 10, 80, func(r *rand.Rand) bool { return r.IntN(5) < 2 }, 0, identified},
		{"too many for the budget", 1, 40, func(r *rand.Rand) bool { return r.IntN(2) == 0 }, 5000, exhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.budget > 0 {
				old := searchBudget
				searchBudget = tc.budget
				defer func() { searchBudget = old }()
			}
			names, rec, got, want := lostSingles(tc.devices, tc.n, tc.keep)
			chosen, res := identify(names, rec.acked, got, rec.lost)
			if res != tc.want {
				t.Fatalf("result %v, want %v", res, tc.want)
			}
			if res != identified {
				return
			}
			var keys []string
			for _, r := range chosen {
				keys = append(keys, rec.lost[r].key)
			}
			slices.Sort(keys)
			slices.Sort(want)
			if !slices.Equal(keys, want) {
				t.Fatalf("identified %d requests, want the %d stored ones", len(keys), len(want))
			}
		})
	}
}
