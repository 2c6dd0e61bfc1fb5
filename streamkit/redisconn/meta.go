package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/keys"
)

// SchemaVersion is the version of the stream entry and aggregate encoding.
const SchemaVersion = 1

// ErrMetaMismatch means Redis holds data written with another partition count
// or fixed-point scale than this service was started with. Starting anyway
// would silently corrupt the aggregates.
var ErrMetaMismatch = errors.New("redis holds geostream data of another configuration")

// Pin is one more setting CheckMeta pins, such as the bucket resolutions.
type Pin struct{ Field, Value string }

// CheckMeta pins the deployment's partition count, fixed-point scales and
// schema version in the meta hash on first start (HSETNX: the first service
// to start writes them), and fails with ErrMetaMismatch when the stored
// values differ from this service's. pins add settings every service must
// agree on.
func CheckMeta(ctx context.Context, c redis.UniversalClient, s *keys.Schema, pins ...Pin) error {
	want := map[string]string{
		"partitions":   strconv.Itoa(s.Partitions()),
		"degree_scale": strconv.Itoa(geo.DegreeScale),
		"vector_scale": strconv.Itoa(geo.VectorScale),
		"schema":       strconv.Itoa(SchemaVersion),
	}
	for _, p := range pins {
		want[p.Field] = p.Value
	}
	pipe := c.Pipeline()
	for f, v := range want {
		pipe.HSetNX(ctx, s.Meta(), f, v)
	}
	got := pipe.HGetAll(ctx, s.Meta())
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("check meta %s: %w", s.Meta(), err)
	}
	for f, v := range want {
		if g := got.Val()[f]; g != v {
			return fmt.Errorf("%w: %s is %s in redis (key %s) but %s here; start every service with the same settings, or use another key prefix",
				ErrMetaMismatch, f, g, s.Meta(), v)
		}
	}
	return nil
}

// Ping checks that Redis answers within ctx. On Redis Cluster every shard
// (each master and replica the client knows) must answer, since every one
// serves some partitions; the error names a node that did not.
func Ping(ctx context.Context, c redis.UniversalClient) error {
	if cc, ok := c.(*redis.ClusterClient); ok {
		return cc.ForEachShard(ctx, func(ctx context.Context, sc *redis.Client) error {
			if err := sc.Ping(ctx).Err(); err != nil {
				return fmt.Errorf("ping %s: %w", sc.Options().Addr, err)
			}
			return nil
		})
	}
	return c.Ping(ctx).Err()
}
