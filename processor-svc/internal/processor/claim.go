package processor

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/scripts"
)

// claim takes over the entries of this partition that have been pending for
// longer than ClaimMinIdle, normally those of a consumer that died between
// reading and applying them, and applies them with the same code path as
// new entries. XAUTOCLAIM is run from the start of the pending list until
// its cursor comes back to 0-0, each call claiming at most BatchSize.
//
// Claiming from a consumer that is alive but slow is harmless: whichever of
// the two applies an entry first counts it, the other one's XACK returns 0
// and apply.lua skips it.
//
// A pass that went through the whole pending list ends by removing the
// names of consumers that own nothing and have been idle for
// ConsumerExpiry (removeIdleConsumers).
//
// A failed XAUTOCLAIM is logged and tried again at the next interval; claim
// returns an error only when claimed entries could not be applied (see
// retry).
func (w *partition) claim(ctx, finish context.Context) error {
	start := "0-0"
	for ctx.Err() == nil {
		// finish, not ctx: once Redis has moved entries to us, the reply
		// must not be dropped by a cancellation.
		msgs, next, deleted, err := w.p.client.XAutoClaimWithDeleted(finish, &redis.XAutoClaimArgs{
			Stream:   w.stream,
			Group:    keys.Group,
			Consumer: w.p.cfg.Consumer,
			MinIdle:  w.p.cfg.ClaimMinIdle,
			Start:    start,
			Count:    int64(w.count),
		}).Result()
		if err != nil {
			w.log.Warn("claim failed, trying again later", "err", fmt.Errorf("xautoclaim %s: %w", w.stream, err))
			return nil
		}
		if len(deleted) > 0 {
			// Redis 7 drops pending entries whose stream entry no longer
			// exists and names them here. They were never counted, and
			// cannot be: something deleted or trimmed unacknowledged
			// entries.
			w.log.Warn("pending entries were deleted from the stream before being counted", "ids", deleted)
		}
		if len(msgs) > 0 {
			w.p.claimed.Add(int64(len(msgs)))
			w.log.Info("claimed entries idle in other consumers", "entries", len(msgs), "min_idle", w.p.cfg.ClaimMinIdle)
			if err := w.apply(finish, msgs, false); err != nil {
				return err
			}
		}
		if next == "0-0" || next == "" {
			w.removeIdleConsumers(finish)
			return nil
		}
		start = next
	}
	return nil
}

// removeIdleConsumers removes from the group the names of other consumers
// that own no pending entry and have been idle for ConsumerExpiry: those of
// processors replaced under another name, once their entries have been
// claimed. A consumer that owns entries is never removed (delidle.lua). A
// failure is logged and tried again after the next claim pass.
func (w *partition) removeIdleConsumers(ctx context.Context) {
	if w.p.cfg.ConsumerExpiry < 0 {
		return
	}
	names, err := scripts.RemoveIdleConsumers(ctx, w.p.client, w.stream, keys.Group, w.p.cfg.Consumer, w.p.cfg.ConsumerExpiry)
	if err != nil {
		w.log.Warn("removing idle consumers failed, trying again later", "err", err)
		return
	}
	if len(names) > 0 {
		w.p.consumersRemoved.Add(int64(len(names)))
		w.log.Info("removed idle consumers owning no entries", "consumers", names, "idle_for", w.p.cfg.ConsumerExpiry)
	}
}
