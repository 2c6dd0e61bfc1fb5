package scripts

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
)

// AppendCall lays out one Append call: the batches of one or more requests
// for the same partition stream, each stored all or nothing (append.lua).
// ingest-svc coalesces concurrent requests into one call (group commit).
type AppendCall struct {
	batches []*AppendBatch
	points  int
}

// Add adds a request's batch. All batches of a call must name the same
// stream; the first one's BacklogLimit applies to the call.
func (c *AppendCall) Add(b *AppendBatch) {
	c.batches = append(c.batches, b)
	c.points += b.Len()
}

// Requests returns the number of batches added.
func (c *AppendCall) Requests() int { return len(c.batches) }

// Points returns the number of points of all batches added.
func (c *AppendCall) Points() int { return c.points }

// Args returns the keys and arguments of the call.
func (c *AppendCall) Args() (keyNames []string, args []any) {
	first := c.batches[0]
	backlog := first.Backlog
	if backlog == "" {
		backlog = first.Stream // not a counter: the call fails (WRONGTYPE) and writes nothing
	}
	keyNames = make([]string, 0, 2+len(c.batches))
	keyNames = append(keyNames, first.Stream, backlog)
	args = make([]any, 0, 3+4*len(c.batches))
	args = append(args, first.BacklogLimit, keys.Group, len(c.batches))
	for _, b := range c.batches {
		b.Seal()
		ttl, marker := int64(0), b.Marker
		if marker != "" {
			ttl = b.MarkerTTLMs
		} else {
			marker = b.Stream // not touched with ttl 0; keeps the call in one slot
		}
		keyNames = append(keyNames, marker)
		args = append(args, ttl, b.Fingerprint, len(b.pts), b.segment)
	}
	return keyNames, args
}

// Run runs the call; the results are per batch, in the order they were
// added. err is the call's (nothing was stored, or, for a timeout or a
// lost connection, it is not known what was).
func (c *AppendCall) Run(ctx context.Context, s redis.Scripter) ([]AppendResult, error) {
	keyNames, args := c.Args()
	return c.Parse(Append.Run(ctx, s, keyNames, args...))
}

// Parse decodes the reply of the call, as Run does; for pipelines.
func (c *AppendCall) Parse(cmd *redis.Cmd) ([]AppendResult, error) {
	stream := c.batches[0].Stream
	res, err := cmd.Slice()
	if err != nil {
		return nil, fmt.Errorf("append to %s: %w", stream, err)
	}
	if len(res) != 3*len(c.batches) {
		return nil, fmt.Errorf("append to %s: unexpected reply of %d values for %d requests", stream, len(res), len(c.batches))
	}
	out := make([]AppendResult, len(c.batches))
	for i := range out {
		n, _ := res[3*i].(int64)
		status, _ := res[3*i+1].(int64)
		fp, _ := res[3*i+2].(string)
		switch status {
		case 0, 1:
			out[i] = AppendResult{Stored: n, Replayed: status == 1, Fingerprint: fp}
		case 2:
			out[i] = AppendResult{Err: fmt.Errorf("append to %s: %w", stream, ErrBacklog)}
		default:
			return nil, fmt.Errorf("append to %s: unexpected status %d", stream, status)
		}
	}
	return out, nil
}
