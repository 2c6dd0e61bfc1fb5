package redisconn

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redistest"
)

// TestEmbeddedExpires checks that keys with a TTL vanish on their own, as on
// Redis, for both ways the services start an embedded Redis.
func TestEmbeddedExpires(t *testing.T) {
	starts := map[string]func(t *testing.T) redis.UniversalClient{
		"StartEmbedded": func(t *testing.T) redis.UniversalClient {
			e, err := StartEmbedded("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(e.Close)
			c := redis.NewClient(&redis.Options{Addr: e.Addr()})
			t.Cleanup(func() { c.Close() })
			return c
		},
		"Open empty url": func(t *testing.T) redis.UniversalClient {
			c, err := Open("", Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			return c.Client
		},
	}
	for name, start := range starts {
		t.Run(name, func(t *testing.T) {
			redistest.ExpectExpiry(t, start(t))
		})
	}
	// The same check holds on Redis, so it tests the embedded server and
	// not a miniredis quirk.
	t.Run("redis-server", func(t *testing.T) {
		redistest.ExpectExpiry(t, redistest.Start(t).Client())
	})
}
