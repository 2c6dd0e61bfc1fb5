package processor

import (
	"context"
	"fmt"
	"time"

	"github.com/geostream/geostream/streamkit/backoff"
	"github.com/geostream/geostream/streamkit/keys"
)

// trimLoop trims the acknowledged entries of every partition every
// TrimInterval until ctx is done. Trimming is never required for
// correctness, so it stops at once on shutdown and a failure is only
// logged.
func (p *Processor) trimLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.TrimInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i := range p.schema.Partitions() {
			n, err := p.trimPartition(ctx, i)
			if err != nil && ctx.Err() == nil {
				p.log.Warn("trim failed, trying again later", "stream", p.schema.Stream(i), "err", err)
			}
			if n > 0 {
				p.log.Debug("trimmed", "stream", p.schema.Stream(i), "entries", n)
			}
		}
	}
}

// trimPartition removes the entries of partition i that the group has
// acknowledged (and that are older than Retention), at most TrimStep per
// XTRIM. It returns how many it removed.
func (p *Processor) trimPartition(ctx context.Context, i int) (int64, error) {
	stream := p.schema.Stream(i)
	target, err := p.trimTarget(ctx, stream)
	if err != nil {
		return 0, err
	}
	var total int64
	for ctx.Err() == nil {
		n, done, err := p.trimStep(ctx, stream, target)
		total += n
		if err != nil {
			p.trimmed.Add(total)
			return total, err
		}
		if done {
			break
		}
		// Let other clients in between steps: a backlog of a million
		// counted entries is a thousand steps, which back to back held
		// Redis in 10-20 ms slices for seconds (the benchmark's /retrieve
		// p99 at 1M points was 2-3 times its p99 at 10k while the store
		// was being trimmed).
		if backoff.Sleep(ctx, trimPause) != nil {
			break
		}
	}
	p.trimmed.Add(total)
	return total, nil
}

// trimPause separates the steps of one trim pass.
const trimPause = 2 * time.Millisecond

// trimTarget returns T such that every entry of stream with an ID below T
// may be removed (XTRIM MINID T keeps the IDs ≥ T): entries the group has
// acknowledged and that are older than Retention.
//
// Why it never removes an unacknowledged entry (docs/architecture.md#trimming), with L the
// group's last-delivered-id read FIRST and then the pending summary:
//   - XREADGROUP ">" delivers entries in ID order, and an entry is appended
//     with an ID above every existing one (so above L), so every entry with
//     an ID ≤ L had been delivered by the time L was read, and entries
//     delivered later all have IDs > L.
//   - When nothing is pending at the second read, each of those entries ≤ L
//     has left the pending list: it was acknowledged. T = L+1 (the next
//     possible ID).
//   - When entries are pending, O is the oldest: entries below min(L+1, O)
//     were delivered (≤ L) and are not pending (< O), hence acknowledged.
//   - An acknowledged entry never becomes pending again: XCLAIM and
//     XAUTOCLAIM only move entries already on the pending list (we never
//     use XCLAIM FORCE), so T stays safe after it was computed.
//
// Reading the pending list first would be wrong: entries delivered between
// the two reads would be pending, yet below the L read second.
//
// (XGROUP SETID, or a group created at $ by someone else, moves L past
// entries that were never delivered; those entries were skipped on purpose
// by whoever did it and are trimmed like acknowledged ones.)
func (p *Processor) trimTarget(ctx context.Context, stream string) (streamID, error) {
	groups, err := p.client.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return streamID{}, fmt.Errorf("xinfo groups %s: %w", stream, err)
	}
	var last string
	found := false
	for _, g := range groups {
		if g.Name == keys.Group {
			last, found = g.LastDeliveredID, true
		}
	}
	if !found {
		return streamID{}, nil // no group yet: nothing is known to be acknowledged
	}
	lastID, err := parseStreamID(last)
	if err != nil {
		return streamID{}, fmt.Errorf("xinfo groups %s: last-delivered-id: %w", stream, err)
	}
	target := lastID.next()
	if lastID == (streamID{}) {
		target = streamID{} // nothing delivered yet
	}
	pend, err := p.client.XPending(ctx, stream, keys.Group).Result()
	if err != nil {
		return streamID{}, fmt.Errorf("xpending %s %s: %w", stream, keys.Group, err)
	}
	if pend.Count > 0 {
		oldest, err := parseStreamID(pend.Lower)
		if err != nil {
			return streamID{}, fmt.Errorf("xpending %s: oldest pending id: %w", stream, err)
		}
		target = minID(target, oldest)
	}
	if p.cfg.Retention > 0 {
		// Entry IDs carry Redis's clock, so the cut-off uses it too.
		now, err := p.client.Time(ctx).Result()
		if err != nil {
			return streamID{}, fmt.Errorf("time: %w", err)
		}
		cut := now.UnixMilli() - p.cfg.Retention.Milliseconds()
		if cut <= 0 {
			return streamID{}, nil
		}
		target = minID(target, streamID{ms: uint64(cut)})
	}
	return target, nil
}

