package main

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redistest"
)

func TestRunExpiresKeys(t *testing.T) {
	port, err := redistest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"--addr", addr}, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	redistest.WaitFor(t, 5*time.Second, "embedded-redis answers PING", func() bool {
		return c.Ping(context.Background()).Err() == nil
	})
	redistest.ExpectExpiry(t, c)
}
