package scripts

import (
	"context"
	_ "embed"
	"time"

	"github.com/redis/go-redis/v9"
)

//go:embed delidle.lua
var delIdleSrc string

// delIdle removes a group's idle consumers that own nothing (see
// delidle.lua).
var delIdle = redis.NewScript(delIdleSrc)

// RemoveIdleConsumers removes from group on stream the consumers other than
// self that own no pending entry and have been idle for at least minIdle,
// and returns their names. A consumer that owns entries is never removed:
// its entries must first be claimed (see delidle.lua).
func RemoveIdleConsumers(ctx context.Context, c redis.Scripter, stream, group, self string, minIdle time.Duration) ([]string, error) {
	return delIdle.Run(ctx, c, []string{stream}, group, minIdle.Milliseconds(), self).StringSlice()
}
