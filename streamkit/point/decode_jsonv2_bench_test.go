//go:build goexperiment.jsonv2

package point

import (
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"testing"
	"time"
)

// v2Point is an upload item as encoding/json/v2 decodes it.
type v2Point struct {
	Timestamp *string  `json:"timestamp"`
	Latitude  *float64 `json:"latitude"`
	Longitude *float64 `json:"longitude"`
	DeviceID  *string  `json:"device_id"`
	Altitude  *float64 `json:"altitude"`
	Speed     *float64 `json:"speed"`
	Heading   *float64 `json:"heading"`
	Accuracy  *float64 `json:"accuracy"`
	Battery   *float64 `json:"battery"`
}

// decodeV2 decodes and validates a JSON array of points with
// encoding/json/v2 (unknown and duplicate keys refused) and the checks of
// check.go: the alternative to the hand-written decoder that decode.go's
// header compares it with.
func decodeV2(data []byte, opts DecodeOptions) ([]Point, error) {
	var items []v2Point
	if err := jsonv2.Unmarshal(data, &items, jsonv2.RejectUnknownMembers(true)); err != nil {
		return nil, err
	}
	c := NewClock(opts)
	out := make([]Point, 0, len(items))
	for i, it := range items {
		p := Point{DeviceID: DefaultDevice, TimeMs: c.NowMs()}
		var msg string
		if it.Latitude == nil || it.Longitude == nil {
			return nil, fmt.Errorf("item %d: latitude and longitude are required", i)
		}
		if p.LatE7, msg = CheckLatitude(*it.Latitude); msg != "" {
			return nil, errors.New(msg)
		}
		if p.LonE7, msg = CheckLongitude(*it.Longitude); msg != "" {
			return nil, errors.New(msg)
		}
		if it.DeviceID != nil {
			if msg = CheckDeviceID(*it.DeviceID); msg != "" {
				return nil, errors.New(msg)
			}
			p.DeviceID = *it.DeviceID
		}
		if it.Timestamp != nil {
			t, err := time.Parse(time.RFC3339Nano, *it.Timestamp)
			if err != nil {
				return nil, err
			}
			if p.TimeMs, msg = c.Check(t, *it.Timestamp); msg != "" {
				return nil, errors.New(msg)
			}
		}
		for x, f := range [...]*float64{Altitude: it.Altitude, Speed: it.Speed, Heading: it.Heading, Accuracy: it.Accuracy, Battery: it.Battery} {
			if f != nil {
				if msg = p.Extras.Set(Extra(x), *f); msg != "" {
					return nil, errors.New(msg)
				}
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// BenchmarkDecodeBatch500JSONv2 is BenchmarkDecodeBatch500 through
// decodeV2:
//
//	GOEXPERIMENT=jsonv2 go test -run '^$' -bench 'DecodeBatch500' ./streamkit/point
func BenchmarkDecodeBatch500JSONv2(b *testing.B) {
	data := benchBody(500)
	o := testOpts()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeV2(data, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/point")
}

// TestDecodeJSONv2Agrees checks that the benchmark compares like with like:
// both decoders read the same points from the benchmark body.
func TestDecodeJSONv2Agrees(t *testing.T) {
	data := benchBody(500)
	want, err := DecodeBytes(data, BodyJSON, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeV2(data, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	if fmtPoints(got) != fmtPoints(want) {
		t.Errorf("encoding/json/v2 decoded other points")
	}
	// The error of an unknown field, for the comparison of messages.
	_, err = decodeV2([]byte(`[{"latitude":1,"longitude":2},{"latitude":1,"lngitude":2}]`), testOpts())
	var se *jsonv2.SemanticError
	if !errors.As(err, &se) {
		t.Fatalf("unknown field: %v", err)
	}
	t.Logf("encoding/json/v2 on an unknown field: %v", err)
	_, err = DecodeBytes([]byte(`[{"latitude":1,"longitude":2},{"latitude":1,"lngitude":2}]`), BodyJSON, testOpts())
	t.Logf("point.DecodeBytes on an unknown field: %v", err)
}
