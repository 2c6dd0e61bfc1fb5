package redisconn

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
)

func TestOpen(t *testing.T) {
	tests := []struct {
		url     string
		cluster bool
		want    string
	}{
		{"redis://127.0.0.1:7001", false, "redis 127.0.0.1:7001"},
		{"rediss://u:pw@127.0.0.1:7002/1", false, "redis 127.0.0.1:7002"},
		{"redis://127.0.0.1:7001,redis://127.0.0.1:7002", false, "redis cluster 127.0.0.1:7001,127.0.0.1:7002"},
		{"redis://127.0.0.1:7001", true, "redis cluster 127.0.0.1:7001"},
	}
	for _, tt := range tests {
		c, err := Open(tt.url, Options{Cluster: tt.cluster})
		if err != nil {
			t.Fatalf("Open(%q): %v", tt.url, err)
		}
		if got := c.Describe(); got != tt.want {
			t.Errorf("Open(%q).Describe() = %q, want %q", tt.url, got, tt.want)
		}
		c.Close()
	}
}

func TestOpenClusterRejectsDB(t *testing.T) {
	for _, url := range []string{"redis://127.0.0.1:7001/2,redis://127.0.0.1:7002", "redis://127.0.0.1:7001/1"} {
		_, err := Open(url, Options{Cluster: true})
		if err == nil || !strings.Contains(err.Error(), "only database 0") {
			t.Errorf("Open(%q) = %v, want the database refused", url, err)
		}
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	_, err := Open("redis://user:s3cret@host:notaport", Options{})
	if err == nil {
		t.Fatal("want error")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestOpenEmbedded(t *testing.T) {
	c, err := Open("", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Embedded == nil || !strings.HasPrefix(c.Describe(), "embedded miniredis 127.0.0.1:") {
		t.Fatalf("Describe() = %q", c.Describe())
	}
	if err := Ping(context.Background(), c.Client); err != nil {
		t.Fatal(err)
	}
}

func TestCheckMeta(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer c.Close()
	ctx := context.Background()
	four, _ := keys.New("gs", 4)
	if err := CheckMeta(ctx, c, four); err != nil {
		t.Fatalf("first start: %v", err)
	}
	if err := CheckMeta(ctx, c, four); err != nil {
		t.Fatalf("same config again: %v", err)
	}
	eight, _ := keys.New("gs", 8)
	err := CheckMeta(ctx, c, eight)
	if !errors.Is(err, ErrMetaMismatch) || !strings.Contains(err.Error(), "partitions is 4 in redis") {
		t.Fatalf("other partition count: err = %v", err)
	}
	other, _ := keys.New("other", 8) // another prefix is another deployment
	if err := CheckMeta(ctx, c, other); err != nil {
		t.Fatalf("other prefix: %v", err)
	}
	m.HSet("gs:meta", "vector_scale", "1000")
	if err := CheckMeta(ctx, c, four); !errors.Is(err, ErrMetaMismatch) {
		t.Fatalf("other scale: err = %v", err)
	}
}

func TestCheckMetaPins(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer c.Close()
	s, _ := keys.New("gs", 4)
	ctx := context.Background()
	if err := CheckMeta(ctx, c, s, Pin{"resolutions", "1m:1h:0s"}); err != nil {
		t.Fatal(err)
	}
	err := CheckMeta(ctx, c, s, Pin{"resolutions", "1m:2h:0s"})
	if !errors.Is(err, ErrMetaMismatch) || !strings.Contains(err.Error(), "resolutions") {
		t.Fatalf("err = %v", err)
	}
}

// A Redis that accepts connections but never answers must not hold a caller
// past its context deadline.
func TestContextDeadlineHonoured(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // hold it open, answer nothing
		}
	}()
	c, err := Open("redis://"+ln.Addr().String(), Options{MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := Ping(ctx, c.Client); err == nil {
		t.Fatal("ping of a silent server: want error")
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Errorf("ping returned after %v, want about the 300ms deadline", d)
	}
}
