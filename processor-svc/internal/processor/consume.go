package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/backoff"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/scripts"
)

// retryPolicy spaces the attempts of a failed Redis call: doubling from
// 50 ms, capped at 5 s.
var retryPolicy = backoff.Policy{Base: 50 * time.Millisecond, Max: 5 * time.Second}

// partition is the consumer of one partition stream.
type partition struct {
	p      *Processor
	n      int
	stream string
	log    *slog.Logger
	// deltaCalls is how many more calls skip reading their hashes first
	// (all in delta mode): set to conflictBackoff when a call conflicted
	// twice, i.e. another processor wrote its hashes between the read and
	// the call, and again before it was sent again.
	deltaCalls int
	// dec and buf decode the partition's entries (batch.go).
	dec point.EntryDecoder
	buf []point.Point
	// count is how many entries the next read asks for (readsize.go).
	count int
	// written remembers what this partition's calls wrote to its device
	// hashes, in place of reading them before the next call.
	written *scripts.WriteCache
}

// writeCacheKeys bounds a partition's WriteCache: the four hashes of ~2,000
// devices, ~1 MB.
const writeCacheKeys = 8192

// conflictBackoff is how many calls of a partition skip the read ahead
// (SumBatch.Prepare) after one that conflicted twice. One conflict costs
// a second call with the hashes written meanwhile in delta mode (in a
// test with two processors on every partition, 15 % of calls had one);
// two in a row cost a third call with all in delta mode, so
// the partition then counts with increments for a while, and tries again.
const conflictBackoff = 16

func (p *Processor) newPartition(n int) *partition {
	s := p.schema.Stream(n)
	return &partition{
		p: p, n: n, stream: s, count: p.cfg.BatchSize, written: scripts.NewWriteCache(writeCacheKeys),
		log: p.log.With("stream", s, "group", keys.Group, "consumer", p.cfg.Consumer),
	}
}

// run consumes the partition until ctx is done. Work that must complete
// once started (a read and the apply of what it returned) uses finish,
// which outlives ctx by the shutdown grace; see Processor.Run.
func (w *partition) run(ctx, finish context.Context) error {
	w.firstCount(ctx)
	if err := w.drainOwn(ctx, finish); err != nil {
		return err
	}
	nextClaim := time.Now() // claim once at start: a dead consumer's entries may be waiting
	bo := backoff.Retry{Policy: retryPolicy}
	reread := false
	for ctx.Err() == nil {
		if !time.Now().Before(nextClaim) {
			if err := w.claim(ctx, finish); err != nil {
				return err
			}
			nextClaim = time.Now().Add(w.p.cfg.ClaimInterval)
		}
		if reread {
			// A read failed (failover.go, mustReread): count what it may
			// have delivered before reading new entries.
			if err := w.drainOwn(ctx, finish); err != nil {
				return err
			}
			reread = false
		}
		// The read uses finish, not ctx: a blocked XREADGROUP cancelled at
		// shutdown could lose its reply while Redis delivers entries to us,
		// which would stay pending until a restart or a claim. (go-redis
		// ignores cancellation during a command unless
		// ContextTimeoutEnabled is set; this does not rely on that.) Block
		// is finite, so a shutdown waits at most Block for the read, then
		// applies what it returned.
		asked := w.count
		msgs, err := w.read(finish, ">", w.p.cfg.Block)
		if err != nil {
			d := bo.Next()
			w.log.Warn("read failed, retrying", "retry_in", d, "err", err)
			if backoff.Sleep(ctx, d) != nil {
				break
			}
			reread = reread || mustReread(err)
			continue
		}
		bo.Reset()
		if err := w.apply(finish, msgs, true); err != nil {
			return err
		}
		// A read short of a batch: wait a little before the next one, so
		// that it finds more of each device's points to add up in one
		// write per hash. Reading eagerly whatever arrived costs Redis
		// several times more per point (each point writes its own four
		// device hashes) exactly when the load is high enough to matter.
		if len(msgs) > 0 && len(msgs) < asked && w.p.cfg.Linger > 0 {
			_ = backoff.Sleep(ctx, w.p.cfg.Linger) // a shutdown ends the loop above
		}
	}
	w.log.Debug("partition stopped")
	return nil
}

// drainOwn re-reads and applies the entries pending under this consumer's
// name: after a restart with the same name, these were delivered to the
// previous process but not applied (or applied without the process learning
// it; apply.lua then counts them as duplicates).
func (w *partition) drainOwn(ctx, finish context.Context) error {
	cursor, total := "0", 0
	bo := backoff.Retry{Policy: retryPolicy}
	for ctx.Err() == nil {
		msgs, err := w.read(finish, cursor, -1)
		if err != nil {
			d := bo.Next()
			w.log.Warn("read of own pending entries failed, retrying", "retry_in", d, "err", err)
			if backoff.Sleep(ctx, d) != nil {
				break
			}
			continue
		}
		if len(msgs) == 0 {
			break
		}
		if err := w.apply(finish, msgs, false); err != nil {
			return err
		}
		total += len(msgs)
		cursor = msgs[len(msgs)-1].ID
	}
	if total > 0 {
		w.log.Info("re-read entries left pending by a previous run", "entries", total)
	}
	return nil
}

// read reads up to w.count entries with XREADGROUP from id: ">" for new
// entries (blocking up to block), or an ID for this consumer's pending
// entries after it (block < 0: no BLOCK argument). A read that returned
// entries sets w.count for the next one from their size (readsize.go).
func (w *partition) read(ctx context.Context, id string, block time.Duration) ([]redis.XMessage, error) {
	res, err := w.p.client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    keys.Group,
		Consumer: w.p.cfg.Consumer,
		Streams:  []string{w.stream, id},
		Count:    int64(w.count),
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		if redis.HasErrorPrefix(err, "NOGROUP") {
			// The stream or its group was deleted (FLUSHALL, an operator):
			// create them again so that new points are counted.
			if cerr := w.p.createGroup(ctx, w.stream); cerr != nil {
				err = errors.Join(err, cerr)
			}
		}
		return nil, fmt.Errorf("xreadgroup %s %s %s: %w", w.stream, keys.Group, id, err)
	}
	var out []redis.XMessage
	for _, s := range res {
		out = append(out, s.Messages...)
	}
	if len(out) > 0 {
		w.count = readCount(float64(entryPoints(out))/float64(len(out)), w.p.cfg.BatchSize)
	}
	return out, nil
}
