package suite

import (
	"math"
	"time"
)

// IdemMemory is Redis's memory for remembered Idempotency-Keys, from the
// steady phase's samples of used_memory net of the streams (MEMORY USAGE)
// and of the clients' and AOF buffers, t seconds after the load started:
//
//   - BytesPerKey: the net memory at the end of the load (median of its
//     last second) less the net memory once the markers have expired (the
//     last second of the wait after it; the aggregates do not change
//     meanwhile), ÷ the keys remembered at the end: the uploads stored
//     since the marker slice before the last began (markers expire by
//     slices of the TTL: a key is kept between one and two TTLs).
//   - BytesPerMarker: the same ÷ the markers Redis held at the end (fields
//     of the marker hashes, one a keyed upload and partition it touched):
//     what one remembered key costs in one partition.
//   - GrowthBefore: net memory growth per upload from 1.5 s (every device's
//     hashes exist) to the TTL (no marker has expired yet): the markers'
//     growth, as used_memory growth ÷ keys remembered.
//   - GrowthAfter: the same over the load's last TTL, a whole slice: the
//     markers' memory is a sawtooth of slice period, so it compares two
//     instants a period apart once it is periodic (2 TTLs in). Flat (close
//     to 0) when markers expire as fast as they are written; equal to
//     GrowthBefore when they never expire.
type IdemMemory struct {
	TTL            time.Duration `json:"ttl_ns"`
	KeysRemembered int64         `json:"keys_remembered"`
	Markers        int64         `json:"markers_at_end"`
	EndBytes       float64       `json:"net_bytes_at_end"`
	AfterBytes     float64       `json:"net_bytes_after_expiry"`
	BytesPerKey    float64       `json:"bytes_per_key"`
	BytesPerMarker float64       `json:"bytes_per_marker"`
	GrowthBefore   float64       `json:"growth_per_upload_before_ttl"`
	GrowthAfter    float64       `json:"growth_per_upload_after_ttl"`
	Samples        []memSample   `json:"samples"`
}

// analyze fills m from samples of a load that ended loadEnd seconds after
// it started and stored uploadRate uploads a second; m.TTL,
// m.KeysRemembered and m.Markers are set.
func (m *IdemMemory) analyze(samples []memSample, loadEnd, uploadRate float64) {
	m.Samples = samples
	if len(samples) == 0 {
		return
	}
	ttl := m.TTL.Seconds()
	last := samples[len(samples)-1].T
	m.EndBytes = netAround(samples, loadEnd-0.5)
	m.AfterBytes = netAround(samples, last-0.5)
	if m.KeysRemembered > 0 {
		m.BytesPerKey = (m.EndBytes - m.AfterBytes) / float64(m.KeysRemembered)
	}
	if m.Markers > 0 {
		m.BytesPerMarker = (m.EndBytes - m.AfterBytes) / float64(m.Markers)
	}
	growth := func(from, to float64) float64 {
		uploads := uploadRate * (to - from)
		if uploads <= 0 {
			return 0
		}
		return (netAround(samples, to) - netAround(samples, from)) / uploads
	}
	m.GrowthBefore = growth(1.5, ttl)
	m.GrowthAfter = growth(loadEnd-0.5-ttl, loadEnd-0.5)
}

// netAround returns the median of the net memory of the samples
// within half a second of t (the nearest sample when there is none).
func netAround(samples []memSample, t float64) float64 {
	var v []float64
	nearest, best := 0, math.Inf(1)
	for i, s := range samples {
		d := math.Abs(s.T - t)
		if d <= 0.5 {
			v = append(v, s.net())
		}
		if d < best {
			nearest, best = i, d
		}
	}
	if len(v) == 0 {
		return samples[nearest].net()
	}
	return median(v)
}
