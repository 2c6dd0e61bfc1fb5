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
	markers *Markers   // the layout of the batches' markers, nil without keys
	view    markerView // the layout the last Args named the markers with
}

// Add adds a request's batch. All batches of a call must name the same
// stream; the first one's BacklogLimit applies to the call.
func (c *AppendCall) Add(b *AppendBatch) {
	c.batches = append(c.batches, b)
	c.points += b.Len()
	if b.Key != nil && c.markers == nil {
		c.markers = b.Key.m
	}
}

// Requests returns the number of batches added.
func (c *AppendCall) Requests() int { return len(c.batches) }

// Points returns the number of points of all batches added.
func (c *AppendCall) Points() int { return c.points }

// Args returns the keys and arguments of the call, its markers named with
// the layout cached now.
func (c *AppendCall) Args() (keyNames []string, args []any) {
	first := c.batches[0]
	backlog := first.Backlog
	if backlog == "" {
		backlog = first.Stream // not a counter: the call fails (WRONGTYPE) and writes nothing
	}
	meta := first.Stream // not touched without keys; keeps the call in one slot
	c.view = markerView{}
	if c.markers != nil {
		c.view = c.markers.view()
		meta = c.markers.schema.Markers(c.markers.part)
	}
	keyNames = make([]string, 0, 3+3*len(c.batches))
	keyNames = append(keyNames, first.Stream, backlog, meta)
	args = make([]any, 0, 8+4*len(c.batches))
	args = append(args, first.BacklogLimit, keys.Group, len(c.batches))
	args = append(args, c.view.args()...)
	for _, b := range c.batches {
		b.Seal()
		if b.Key == nil {
			keyNames = append(keyNames, b.Stream, b.Stream, b.Stream)
			args = append(args, "", "", len(b.pts), b.segment)
			continue
		}
		legacy, cur, prev := b.Key.names(c.view)
		keyNames = append(keyNames, legacy, cur, prev)
		args = append(args, b.Key.field, shortFingerprint(b.Fingerprint), len(b.pts), b.segment)
	}
	return keyNames, args
}

// Stale reports whether cmd, a call of these Args, was answered STALE (the
// marker layout changed; nothing was stored): the layout is refreshed and
// the call, with new Args, may be sent again.
func (c *AppendCall) Stale(cmd *redis.Cmd) bool {
	return c.markers != nil && c.markers.stale(cmd.Err())
}

// Run runs the call; the results are per batch, in the order they were
// added. err is the call's (nothing was stored, or, for a timeout or a
// lost connection, it is not known what was).
func (c *AppendCall) Run(ctx context.Context, s redis.Scripter) ([]AppendResult, error) {
	for round := 0; ; round++ {
		keyNames, args := c.Args()
		cmd := Append.Run(ctx, s, keyNames, args...)
		if round < maxStaleRounds && c.Stale(cmd) {
			continue
		}
		return c.Parse(cmd)
	}
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
	if c.markers != nil {
		c.markers.seen(c.view)
	}
	out := make([]AppendResult, len(c.batches))
	for i, b := range c.batches {
		n, _ := res[3*i].(int64)
		status, _ := res[3*i+1].(int64)
		fp, _ := res[3*i+2].(string)
		switch status {
		case 0:
			out[i] = AppendResult{Stored: n}
		case 1:
			out[i] = AppendResult{Stored: n, Replayed: true, OtherContent: !sameFingerprint(fp, b.Fingerprint)}
		case 2:
			out[i] = AppendResult{Err: fmt.Errorf("append to %s: %w", stream, ErrBacklog)}
		default:
			return nil, fmt.Errorf("append to %s: unexpected status %d", stream, status)
		}
	}
	return out, nil
}
