package inspect

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/point"
)

func f(v float64) *float64 { return &v }

// addEntries writes a legacy entry, a packed entry of two segments (three
// points, one with every extra) and a malformed entry to stream.
func addEntries(t *testing.T, c *redis.Client, stream string) {
	t.Helper()
	ctx := context.Background()
	legacy := point.Point{DeviceID: "car-1", TimeMs: 1737633600000, LatE7: 525200000, LonE7: 134050000,
		Extras: point.Extras{Altitude: f(34.5)}}
	seg1 := []point.Point{
		{DeviceID: "ship-9", TimeMs: 1737633601000, LatE7: -335000000, LonE7: -1799999999},
		{DeviceID: "car-1", TimeMs: 1737633601500, LatE7: 525200100, LonE7: 134050000},
	}
	seg2 := []point.Point{{DeviceID: "car-2", TimeMs: 1737633602001, LatE7: 1, LonE7: -5,
		Extras: point.Extras{Altitude: f(-1.25), Speed: f(12.3), Heading: f(359.9), Accuracy: f(4), Battery: f(87)}}}
	packed := string(point.AppendSegment(point.AppendSegment(nil, seg1), seg2))
	for _, e := range []struct {
		id     string
		values []string
	}{
		{"1737633600000-0", legacy.AppendLegacyFields(nil)},
		{"1737633602000-0", []string{point.FieldCount, "3", point.FieldPoints, packed}},
		{"1737633603000-0", []string{point.FieldCount, "2", point.FieldPoints, packed}},
	} {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: e.id, Values: e.values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPrint(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	addEntries(t, c, "s")

	var out bytes.Buffer
	s, err := Print(context.Background(), c, Options{Stream: "s", Count: 10}, &out)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed for the third entry", err)
	}
	want := `entry 1737633600000-0 legacy, 1 points, 51 bytes
  1737633600000-0 car-1 2025-01-23T12:00:00.000Z 52.5200000 13.4050000 alt=34.5
entry 1737633602000-0 packed, 3 points, 88 bytes
  1737633602000-0 ship-9 2025-01-23T12:00:01.000Z -33.5000000 -179.9999999
  1737633602000-0 car-1  2025-01-23T12:00:01.500Z 52.5200100  13.4050000
  1737633602000-0 car-2  2025-01-23T12:00:02.001Z 0.0000001   -0.0000005 alt=-1.25 speed=12.3 heading=359.9 accuracy=4 battery=87
entry 1737633603000-0 malformed, 88 bytes: malformed stream entry: 3 points, field "n" says 2
# s: 3 entries, 4 points
`
	if got := out.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	if s.Entries != 3 || s.Points != 4 || s.Malformed != 1 || s.Last != "1737633603000-0" {
		t.Errorf("summary = %+v", s)
	}
}

func TestPrintPages(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	addEntries(t, c, "s")
	ctx := context.Background()

	var out bytes.Buffer
	if _, err := Print(ctx, c, Options{Stream: "s", Count: 1}, &out); err != nil {
		t.Fatal(err)
	}
	next := "--start '(1737633600000-0'"
	if !strings.HasSuffix(out.String(), "# s: 1 entries, 1 points; next page: "+next+"\n") {
		t.Fatalf("first page:\n%s", out.String())
	}
	out.Reset()
	if _, err := Print(ctx, c, Options{Stream: "s", Start: "(1737633600000-0", Count: 1}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "entry 1737633602000-0 packed, 3 points") {
		t.Errorf("second page:\n%s", out.String())
	}
	out.Reset()
	if _, err := Print(ctx, c, Options{Stream: "missing", Count: 5}, &out); err != nil || out.String() != "# missing: 0 entries, 0 points\n" {
		t.Errorf("empty stream: %v, %q", err, out.String())
	}
}
