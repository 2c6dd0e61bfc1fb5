package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

func TestInspect(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	s, _ := keys.New("demo", 4)
	pts := []point.Point{{DeviceID: "car-1", TimeMs: 1737633600000, LatE7: 525200000, LonE7: 134050000}}
	for i, values := range [][]string{
		pts[0].AppendLegacyFields(nil),
		{point.FieldCount, "1", point.FieldPoints, string(point.AppendSegment(nil, pts))},
	} {
		if err := c.XAdd(ctx, &redis.XAddArgs{Stream: s.Stream(2), ID: []string{"1-0", "2-0"}[i], Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	url := "redis://" + m.Addr()
	base := []string{"inspect", "--redis-url", url, "--key-prefix", "demo", "--partition", "2"}
	for _, tc := range []struct {
		name   string
		args   []string
		meta   bool
		code   int
		stdout []string // substrings
		stderr string
	}{
		{name: "help", args: []string{"help", "inspect"}, stdout: []string{"--partition", "GEOSTREAM_REDIS_URL"}},
		{name: "no url", args: []string{"inspect", "--partition", "2"}, code: 2, stderr: "redis-url is required"},
		{name: "no partition", args: []string{"inspect", "--redis-url", url}, code: 2, stderr: "partition is required"},
		{name: "no deployment", args: base, code: 1, stderr: "no geostream deployment"},
		{name: "partitions given", args: append(base, "--partitions", "4"), stdout: []string{
			"entry 1-0 legacy, 1 points", "  1-0 car-1 2025-01-23T12:00:00.000Z 52.5200000 13.4050000",
			"entry 2-0 packed, 1 points", "  2-0 car-1 2025-01-23T12:00:00.000Z 52.5200000 13.4050000",
			"# " + s.Stream(2) + ": 2 entries, 2 points"}},
		{name: "partitions from meta", args: append(base, "--count", "1"), meta: true,
			stdout: []string{"entry 1-0 legacy", "next page: --start '(1-0'"}},
		{name: "partition out of range", args: []string{"inspect", "--redis-url", url, "--key-prefix", "demo", "--partition", "4"}, meta: true, code: 2, stderr: "partitions 0..3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.meta {
				m.HSet(s.Meta(), "partitions", "4")
				t.Cleanup(func() { m.Del(s.Meta()) })
			}
			var stdout, stderr bytes.Buffer
			err := run(ctx, tc.args, func(string) string { return "" }, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != tc.code {
				t.Fatalf("exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", code, err, tc.code, stdout.String(), stderr.String())
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
			}
		})
	}
}
