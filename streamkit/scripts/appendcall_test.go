package scripts

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

func (f *fixture) batchOf(pts []point.Point, key, fp string, limit int64) *AppendBatch {
	b := &AppendBatch{Stream: f.schema.Stream(0), Backlog: f.schema.Backlog(0), BacklogLimit: limit, Fingerprint: fp}
	if key != "" {
		b.Key = f.markers.Key(key)
	}
	for i := range pts {
		b.Add(&pts[i])
	}
	return b
}

// hasMarker reports whether key's marker is in the hashes the fixture's
// layout names now.
func (f *fixture) hasMarker(t *testing.T, key string) bool {
	t.Helper()
	k := f.markers.Key(key)
	_, cur, prev := k.names(f.markers.view())
	for _, h := range []string{cur, prev} {
		ok, err := f.c.HExists(context.Background(), h, k.field).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return true
		}
	}
	return false
}

// One call of several requests answers each for itself: a later request
// with an earlier one's key is its replay (append.lua, invariant 3), the
// others store their own points, in the order they were added.
func TestAppendCallRequests(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		r := rand.New(rand.NewPCG(41, 42))
		p1, p2, p3, p4 := randomPoints(r, 3, "a"), randomPoints(r, 1, "b"), randomPoints(r, 5, "a"), randomPoints(r, 2, "c")
		var call AppendCall
		call.Add(f.batchOf(p1, "", "", 0))
		call.Add(f.batchOf(p2, "k", "fp-2", 0))
		call.Add(f.batchOf(p3, "k", "fp-3", 0)) // same key, other content
		call.Add(f.batchOf(p4, "k2", "fp-4", 0))
		if call.Requests() != 4 || call.Points() != 11 {
			t.Fatalf("call of %d requests, %d points", call.Requests(), call.Points())
		}
		res, err := call.Run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		want := []AppendResult{
			{Stored: 3}, {Stored: 1},
			{Stored: 1, Replayed: true, OtherContent: true}, {Stored: 2},
		}
		for i := range want {
			if res[i] != want[i] {
				t.Errorf("request %d: %+v, want %+v", i, res[i], want[i])
			}
		}
		stored, entries := f.stored(t)
		if entries != 1 {
			t.Errorf("%d entries, want 1 for the call", entries)
		}
		wantPts := append(append(append([]point.Point(nil), p1...), p2...), p4...)
		if len(stored) != len(wantPts) {
			t.Fatalf("%d points, want %d", len(stored), len(wantPts))
		}
		for i := range stored {
			if stored[i].DeviceID != wantPts[i].DeviceID || stored[i].TimeMs != wantPts[i].TimeMs || stored[i].LatE7 != wantPts[i].LatE7 {
				t.Errorf("point %d = %+v, want %+v", i, stored[i], wantPts[i])
			}
		}
	})
}

// Over the backlog limit every request of the call is refused with
// ErrBacklog, writing nothing (no entry, no marker), except a replay, which
// still answers what its first attempt stored.
func TestAppendCallBacklog(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		r := rand.New(rand.NewPCG(43, 44))
		first := randomPoints(r, 4, "a")
		var call AppendCall
		call.Add(f.batchOf(first, "done", "fp", 0))
		if _, err := call.Run(ctx, c); err != nil {
			t.Fatal(err)
		}
		call = AppendCall{}
		call.Add(f.batchOf(randomPoints(r, 2, "a"), "", "", 4))
		call.Add(f.batchOf(first, "done", "fp", 4))
		call.Add(f.batchOf(randomPoints(r, 2, "a"), "new", "fp-new", 4))
		res, err := call.Run(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(res[0].Err, ErrBacklog) || !errors.Is(res[2].Err, ErrBacklog) {
			t.Errorf("requests over the limit: %v, %v; want ErrBacklog", res[0].Err, res[2].Err)
		}
		if res[1] != (AppendResult{Stored: 4, Replayed: true}) {
			t.Errorf("replay over the limit: %+v", res[1])
		}
		if pts, _ := f.stored(t); len(pts) != 4 {
			t.Errorf("%d points stored, want 4", len(pts))
		}
		if f.hasMarker(t, "new") {
			t.Error("marker written by a refused request: its retry would be lost")
		}

		// Under the limit at the start of the call, the requests that the
		// call's earlier ones bring to it are refused (append.lua,
		// invariant 5): backlog 4, limit 7, requests of 2 points each.
		call = AppendCall{}
		for range 3 {
			call.Add(f.batchOf(randomPoints(r, 2, "a"), "", "", 7))
		}
		if res, err = call.Run(ctx, c); err != nil {
			t.Fatal(err)
		}
		if res[0].Err != nil || res[1].Err != nil || !errors.Is(res[2].Err, ErrBacklog) {
			t.Errorf("backlog 4 of 7 then 2+2+2 points: %v, %v, %v; want stored, stored, ErrBacklog", res[0].Err, res[1].Err, res[2].Err)
		}
		if n := f.counter(t); n != 8 {
			t.Errorf("counter = %d, want 8 (limit − 1 + one request)", n)
		}
	})
}

// A malformed call is an error that writes nothing for any of its requests
// (append.lua, invariant 1).
func TestAppendCallMalformed(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := newFixture(t, c)
		s, b := f.schema.Stream(0), f.schema.Backlog(0)
		seg := point.AppendSegment(nil, randomPoints(rand.New(rand.NewPCG(1, 2)), 2, "a"))
		one, two := []string{s, b, s, s, s, s}, []string{s, b, s, s, s, s, s, s, s}
		args := func(r int, rest ...any) []any {
			return append([]any{0, keys.Group, r, 60000, 1, 1, 1, 180000}, rest...)
		}
		for name, tc := range map[string]struct {
			keys []string
			args []any
		}{
			"no requests":     {[]string{s, b, s}, args(0)},
			"keys for 1 of 2": {one, args(2, "", "", 2, seg, "", "", 2, seg)},
			"args for 1 of 2": {two, args(2, "", "", 2, seg)},
			"no points":       {one, args(1, "", "", 0, seg)},
			"not a segment":   {two, args(2, "", "", 2, seg, "", "", 1, "x")},
			"empty segment":   {one, args(1, "", "", 1, "")},
			"trailing":        {one, args(1, "", "", 2, seg, "x")},
			"bad layout":      {one, []any{0, keys.Group, 1, 60000, "x", 1, 1, 180000, "field", "fp", 2, seg}},
			"no counter":      {[]string{s, s, s, s, s, s}, args(1, "", "", 2, seg)},
		} {
			if err := Append.Run(ctx, c, tc.keys, tc.args...).Err(); err == nil {
				t.Errorf("%s: want error", name)
			}
		}
		if n, _ := c.XLen(ctx, s).Result(); n != 0 || f.counter(t) != 0 {
			t.Errorf("XLEN = %d, counter %d; want 0, 0", n, f.counter(t))
		}
	})
}
