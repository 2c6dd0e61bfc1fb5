package scripts

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
)

// Markers is one partition's idempotency marker layout as this process last
// saw it (markers.lua): it names the hashes that hold a key's marker. The
// slice length is the TTL: a key is kept at least that long, at most twice.
// Safe for concurrent use.
type Markers struct {
	schema *keys.Schema
	part   int
	l      int64 // slice length = TTL, in ms
	now    func() time.Time

	mu      sync.Mutex
	s, b, p int64 // the layout last seen: slice, bucket counts of s and s-1
}

// NewMarkers returns partition part's layout for markers kept ttl (at
// least 1 ms).
func NewMarkers(schema *keys.Schema, part int, ttl time.Duration) *Markers {
	return &Markers{schema: schema, part: part, l: max(ttl.Milliseconds(), 1), now: time.Now}
}

// SetClock replaces the clock that picks the time slice (tests).
func (m *Markers) SetClock(now func() time.Time) { m.now = now }

// markerView is the layout one call names its hashes with: slice length l,
// slice c, bucket counts b of c and p of c-1.
type markerView struct{ l, c, b, p int64 }

// view returns the layout to name hashes with now. When the clock has
// moved past the cached slice it predicts the roll (markers.lua keeps the
// bucket count unless the rate changed); a wrong guess is answered STALE.
func (m *Markers) view() markerView {
	c := m.now().UnixMilli() / m.l
	m.mu.Lock()
	s, b, p := m.s, m.b, m.p
	m.mu.Unlock()
	if b == 0 {
		b = firstBuckets // nothing seen yet: a new layout's (markers.lua)
	}
	switch {
	case s > c: // another instance's clock started a later slice
		c = s
	case s < c:
		p = b
	}
	return markerView{l: m.l, c: c, b: b, p: max(p, 1)}
}

// seen caches v, a layout Redis accepted, unless a later one is cached.
func (m *Markers) seen(v markerView) {
	m.mu.Lock()
	if v.c >= m.s {
		m.s, m.b, m.p = v.c, v.b, v.p
	}
	m.mu.Unlock()
}

// stale reports whether err is markers.lua's STALE answer, and caches the
// layout it carries.
func (m *Markers) stale(err error) bool {
	if !redis.HasErrorPrefix(err, "STALE") {
		return false
	}
	var s, b, p int64
	if _, serr := fmt.Sscanf(err.Error(), "STALE %d %d %d", &s, &b, &p); serr == nil {
		m.mu.Lock()
		m.s, m.b, m.p = s, b, p
		m.mu.Unlock()
	}
	return true
}

// args returns the layout arguments of append.lua (ARGV[4..8]).
func (v markerView) args() []any { return []any{v.l, v.c, v.b, v.p, (v.c + 2) * v.l} }

// MarkerKey is an Idempotency-Key's marker in one partition.
type MarkerKey struct {
	m      *Markers
	legacy string // the per-key hash of versions before shared markers
	field  string // 8 bytes of the key's hash
	bucket uint32 // more of the key's hash, reduced mod the bucket count
}

// Key returns the marker of Idempotency-Key key in m's partition.
func (m *Markers) Key(key string) *MarkerKey {
	sum := sha256.Sum256([]byte(key))
	return &MarkerKey{m: m, legacy: m.schema.Idempotency(m.part, key), field: string(sum[:8]), bucket: binary.BigEndian.Uint32(sum[8:12])}
}

// names returns the key's legacy marker and its hashes in slices v.c and
// v.c-1.
func (k *MarkerKey) names(v markerView) (legacy, cur, prev string) {
	s, part := k.m.schema, k.m.part
	return k.legacy, s.MarkerHash(part, v.l, v.c, int(k.bucket%uint32(v.b))), s.MarkerHash(part, v.l, v.c-1, int(k.bucket%uint32(v.p)))
}

// shortFingerprint is what a marker stores of a request's fingerprint: 8
// bytes of its hash.
func shortFingerprint(fp string) string {
	sum := sha256.Sum256([]byte(fp))
	return string(sum[:8])
}

// sameFingerprint reports whether a marker's fingerprint (8 bytes, or the
// whole fingerprint in a legacy marker) is fp's.
func sameFingerprint(stored, fp string) bool {
	return stored == fp || stored == shortFingerprint(fp)
}

// firstBuckets is markers.lua's mk_first: the bucket count of a layout
// with no previous slice.
const firstBuckets = 16

// maxStaleRounds bounds the re-sends of a call answered STALE (the layout
// changes once per slice at most).
const maxStaleRounds = 3

// CheckKeys reads the markers of one Idempotency-Key in several partitions
// (checkkey.lua, one call each, one pipeline) and returns the index of the
// first whose marker was written for a fingerprint other than fp, -1 when
// none was.
func CheckKeys(ctx context.Context, c interface{ Pipeline() redis.Pipeliner }, ks []*MarkerKey, fp string) (int, error) {
	stored, err := readKeys(ctx, c, ks)
	if err != nil {
		return -1, err
	}
	for i, s := range stored {
		if s != "" && !sameFingerprint(s, fp) {
			return i, nil
		}
	}
	return -1, nil
}

// FindKeys reports, per key, whether its partition remembers it.
func FindKeys(ctx context.Context, c interface{ Pipeline() redis.Pipeliner }, ks []*MarkerKey) ([]bool, error) {
	stored, err := readKeys(ctx, c, ks)
	found := make([]bool, len(stored))
	for i, s := range stored {
		found[i] = s != ""
	}
	return found, err
}

// readKeys returns the fingerprint of each key's marker, "" for none.
func readKeys(ctx context.Context, c interface{ Pipeline() redis.Pipeliner }, ks []*MarkerKey) ([]string, error) {
	cmds := make([]*redis.Cmd, len(ks))
	todo := make([]int, len(ks))
	for i := range todo {
		todo[i] = i
	}
	noScript := make([]bool, len(ks))
	for round := 0; len(todo) > 0; round++ {
		if round > maxStaleRounds {
			return nil, fmt.Errorf("check idempotency key: %w", cmds[todo[0]].Err())
		}
		pipe := c.Pipeline()
		for _, i := range todo {
			v := ks[i].m.view()
			legacy, cur, prev := ks[i].names(v)
			k := []string{ks[i].m.schema.Markers(ks[i].m.part), legacy, cur, prev}
			run := CheckKey.EvalSha
			if noScript[i] {
				run = CheckKey.Eval
			}
			cmds[i] = run(ctx, pipe, k, v.l, v.c, v.b, v.p, ks[i].field)
		}
		_, _ = pipe.Exec(ctx)
		var again []int
		for _, i := range todo {
			err := cmds[i].Err()
			switch {
			case err == nil || err == redis.Nil:
			case redis.HasErrorPrefix(err, "NOSCRIPT"):
				noScript[i] = true
				again = append(again, i)
			case ks[i].m.stale(err):
				again = append(again, i)
			default:
				return nil, fmt.Errorf("check idempotency key: %w", err)
			}
		}
		todo = again
	}
	out := make([]string, len(cmds))
	for i, cmd := range cmds {
		out[i], _ = cmd.Text()
	}
	return out, nil
}
