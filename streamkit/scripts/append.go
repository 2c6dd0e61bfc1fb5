package scripts

import (
	"context"
	"errors"
	"strconv"

	"github.com/redis/go-redis/v9"

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

	// entries holds, per point, F (an int: the number of field/value
	// values) then its F field/value values, as point.AppendFields lays
	// them out. Field names are strings. Values are pointers (*string,
	// *int64) into vals and strs, which go-redis writes as the value they
	// point to: boxing a pointer into an any allocates nothing, boxing a
	// string or an int64 does. The bytes sent are those of
	// point.AppendFields (an int64 is written in decimal, as
	// strconv.FormatInt does).
	entries []any
	vals    []pointVals // never grown in place: a full one is replaced
	strs    []string    // extras, formatted; idem
	n       int
}

// pointVals are the values of one point that every entry has.
type pointVals struct {
	device           string
	timeMs, lat, lon int64
}

// Field names boxed once (a string constant boxed into an any allocates
// nothing either, but these are the names point.AppendFields uses).
var (
	argDevice   any = point.FieldDevice
	argTime     any = point.FieldTime
	argLat      any = point.FieldLat
	argLon      any = point.FieldLon
	argAltitude any = point.FieldAltitude
	argSpeed    any = point.FieldSpeed
	argHeading  any = point.FieldHeading
	argAccuracy any = point.FieldAccuracy
)

// Add adds one point: the values of point.AppendFields, in its order.
func (b *AppendBatch) Add(p *point.Point) {
	if len(b.vals) == cap(b.vals) {
		// A new block: the pointers in entries keep the old one alive.
		b.vals = make([]pointVals, 0, min(max(2*cap(b.vals), 4), 1024))
	}
	b.vals = append(b.vals, pointVals{device: p.DeviceID, timeMs: p.TimeMs, lat: p.LatE7, lon: p.LonE7})
	v := &b.vals[len(b.vals)-1]
	e := &p.Extras
	f := 8
	for _, x := range [...]*float64{e.Altitude, e.Speed, e.Heading, e.Accuracy} {
		if x != nil {
			f += 2
		}
	}
	if need := len(b.entries) + 1 + f; need > cap(b.entries) {
		// Exactly one point's room at first (most requests hold one), then
		// doubling: append's own growth is slower for large slices.
		grown := make([]any, len(b.entries), max(2*cap(b.entries), need))
		copy(grown, b.entries)
		b.entries = grown
	}
	b.entries = append(b.entries, f,
		argDevice, &v.device,
		argTime, &v.timeMs,
		argLat, &v.lat,
		argLon, &v.lon,
	)
	if f > 8 {
		b.addExtra(argAltitude, e.Altitude)
		b.addExtra(argSpeed, e.Speed)
		b.addExtra(argHeading, e.Heading)
		b.addExtra(argAccuracy, e.Accuracy)
	}
	b.n++
}

// addExtra adds the field/value pair of an optional measurement, when sent.
func (b *AppendBatch) addExtra(name any, x *float64) {
	if x == nil {
		return
	}
	if len(b.strs) == cap(b.strs) {
		b.strs = make([]string, 0, min(max(2*cap(b.strs), 4), 1024))
	}
	b.strs = append(b.strs, strconv.FormatFloat(*x, 'g', -1, 64))
	b.entries = append(b.entries, name, &b.strs[len(b.strs)-1])
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
