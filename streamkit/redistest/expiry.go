package redistest

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// ExpectExpiry sets keys that expire in 300 ms three ways (SET PX, PEXPIRE,
// PEXPIREAT) and a key without TTL, and waits until exactly the first three
// are gone.
func ExpectExpiry(t testing.TB, c redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	if err := c.Set(ctx, "px", "v", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(ctx, "pexpire", "f", 1).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.PExpire(ctx, "pexpire", 300*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "pexpireat", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.PExpireAt(ctx, "pexpireat", time.Now().Add(300*time.Millisecond)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, "kept", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 5*time.Second, "keys with a 300 ms TTL to expire", func() bool {
		n, err := c.Exists(ctx, "px", "pexpire", "pexpireat").Result()
		return err == nil && n == 0
	})
	if n, err := c.Exists(ctx, "kept").Result(); err != nil || n != 1 {
		t.Fatalf("key without TTL: exists = %d, %v; want 1", n, err)
	}
}
