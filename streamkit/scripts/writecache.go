package scripts

import (
	"strconv"
	"strings"
)

// WriteCache remembers, for aggregate hashes written in absolute mode, what
// the last applysums.lua call of this processor left in them: the token v,
// n, the sums and the bounds, as Prepare would read them. Prepare then
// takes a remembered hash from the cache instead of reading it: at a
// steady load the read ahead was a third of processor-svc's CPU and half
// of Redis's HMGETs (docs/performance.md, "What changed", 13).
//
// Invariant: an entry holds exactly what the hash held after the call
// that wrote it (Remember runs only after a call that wrote every key it
// names; a key the call wrote in delta mode, or a call whose outcome is
// unknown, is forgotten). A hash written since by anything else (another
// processor, apply.lua, an expiry, a rebuild) no longer holds the token
// the cache names: applysums.lua answers that key as a conflict and Run
// sends it again in delta mode (applysums.lua, invariant 4), so a stale
// entry costs a call, never a wrong sum.
//
// One per partition: not safe for concurrent use.
type WriteCache struct {
	max  int
	m    map[string]cachedHash
	hits int64 // hashes Prepare took from the cache
}

type cachedHash struct {
	vals     []any // as Prepare's HMGET of prepareFields returns them
	expireAt int64 // the hash's PEXPIREAT in Unix ms, 0 = never
}

// cacheExpiryMargin is how long before its hash expires an entry is no
// longer used: an expired hash would cost a conflict.
const cacheExpiryMargin = 60_000

// NewWriteCache returns a cache of at most n hashes (at least 1); when
// full it starts again empty, which costs one read per hash.
func NewWriteCache(n int) *WriteCache {
	return &WriteCache{max: max(n, 1), m: map[string]cachedHash{}}
}

// Len returns the number of hashes remembered.
func (c *WriteCache) Len() int { return len(c.m) }

// get returns key's remembered values, if any and usable at nowMs.
func (c *WriteCache) get(key string, nowMs int64) ([]any, bool) {
	h, ok := c.m[key]
	if !ok || (h.expireAt > 0 && nowMs >= h.expireAt-cacheExpiryMargin) {
		return nil, false
	}
	c.hits++
	return h.vals, true
}

// Hits returns how many hashes were taken from the cache instead of read.
func (c *WriteCache) Hits() int64 { return c.hits }

func (c *WriteCache) put(key string, h cachedHash) {
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[key] = h
}

// Remember records what the batch's last Run wrote: every key in absolute
// mode, each with the token of the batch's first entry (token.lua); keys
// written in delta mode are forgotten. Call it only after a Run that
// returned allPending (the call wrote every key).
func (b *SumBatch) Remember(c *WriteCache) {
	if c == nil {
		return
	}
	tok := tokenOf(b.ids[0])
	for i, k := range b.keys {
		if b.abs == nil || !b.abs[i].ok {
			delete(c.m, k)
			continue
		}
		x := b.abs[i].next
		vals := make([]any, len(prepareFields))
		vals[0] = tok
		for j, v := range [12]int64{x.Count, x.SumLat, x.SumLon, x.SumX, x.SumY, x.SumZ,
			x.LatMin, x.LatMax, x.LonMin, x.LonMax, x.TMin, x.TMax} {
			vals[j+1] = strconv.FormatInt(v, 10)
		}
		c.put(k, cachedHash{vals: vals, expireAt: b.expire[i]})
	}
}

// Forget drops the batch's keys from c: after a Run that failed (it may
// or may not have written them) or found entries no longer pending (the
// entry-by-entry path writes them next).
func (b *SumBatch) Forget(c *WriteCache) {
	if c == nil {
		return
	}
	for _, k := range b.keys {
		delete(c.m, k)
	}
}

// tokenOf is token.lua's token of an entry id: its two numbers in base
// 36, joined by a dot; an id of another form is its own token.
func tokenOf(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	if !ok || len(ms) == 0 || len(seq) == 0 || len(ms) > 15 || len(seq) > 15 {
		return id
	}
	m, err1 := strconv.ParseUint(ms, 10, 64)
	s, err2 := strconv.ParseUint(seq, 10, 64)
	if err1 != nil || err2 != nil {
		return id
	}
	return strconv.FormatUint(m, 36) + "." + strconv.FormatUint(s, 36)
}
