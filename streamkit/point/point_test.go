package point

import (
	"strings"
	"testing"
)

func TestValidDeviceID(t *testing.T) {
	tests := map[string]bool{
		"default": true, "truck-1": true, "a.b_c:d-E9": true, strings.Repeat("x", 128): true,
		"": false, strings.Repeat("x", 129): false, "a b": false, "a/b": false, "a{b}": false,
		"ünï": false, "a\x00": false, "a*": false,
	}
	for id, ok := range tests {
		if err := ValidDeviceID(id); (err == nil) != ok {
			t.Errorf("ValidDeviceID(%q) = %v, want ok=%v", id, err, ok)
		}
	}
}

func TestFieldsRoundTrip(t *testing.T) {
	alt, acc := -12.25, 3.0
	in := Point{DeviceID: "dev-1", TimeMs: 1737633600123, LatE7: 525200000, LonE7: -134050000,
		Extras: Extras{Altitude: &alt, Accuracy: &acc}}
	f := in.AppendLegacyFields(nil)
	v := map[string]any{}
	for i := 0; i < len(f); i += 2 {
		v[f[i]] = f[i+1]
	}
	out, err := FromValues(v)
	if err != nil {
		t.Fatal(err)
	}
	if out.DeviceID != in.DeviceID || out.TimeMs != in.TimeMs || out.LatE7 != in.LatE7 || out.LonE7 != in.LonE7 ||
		*out.Extras.Altitude != alt || *out.Extras.Accuracy != acc || out.Extras.Speed != nil || out.Extras.Heading != nil {
		t.Errorf("round trip: %+v -> %+v", in, out)
	}
}

func TestFromValuesRejectsBadEntries(t *testing.T) {
	good := map[string]any{FieldDevice: "d", FieldTime: "1", FieldLat: "2", FieldLon: "3"}
	for name, mutate := range map[string]func(map[string]any){
		"no device":  func(v map[string]any) { delete(v, FieldDevice) },
		"bad device": func(v map[string]any) { v[FieldDevice] = "a b" },
		"no time":    func(v map[string]any) { delete(v, FieldTime) },
		"float lat":  func(v map[string]any) { v[FieldLat] = "1.5" },
		"bad lon":    func(v map[string]any) { v[FieldLon] = "x" },
		"bad extra":  func(v map[string]any) { v[FieldSpeed] = "fast" },
		"non-string": func(v map[string]any) { v[FieldTime] = 5 },
	} {
		v := map[string]any{}
		for k, x := range good {
			v[k] = x
		}
		mutate(v)
		if _, err := FromValues(v); err == nil {
			t.Errorf("%s: want error", name)
		}
	}
	if _, err := FromValues(good); err != nil {
		t.Errorf("good entry: %v", err)
	}
}
