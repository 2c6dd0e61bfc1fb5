package scripts

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/point"
)

// ErrBacklog means a partition's stream holds more unprocessed points than
// the backlog limit: the processors are behind and the points were refused.
var ErrBacklog = errors.New("backlog over its limit")

// AppendBatch lays out one request's points of one partition for an Append
// call (append.lua): they travel as one packed segment (point.AppendSegment).
type AppendBatch struct {
	Stream string
	// Backlog is the partition's backlog counter (keys.Schema.Backlog).
	Backlog string
	// Key is the request's Idempotency-Key marker in this partition; nil
	// when the request has no key.
	Key *MarkerKey
	// Fingerprint identifies the request's content, stored in the marker so
	// that a key reused for other content can be told apart.
	Fingerprint string
	// BacklogLimit refuses the call when the partition's backlog (points not
	// yet counted by the processors, see append.lua) reaches it (0 = no
	// limit).
	BacklogLimit int64

	pts     []point.Point
	segment []byte // the encoded pts, once sealed
}

// Add adds a copy of one point.
func (b *AppendBatch) Add(p *point.Point) {
	b.pts = append(b.pts, *p)
	b.segment = nil
}

// Seal encodes the points added so far; Args does it when it was not done.
// ingest-svc seals in the request's goroutine, so that the call that
// carries several requests does not encode them one after another.
func (b *AppendBatch) Seal() {
	if b.segment == nil && len(b.pts) > 0 {
		b.segment = point.AppendSegment(make([]byte, 0, 16+12*len(b.pts)), b.pts)
	}
}

// Len returns the number of points added.
func (b *AppendBatch) Len() int { return len(b.pts) }

// AppendResult is what one Append call did.
type AppendResult struct {
	Stored int64 // points of this partition stored by the request
	// Replayed is true when an earlier attempt with the same idempotency key
	// stored them and this call stored nothing.
	Replayed bool
	// OtherContent is true for a replay whose first attempt had another
	// fingerprint: the key was reused for other content.
	OtherContent bool
	// Err is this request's own failure in a call that ran (ErrBacklog);
	// AppendCall.Run returns a failure of the whole call separately.
	Err error
}

// Args returns the keys and arguments of a call of this batch alone.
func (b *AppendBatch) Args() (keyNames []string, args []any) {
	var c AppendCall
	c.Add(b)
	return c.Args()
}

// Run runs a call of this batch alone; ErrBacklog when the stream was over
// its limit.
func (b *AppendBatch) Run(ctx context.Context, c redis.Scripter) (AppendResult, error) {
	var call AppendCall
	call.Add(b)
	res, err := call.Run(ctx, c)
	if err != nil {
		return AppendResult{}, err
	}
	return res[0], res[0].Err
}

// ParseAppend decodes the reply of a call of one batch (AppendBatch.Args),
// for pipelines; ErrBacklog when the stream was over its limit.
func ParseAppend(cmd *redis.Cmd, stream string) (AppendResult, error) {
	call := AppendCall{batches: []*AppendBatch{{Stream: stream}}}
	res, err := call.Parse(cmd)
	if err != nil {
		return AppendResult{}, err
	}
	return res[0], res[0].Err
}
