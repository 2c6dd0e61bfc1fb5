// Package backends runs a test against both Redis implementations geostream
// supports: miniredis (the embedded default) and a real redis-server. It is
// apart from redistest so that modules that only start redis-server do not
// depend on miniredis.
package backends

import (
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redistest"
)

// Each runs f as two subtests, against miniredis and against a real
// redis-server started by redistest.Start (with its skip-or-fail rule), so
// that code is known to behave the same on both.
func Each(t *testing.T, f func(t *testing.T, c *redis.Client)) {
	t.Run("miniredis", func(t *testing.T) {
		m := miniredis.RunT(t)
		c := redis.NewClient(&redis.Options{Addr: m.Addr()})
		t.Cleanup(func() { c.Close() })
		f(t, c)
	})
	t.Run("redis-server", func(t *testing.T) {
		f(t, redistest.Start(t).Client())
	})
}
