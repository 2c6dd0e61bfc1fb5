package scripts

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

// A partition key of the wrong type (device index, backlog counter, geo
// index) is refused by both counting scripts before anything is written
// (keytype.lua; apply.lua and applysums.lua, invariant 2).
func TestCountingRefusesWrongKeyTypes(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		for _, name := range []string{"devices", "backlog", "geo"} {
			f := newFixture(t, c)
			bad := map[string]string{"devices": f.schema.DeviceIndex(0), "backlog": f.schema.Backlog(0), "geo": f.schema.Geo(0)}[name]
			f.appendPacked(t, randomPoints(rand.New(rand.NewPCG(51, 52)), 20, "a", "b"), 5)
			msgs := f.read(t, "c1", 100)
			c.Del(ctx, bad)
			c.HSet(ctx, bad, "x", "1")
			want := bad + " is not a "
			if _, err := f.batch(t, msgs).Run(ctx, c, keys.Group); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: apply: %v, want %q", name, err, want)
			}
			if _, _, err := f.sumBatch(t, msgs).Run(ctx, c, keys.Group, "c1"); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: applysums: %v, want %q", name, err, want)
			}
			if p, _ := c.XPending(ctx, f.schema.Stream(0), keys.Group).Result(); p.Count != int64(len(msgs)) {
				t.Errorf("%s: pending = %d, want %d (nothing acknowledged)", name, p.Count, len(msgs))
			}
			if n, _ := c.Exists(ctx, f.schema.Total(0)).Result(); n != 0 {
				t.Errorf("%s: total written by a refused call", name)
			}
		}
	})
}
