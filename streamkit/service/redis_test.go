package service

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/geostream/geostream/streamkit/redisconn"
)

// TestOpenAndCheckRedis: the first service pins its configuration, a second
// one configured alike passes, one with another partition count is refused,
// and an unreachable Redis is named as such.
func TestOpenAndCheckRedis(t *testing.T) {
	m := miniredis.RunT(t)
	addr := m.Addr()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	check := func(partitions int) error {
		t.Helper()
		c := Common{RedisURL: "redis://" + addr, Partitions: partitions, KeyPrefix: "gs"}
		s, err := c.Schema()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := c.Connect(context.Background(), redisconn.Options{}, s, 5*time.Second, log)
		if err == nil {
			conn.Close()
		}
		return err
	}
	if err := check(4); err != nil {
		t.Fatalf("first start: %v", err)
	}
	if err := check(4); err != nil {
		t.Fatalf("second start, same settings: %v", err)
	}
	if err := check(8); err == nil || !strings.Contains(err.Error(), "partitions") {
		t.Errorf("another partition count: err %v, want a refusal naming partitions", err)
	}
	m.Close()
	if err := check(4); err == nil || !strings.Contains(err.Error(), "is not reachable") {
		t.Errorf("redis down: err %v, want it named unreachable", err)
	}
}
