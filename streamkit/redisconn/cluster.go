package redisconn

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/backoff"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redisconn/shards"
)

// sendOnce keeps a ClusterClient from sending a script call a second time
// when it may have run.
//
// Why: go-redis's ClusterClient ignores Options.MaxRetries for its own retry
// loop. A command that fails with a network error or a read timeout after
// it was written is sent again (up to MaxRedirects times, to the same node
// and then another), and a pipeline is re-sent as a whole; but Redis may
// have run it already. For ingest's append.lua that stores the points twice
// (measured: one timed-out EVALSHA ran 2 times, one pipelined 4 times).
// Marking the command NoRetry stops that and still lets the client follow
// MOVED and ASK, which Redis answers without running the command.
//
// TRYAGAIN (a multi-key call whose keys are split between two nodes while
// their slot moves) also means "not run": sendOnce re-sends those calls
// itself, tryAgainAttempts times at most, backing off from tryAgainBackoff,
// and then returns the error (ingest answers 503, the client retries).
//
// Only scripts are marked: they are how geostream writes, and go-redis
// aggregates the replies of commands it fans out to every shard by their
// concrete type, which a wrapped command would hide.
type sendOnce struct{}

// Bounds of sendOnce's re-sends after TRYAGAIN: 20+40+80+160 ms of backoff
// at most, within the caller's context.
const tryAgainAttempts = 5

var tryAgainBackoff = backoff.Policy{Base: 20 * time.Millisecond, Max: 160 * time.Millisecond}

func (sendOnce) DialHook(next redis.DialHook) redis.DialHook { return next }

func (sendOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !isScript(cmd) {
			return next(ctx, cmd)
		}
		w := noRetryCmd{cmd}
		for attempt := 1; ; attempt++ {
			err := next(ctx, w)
			if !redis.HasErrorPrefix(err, "TRYAGAIN") || attempt == tryAgainAttempts ||
				backoff.Sleep(ctx, tryAgainBackoff.Delay(attempt)) != nil {
				return err
			}
		}
	}
}

func (sendOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		wrapped := make([]redis.Cmder, len(cmds))
		for i, c := range cmds {
			wrapped[i] = c
			if isScript(c) {
				wrapped[i] = noRetryCmd{c}
			}
		}
		err := next(ctx, wrapped)
		for attempt := 1; attempt < tryAgainAttempts; attempt++ {
			var again []redis.Cmder
			for _, c := range wrapped {
				if _, ok := c.(noRetryCmd); ok && redis.HasErrorPrefix(c.Err(), "TRYAGAIN") {
					again = append(again, c)
				}
			}
			if len(again) == 0 || backoff.Sleep(ctx, tryAgainBackoff.Delay(attempt)) != nil {
				break
			}
			next(ctx, again)
			err = nil
			for _, c := range cmds {
				if err = c.Err(); err != nil {
					break
				}
			}
		}
		return err
	}
}

// noRetryCmd is a command go-redis must not send again. It shares the
// wrapped command's state: the reply lands in the caller's command.
type noRetryCmd struct{ redis.Cmder }

func (noRetryCmd) NoRetry() bool { return true }

func isScript(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
		return true
	}
	return false
}

// Placement is where one partition's keys live.
type Placement struct {
	Partition int
	Tag       string // the hash tag of its keys
	Slot      int    // the cluster slot of the tag
	Node      string // host:port of the master serving the slot
}

// Layout returns the placement of every partition of s: on Redis Cluster
// the master that serves each partition's slot (read with CLUSTER SHARDS),
// on a single server that server's address. Log it to see how the
// partitions spread over the shards.
func Layout(ctx context.Context, c redis.UniversalClient, s *keys.Schema) ([]Placement, error) {
	out := make([]Placement, s.Partitions())
	for p := range out {
		tag := keys.Tag(p, s.Partitions())
		out[p] = Placement{Partition: p, Tag: tag, Slot: keys.Slot(tag)}
	}
	cc, ok := c.(*redis.ClusterClient)
	if !ok {
		addr := "redis"
		if cl, ok := c.(*redis.Client); ok {
			addr = cl.Options().Addr
		}
		for p := range out {
			out[p].Node = addr
		}
		return out, nil
	}
	ranges, err := shards.Masters(ctx, cc)
	if err != nil {
		return nil, err
	}
	for p := range out {
		for _, r := range ranges {
			if out[p].Slot >= r.Start && out[p].Slot <= r.End {
				out[p].Node = r.Addr
			}
		}
		if out[p].Node == "" {
			return nil, fmt.Errorf("partition %d: slot %d is served by no node", p, out[p].Slot)
		}
	}
	return out, nil
}

// PartitionsPerNode counts the partitions of a layout on each node.
func PartitionsPerNode(l []Placement) map[string][]int {
	m := map[string][]int{}
	for _, p := range l {
		m[p.Node] = append(m[p.Node], p.Partition)
	}
	for _, ps := range m {
		sort.Ints(ps)
	}
	return m
}
