package processor

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestReadCount(t *testing.T) {
	for _, c := range []struct {
		perEntry float64
		batch    int
		want     int
	}{
		{0, 256, 256},              // nothing seen (an empty stream)
		{1, 256, 256},              // one-point entries: the batch size
		{500, 256, 100},            // 50,000 points
		{2000, 256, 25},            // group-committed entries of a backlog
		{1e6, 256, 1},              // always at least one entry
		{maxReadPoints, 10_000, 1}, // one entry of the bound
	} {
		if got := readCount(c.perEntry, c.batch); got != c.want {
			t.Errorf("readCount(%v, %d) = %d, want %d", c.perEntry, c.batch, got, c.want)
		}
	}
}

func TestEntryPoints(t *testing.T) {
	msgs := []redis.XMessage{
		{Values: map[string]any{"n": "500", "p": "x"}}, // packed
		{Values: map[string]any{"d": "a", "t": "1"}},   // legacy: one point
		{Values: map[string]any{"n": "bad"}},           // undecodable: counts one
	}
	if got := entryPoints(msgs); got != 502 {
		t.Errorf("entryPoints = %d, want 502", got)
	}
}

// A partition's first read is sized from its newest entry: a backlog of
// 2,000-point entries is read 25 entries at a time, an empty stream or
// one of small entries BatchSize at a time; every point is still counted.
func TestFirstReadCount(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 1)
	cfg := testConfig("a")
	cfg.BatchSize = 256
	p, err := New(cfg, c, s, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	w := p.newPartition(0)
	w.firstCount(context.Background())
	if w.count != 256 {
		t.Errorf("empty stream: count %d, want the batch size", w.count)
	}
	small := genPoints(3, 10, 5)
	appendPoints(t, c, s, small)
	w.firstCount(context.Background())
	if w.count != 256 {
		t.Errorf("10-point entries: count %d, want the batch size", w.count)
	}
	big := genPoints(4, 2000, 50)
	appendPoints(t, c, s, big)
	w.firstCount(context.Background())
	if w.count != 25 {
		t.Errorf("2,000-point entries: count %d, want 25", w.count)
	}
	r := start(t, c, s, cfg)
	waitCount(t, c, s, int64(len(small)+len(big)))
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkExact(t, c, s, append(small, big...))
}
