package track

import (
	"context"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

// Late points (stored at the tail of their hour's list) come back in time
// order, ties in stored order, and pages split anywhere, even inside a tie,
// give every point once.
func TestReadOrdersAndPages(t *testing.T) {
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	s, err := keys.New("", 4)
	if err != nil {
		t.Fatal(err)
	}
	h0 := int64(1_764_979_200_000)
	stored := []point.Point{ // in stored order; LatE7 numbers them in read order
		{TimeMs: h0 + 10, LatE7: 1}, {TimeMs: h0 + 30, LatE7: 5}, {TimeMs: h0 + 20, LatE7: 2},
		{TimeMs: h0 + 20, LatE7: 3}, {TimeMs: h0 + 20, LatE7: 4}, {TimeMs: h0 + 2*point.HourMs + 1, LatE7: 7},
		{TimeMs: h0 + 40, LatE7: 6}, {TimeMs: h0 + 9*point.HourMs, LatE7: 8},
	}
	p := s.PartitionOf("d")
	var first []byte // the first three records in one element, as a call appends them
	for i, q := range stored {
		h := point.HourStart(q.TimeMs)
		if i < 3 {
			first = point.AppendTrackRecord(first, &q, h)
			if i == 2 {
				c.RPush(ctx, s.Track(p, h, "d"), first)
			}
			continue
		}
		c.RPush(ctx, s.Track(p, h, "d"), point.AppendTrackRecord(nil, &q, h))
	}
	to := h0 + 10*point.HourMs
	for limit := 1; limit <= 9; limit++ {
		var got []int64
		cur := Cursor{T: h0}
		for pages := 0; ; pages++ {
			pg, err := Read(ctx, c, s, "d", h0, to, cur, limit)
			if err != nil || len(pg.Points) > limit || pages > 10 {
				t.Fatalf("limit %d: %d points, %v", limit, len(pg.Points), err)
			}
			for _, q := range pg.Points {
				got = append(got, q.LatE7)
			}
			if pg.Next == nil {
				break
			}
			if cur, err = ParseCursor(pg.Next.String()); err != nil {
				t.Fatal(err)
			}
		}
		if len(got) != 8 {
			t.Fatalf("limit %d: %v", limit, got)
		}
		for i, v := range got {
			if v != int64(i+1) {
				t.Fatalf("limit %d: order %v", limit, got)
			}
		}
	}
	pg, _ := Read(ctx, c, s, "d", h0+20, h0+31, Cursor{}, 100)
	if len(pg.Points) != 4 || pg.Next != nil {
		t.Errorf("range [20, 31): %d points", len(pg.Points))
	}
	if _, err := ParseCursor("x.1"); err == nil {
		t.Error("bad cursor parsed")
	}
}
