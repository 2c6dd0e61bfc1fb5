package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/scripts"
)

// replicaAcks returns ctx under which the flush's pipelines are followed
// by WAIT on each connection that wrote (redisconn.WithReplicaAcks), nil
// acks when MinReplicasAcked is 0.
func (c *committer) replicaAcks(ctx context.Context) (context.Context, *redisconn.ReplicaAcks) {
	return redisconn.WithReplicaAcks(ctx, c.minReplicas, c.replicaTimeout)
}

// replicated returns nil when the call of pc reached MinReplicasAcked
// replicas, and an error wrapping redisconn.ErrNotReplicated otherwise.
//
// A request replayed from its idempotency marker wrote nothing now: the
// WAIT after it proves only the connection's own writes replicated, and
// the marker and points were written earlier, perhaps on another
// connection, perhaps not replicated yet (that attempt was answered 503).
// So a call with a replay is followed by a fence: a write on the same
// master after the replay (INCRBY of the partition's backlog counter by 0,
// which changes nothing but replicates) and WAIT for it. The replication
// stream is ordered, so a replica that has the fence has the earlier write
// too.
func (c *committer) replicated(ctx context.Context, acks *redisconn.ReplicaAcks, pc *partCall, res []scripts.AppendResult) error {
	if acks == nil {
		return nil
	}
	if err := acks.Check(pc.cmd); err != nil {
		return err
	}
	for i, r := range res {
		b := pc.reqs[i].batch
		if r.Err != nil || !r.Replayed || b.Key == nil {
			continue
		}
		fctx, facks := c.replicaAcks(ctx)
		pipe := c.rdb.Pipeline()
		fence := pipe.IncrBy(fctx, b.Backlog, 0)
		if _, err := pipe.Exec(fctx); err != nil && !errors.Is(err, redis.Nil) {
			return fmt.Errorf("replica fence: %w", err)
		}
		return facks.Check(fence)
	}
	return nil
}