// trimStep removes at most TrimStep of the entries below target with one
// exact XTRIM MINID, and reads as little of the stream as it can to find
// where to cut. done reports that no entry below target remains.
//
//  1. XRANGE - + COUNT 1 reads the oldest entry only. When there is none,
//     or it is not below target, nothing can be trimmed: done, one entry
//     read at most. This is every pass that finds nothing to do.
//  2. XLEN ≤ TrimStep: the entries below target are among those, so
//     XTRIM MINID target removes at most TrimStep and leaves none below
//     target: done, no entry read.
//  3. Otherwise XRANGE - (target COUNT TrimStep+1 reads only entries below
//     target (never one at or above it). Fewer than TrimStep+1: they
//     are all the entries below target; trim to target, done. Exactly
//     TrimStep+1: trim to the ID of the last one, which removes exactly
//     the TrimStep before it and keeps it (below target, so not done).
//
// What must hold:
//   - Safety: the threshold given to XTRIM MINID is never above target:
//     it is target, or the ID of an entry read that is checked to be below
//     target. XTRIM MINID t (exact, no "~") removes only IDs < t, so no
//     entry with an ID ≥ target is ever removed, whatever the reads
//     returned and whatever ran between them.
//   - Step bound (at most TrimStep removed): no entry is ever added below
//     target or below an entry read, since XADD gives an entry an ID above
//     the stream's last ID, which is at least every entry read and the
//     group's last-delivered-id L, and target ≤ L+1 (trimTarget). So the
//     counts read (XLEN, the range) bound the XTRIM. Between them, other
//     trimmers (or XDEL) can only remove entries, which makes the step
//     smaller, never larger. (A group moved by XGROUP SETID past the
//     stream's last ID, followed by XADDs with explicit IDs below it,
//     could make one step larger; never unsafe.)
//   - Progress: a step that is not done removes at least the oldest
//     entry, unless another trimmer removed it first; entries below target
//     are never added, so trimPartition's loop ends.
//
// Approximate trimming (XTRIM MINID ~ target LIMIT n) is not used: on
// redis-server it removes whole listpack nodes only (none when n is below
// a node's size, and never the partial node holding target), and miniredis
// ignores both "~" and LIMIT and trims everything below target, so the two
// would behave differently, and an exact finish would still be needed.
func (p *Processor) trimStep(ctx context.Context, stream string, target streamID) (removed int64, done bool, err error) {
	if target == (streamID{}) {
		return 0, true, nil
	}
	step := p.cfg.TrimStep
	oldest, err := p.client.XRangeN(ctx, stream, "-", "+", 1).Result()
	if err != nil {
		return 0, false, fmt.Errorf("xrange %s - + count 1: %w", stream, err)
	}
	if len(oldest) == 0 {
		return 0, true, nil
	}
	first, err := parseStreamID(oldest[0].ID)
	if err != nil {
		return 0, false, err
	}
	if !first.less(target) {
		return 0, true, nil
	}
	threshold, done := target, true
	n, err := p.client.XLen(ctx, stream).Result()
	if err != nil {
		return 0, false, fmt.Errorf("xlen %s: %w", stream, err)
	}
	if n > int64(step) {
		msgs, err := p.client.XRangeN(ctx, stream, "-", "("+target.String(), int64(step)+1).Result()
		if err != nil {
			return 0, false, fmt.Errorf("xrange %s - (%s: %w", stream, target, err)
		}
		if len(msgs) > step {
			nth, err := parseStreamID(msgs[step].ID)
			if err != nil {
				return 0, false, err
			}
			if nth.less(target) { // always: the range ends below target
				threshold, done = nth, false
			}
		}
	}
	removed, err = p.client.XTrimMinID(ctx, stream, threshold.String()).Result()
	if err != nil {
		return 0, false, fmt.Errorf("xtrim %s minid %s: %w", stream, threshold, err)
	}
	return removed, done, nil
}
