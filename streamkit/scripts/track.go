package scripts

import (
	"time"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

// tracks names the track list each point of a batch is appended to
// (docs/architecture.md, "Tracks"): one per device-hour, kept until the
// hour's end plus the retention.
type tracks struct {
	schema      *keys.Schema
	part        int
	retentionMs int64 // 0: tracks off
	nowMs       int64
	pos         map[trackID]int // → index into keys
	keys        []string
	expire      []int64
	recs        [][]byte // per key, its records concatenated (SumBatch)
}

type trackID struct {
	dev  string
	hour int64
}

// set turns tracks on for retention (0: off), judged at nowMs.
func (t *tracks) set(retention time.Duration, nowMs int64) {
	t.retentionMs, t.nowMs = retention.Milliseconds(), nowMs
}

// key returns the index of p's track list in t.keys, or -1 when tracks are
// off or p's hour has already expired.
func (t *tracks) key(p *point.Point) int {
	if t.retentionMs <= 0 {
		return -1
	}
	hour := point.HourStart(p.TimeMs)
	exp := hour + point.HourMs + t.retentionMs
	if exp <= t.nowMs {
		return -1
	}
	id := trackID{p.DeviceID, hour}
	if i, ok := t.pos[id]; ok {
		return i
	}
	if t.pos == nil {
		t.pos = map[trackID]int{}
	}
	i := len(t.keys)
	t.pos[id] = i
	t.keys = append(t.keys, t.schema.Track(t.part, hour, p.DeviceID))
	t.expire = append(t.expire, exp)
	t.recs = append(t.recs, nil)
	return i
}

// record returns p's track record.
func record(p *point.Point) string {
	return string(point.AppendTrackRecord(make([]byte, 0, 16), p, point.HourStart(p.TimeMs)))
}

// appendRecord appends p's track record to the records of track key i.
func (t *tracks) appendRecord(i int, p *point.Point) {
	t.recs[i] = point.AppendTrackRecord(t.recs[i], p, point.HourStart(p.TimeMs))
}

// extras returns p's extras as a device hash's field lx keeps them.
func extras(p *point.Point) string {
	return string(point.AppendExtras(nil, &p.Extras))
}
