package processor

import (
	"math"
	"testing"
)

func TestStreamID(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    streamID
		wantErr bool
	}{
		{"0-0", streamID{}, false},
		{"1526919030474-55", streamID{1526919030474, 55}, false},
		{"1526919030474", streamID{1526919030474, 0}, false},
		{"18446744073709551615-18446744073709551615", streamID{math.MaxUint64, math.MaxUint64}, false},
		{"", streamID{}, true},
		{"-1-0", streamID{}, true},
		{"1-x", streamID{}, true},
		{"1-2-3", streamID{}, true},
	} {
		got, err := parseStreamID(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseStreamID(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestStreamIDOrder(t *testing.T) {
	for _, tc := range []struct {
		a, b streamID
		less bool
	}{
		{streamID{1, 0}, streamID{1, 1}, true},
		{streamID{1, 9}, streamID{2, 0}, true},
		{streamID{2, 0}, streamID{1, 9}, false},
		{streamID{1, 1}, streamID{1, 1}, false},
		// numeric, not lexical: 9 < 10
		{streamID{9, 0}, streamID{10, 0}, true},
	} {
		if got := tc.a.less(tc.b); got != tc.less {
			t.Errorf("%v.less(%v) = %v", tc.a, tc.b, got)
		}
	}
	for _, tc := range []struct{ in, want streamID }{
		{streamID{0, 0}, streamID{0, 1}},
		{streamID{5, 7}, streamID{5, 8}},
		{streamID{5, math.MaxUint64}, streamID{6, 0}},
		{streamID{math.MaxUint64, math.MaxUint64}, streamID{math.MaxUint64, math.MaxUint64}},
	} {
		if got := tc.in.next(); got != tc.want {
			t.Errorf("%v.next() = %v, want %v", tc.in, got, tc.want)
		}
	}
	if got := minID(streamID{3, 1}, streamID{2, 9}); got != (streamID{2, 9}) {
		t.Errorf("minID = %v", got)
	}
	if s := (streamID{12, 3}).String(); s != "12-3" {
		t.Errorf("String = %q", s)
	}
}

// FuzzParseStreamID: whatever parses prints back to an ID that parses to
// the same value, and next never goes backwards.
func FuzzParseStreamID(f *testing.F) {
	for _, s := range []string{"0-0", "1-1", "18446744073709551615-18446744073709551615", "", "-", "1-", "+", "1e3-0", "１-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := parseStreamID(s)
		if err != nil {
			return
		}
		back, err := parseStreamID(id.String())
		if err != nil || back != id {
			t.Fatalf("%q → %v → %q → %v, %v", s, id, id.String(), back, err)
		}
		if id.next().less(id) {
			t.Fatalf("%v.next() = %v goes backwards", id, id.next())
		}
	})
}
