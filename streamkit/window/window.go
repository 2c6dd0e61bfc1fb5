// Package window is geostream's time-bucket model: the resolutions the
// processor keeps aggregates at, how long each is retained, which bucket
// keys a point adds to, and how a query's time range is cut into retained
// buckets so that it is answered exactly or refused.
//
// Buckets are by event time (the point's timestamp) and aligned to the Unix
// epoch: the 1h bucket holding 10:17 starts at 10:00 UTC.
package window

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/scripts"
)

// Resolution is one bucket size and how long its buckets are kept.
type Resolution struct {
	// Name appears in key names ("1m").
	Name string
	// Size is the bucket length; a whole number of seconds dividing a day
	// or a multiple of a day.
	Size time.Duration
	// Retention is how long a bucket of all devices is kept after it ends.
	Retention time.Duration
	// DeviceRetention is the same for per-device buckets; 0 keeps no
	// per-device buckets at this resolution (they cost one hash per device
	// and bucket).
	DeviceRetention time.Duration
}

// DefaultSpec is the default resolutions setting: 1-minute buckets for 2
// days (per device 6 hours), hourly for 90 days (per device 30 days), daily
// for 10 years (per device 1 year).
const DefaultSpec = "1m:48h:6h,1h:2160h:720h,1d:87600h:8760h"

// Set is the validated list of resolutions, finest first.
type Set []Resolution

// Parse reads a resolutions setting: comma-separated
// "size:retention[:device-retention]" items (Go durations, plus "d" for
// days in size), e.g. DefaultSpec.
func Parse(spec string) (Set, error) {
	var s Set
	for _, item := range strings.Split(spec, ",") {
		parts := strings.Split(strings.TrimSpace(item), ":")
		if len(parts) < 2 || len(parts) > 3 {
			return nil, fmt.Errorf("resolution %q: want size:retention[:device-retention]", item)
		}
		size, err := parseDuration(parts[0])
		if err != nil {
			return nil, fmt.Errorf("resolution %q: size: %w", item, err)
		}
		r := Resolution{Name: parts[0], Size: size}
		if r.Retention, err = parseDuration(parts[1]); err != nil {
			return nil, fmt.Errorf("resolution %q: retention: %w", item, err)
		}
		if len(parts) == 3 {
			if r.DeviceRetention, err = parseDuration(parts[2]); err != nil {
				return nil, fmt.Errorf("resolution %q: device retention: %w", item, err)
			}
		}
		s = append(s, r)
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Size < s[j].Size })
	return s, s.validate()
}

func parseDuration(v string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(v, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(d, "%d", &n); err != nil || fmt.Sprint(n) != d {
			return 0, fmt.Errorf("%q is not a whole number of days", v)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

func (s Set) validate() error {
	if len(s) == 0 {
		return errors.New("no resolutions")
	}
	for i, r := range s {
		if r.Size < time.Second || r.Size%time.Second != 0 {
			return fmt.Errorf("resolution %s: size must be a whole number of seconds", r.Name)
		}
		if r.Retention <= 0 || r.DeviceRetention < 0 {
			return fmt.Errorf("resolution %s: retention must be positive", r.Name)
		}
		if i > 0 {
			if r.Size == s[i-1].Size {
				return fmt.Errorf("resolutions %s and %s have the same size", s[i-1].Name, r.Name)
			}
			// Each size is a multiple of the finer ones, so that a coarse
			// bucket is exactly a run of fine ones.
			if r.Size%s[i-1].Size != 0 {
				return fmt.Errorf("resolution %s is not a multiple of %s", r.Name, s[i-1].Name)
			}
		}
		if strings.ContainsAny(r.Name, "{}: ") {
			return fmt.Errorf("resolution name %q", r.Name)
		}
	}
	return nil
}

// String returns the setting in Parse's syntax (pinned in Redis by
// redisconn.CheckMeta so that every service reads buckets the processor
// keeps).
func (s Set) String() string {
	var b strings.Builder
	for i, r := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%s:%s", r.Name, r.Retention, r.DeviceRetention)
	}
	return b.String()
}

// Finest returns the finest resolution.
func (s Set) Finest() Resolution { return s[0] }

// Start returns the start (Unix ms) of the bucket of r holding ms.
func (r Resolution) Start(ms int64) int64 {
	size := r.Size.Milliseconds()
	start := ms - ms%size
	if ms < 0 && ms%size != 0 {
		start -= size
	}
	return start
}

// ExpireAt returns when the bucket starting at start expires (Unix ms):
// Retention after it ends, or DeviceRetention for a device bucket.
func (r Resolution) ExpireAt(start int64, device bool) int64 {
	ret := r.Retention
	if device {
		ret = r.DeviceRetention
	}
	return start + r.Size.Milliseconds() + ret.Milliseconds()
}

// Retained reports whether the bucket starting at start still exists at
// nowMs (it may be empty): a query may use it.
func (r Resolution) Retained(start, nowMs int64, device bool) bool {
	if device && r.DeviceRetention == 0 {
		return false
	}
	return r.ExpireAt(start, device) > nowMs
}

// AggKeys returns every aggregate a point of partition p adds to: the
// partition total, the device's all-time hash, then for each resolution the
// partition bucket and the device bucket. A bucket that has already expired
// at nowMs (a late point older than the retention) is left out as an empty
// AggKey, so the point is still counted in the all-time totals but does not
// recreate a bucket queries no longer use. Every point gets the same number
// of keys, as scripts.ApplyBatch requires.
func (s Set) AggKeys(sc *keys.Schema, p int, pt point.Point, nowMs int64, dst []scripts.AggKey) []scripts.AggKey {
	dst = append(dst[:0], scripts.AggKey{Key: sc.Total(p), Shared: true}, scripts.AggKey{Key: sc.Device(p, pt.DeviceID)})
	for _, r := range s {
		start := r.Start(pt.TimeMs)
		if at := r.ExpireAt(start, false); at > nowMs {
			dst = append(dst, scripts.AggKey{Key: sc.Bucket(p, r.Name, start), ExpireAtMs: at, Shared: true})
		} else {
			dst = append(dst, scripts.AggKey{})
		}
		if at := r.ExpireAt(start, true); r.DeviceRetention > 0 && at > nowMs {
			dst = append(dst, scripts.AggKey{Key: sc.DeviceBucket(p, pt.DeviceID, r.Name, start), ExpireAtMs: at})
		} else {
			dst = append(dst, scripts.AggKey{})
		}
	}
	return dst
}
