package scripts

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

// ErrBacklog means a partition's stream holds more unprocessed entries than
// the backlog limit: the processors are behind and the points were refused.
var ErrBacklog = errors.New("backlog over its limit")

// AppendBatch lays out one Append call: one request's points of one
// partition.
type AppendBatch struct {
	Stream string
	// Marker is the idempotency marker key; empty when the request has no
	// Idempotency-Key.
	Marker string
	// MarkerTTLMs is how long the marker is kept, in ms.
	MarkerTTLMs int64
	// Fingerprint identifies the request's content, stored in the marker so
	// that a key reused for other content can be told apart.
	Fingerprint string
	// BacklogLimit refuses the call when the partition's backlog (entries
	// not yet counted by the processors, see append.lua) reaches it (0 = no
	// limit).
	BacklogLimit int64

	fields  []string
	entries []any
	n       int
}

// Add adds one point.
func (b *AppendBatch) Add(p *point.Point) {
	b.fields = p.AppendFields(b.fields[:0])
	b.entries = append(b.entries, len(b.fields))
	for _, f := range b.fields {
		b.entries = append(b.entries, f)
	}
	b.n++
}

// Len returns the number of points added.
func (b *AppendBatch) Len() int { return b.n }

// AppendResult is what one Append call did.
type AppendResult struct {
	Stored int64 // points of this partition stored by the request
	// Replayed is true when an earlier attempt with the same idempotency key
	// stored them and this call stored nothing.
	Replayed    bool
	Fingerprint string // the fingerprint of the attempt that stored them
}

// Args returns the keys and arguments of the call, for pipelining.
func (b *AppendBatch) Args() (keyNames []string, args []any) {
	ttl := int64(0)
	marker := b.Marker
	if marker != "" {
		ttl = b.MarkerTTLMs
	} else {
		marker = b.Stream // not touched with ttl 0; keeps the call in one slot
	}
	args = make([]any, 0, 4+len(b.entries))
	args = append(args, b.BacklogLimit, ttl, b.Fingerprint, keys.Group)
	args = append(args, b.entries...)
	return []string{b.Stream, marker}, args
}

// Run runs the call.
func (b *AppendBatch) Run(ctx context.Context, c redis.Scripter) (AppendResult, error) {
	keys, args := b.Args()
	return ParseAppend(Append.Run(ctx, c, keys, args...), b.Stream)
}

// ParseAppend decodes the reply of an Append call; ErrBacklog when the
// stream was over its limit.
func ParseAppend(cmd *redis.Cmd, stream string) (AppendResult, error) {
	res, err := cmd.Slice()
	if err != nil {
		if strings.HasPrefix(err.Error(), "BACKLOG") {
			return AppendResult{}, fmt.Errorf("append to %s: %w", stream, ErrBacklog)
		}
		return AppendResult{}, fmt.Errorf("append to %s: %w", stream, err)
	}
	if len(res) != 3 {
		return AppendResult{}, fmt.Errorf("append to %s: unexpected reply %v", stream, res)
	}
	n, _ := res[0].(int64)
	rep, _ := res[1].(int64)
	fp, _ := res[2].(string)
	return AppendResult{Stored: n, Replayed: rep == 1, Fingerprint: fp}, nil
}
