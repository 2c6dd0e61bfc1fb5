package scripts

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
)

//go:embed geofill.lua
var geoFillSrc string

// GeoFill puts devices' last positions in their partition's geo index
// (see geofill.lua).
var GeoFill = redis.NewScript(withPrelude(geoFillSrc))

// geoFillChunk is the devices of one GeoFill call.
const geoFillChunk = 500

// FillGeoIndex fills partition p's geo index from its device hashes when
// the index does not exist yet but devices do: a deployment upgraded from a
// version without it. It returns the number of devices with a last
// position it read (0 when the index existed).
func FillGeoIndex(ctx context.Context, c redis.Cmdable, s *keys.Schema, p int) (int64, error) {
	n, err := c.Exists(ctx, s.Geo(p)).Result()
	if err != nil || n > 0 {
		return 0, err
	}
	var filled int64
	for start := "-"; ; {
		ids, err := c.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.DeviceIndex(p), Start: start, Stop: "+", ByLex: true, Count: geoFillChunk}).Result()
		if err != nil {
			return filled, fmt.Errorf("zrange %s: %w", s.DeviceIndex(p), err)
		}
		if len(ids) == 0 {
			return filled, nil
		}
		keyNames := []string{s.Geo(p)}
		args := make([]any, len(ids))
		for i, id := range ids {
			keyNames = append(keyNames, s.Device(p, id))
			args[i] = id
		}
		k, err := GeoFill.Run(ctx, c, keyNames, args...).Int64()
		if err != nil {
			return filled, fmt.Errorf("fill %s: %w", s.Geo(p), err)
		}
		filled += k
		start = "(" + ids[len(ids)-1]
	}
}
