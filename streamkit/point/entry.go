package point

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/geostream/geostream/streamkit/geo"
)

// A stream entry holds the points of one append call to one partition
// (docs/architecture.md, "Stream entry format"): field FieldCount is their
// number in decimal, field FieldPoints one or more segments, each the points
// of one request, concatenated. A segment is self-contained, so append.lua
// builds an entry by concatenating the segments of the requests it stores.
//
// Segment, version 2 (version 1 is the legacy one-point-per-entry form of
// AppendLegacyFields):
//
//	byte     2
//	uvarint  D, the number of distinct devices, then D device ids in
//	         increasing order, each as uvarint shared-prefix length with the
//	         previous id, uvarint suffix length, suffix bytes
//	uvarint  N, the number of points
//	varint   t0, a base time in Unix ms
//	byte     k: every latitude and longitude is a multiple of u = 10^k
//	         (0..7) fixed-point units (a device sending 6 decimals: k = 1)
//	N times: uvarint device index << 1 | 1 if the point has extras; then,
//	         if so, a byte of extras bits (1 altitude, 2 speed, 4 heading,
//	         8 accuracy, 16 battery); varint Δt, Δlat/u, Δlon/u from the
//	         device's previous point in the segment, or for its first point
//	         from the segment's previous point (t0, 0, 0 before the first);
//	         then each extra present, in bit order (see putExtra)
//
// Varints are Go's (encoding/binary), signed ones zig-zag. A device's points
// are mostly close in time and space, so its deltas take a byte or two.
const (
	FieldCount  = "n"
	FieldPoints = "p"
	// SegmentVersion is the first byte of every segment this package writes.
	SegmentVersion = 2
)

const extraBits = 5

// extrasOf lists p's optional measurements in segment bit order.
func extrasOf(e *Extras) [extraBits]*float64 {
	return [extraBits]*float64{e.Altitude, e.Speed, e.Heading, e.Accuracy, e.Battery}
}

// AppendSegment appends the segment of pts to dst. pts must be valid points
// (as Decode returns them) and not empty.
func AppendSegment(dst []byte, pts []Point) []byte {
	ids := make([]string, 0, 4)
	for i := range pts {
		ids = append(ids, pts[i].DeviceID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	dst = append(dst, SegmentVersion)
	dst = binary.AppendUvarint(dst, uint64(len(ids)))
	prevID := ""
	for _, id := range ids {
		n := commonPrefix(prevID, id)
		dst = binary.AppendUvarint(dst, uint64(n))
		dst = binary.AppendUvarint(dst, uint64(len(id)-n))
		dst = append(dst, id[n:]...)
		prevID = id
	}
	t0 := pts[0].TimeMs
	dst = binary.AppendUvarint(dst, uint64(len(pts)))
	dst = binary.AppendVarint(dst, t0)
	k, u := coordUnit(pts)
	dst = append(dst, byte(k))
	var prev [3]int64 // the segment's previous point: time, lat, lon
	prev[0] = t0
	last := make([][3]int64, len(ids)) // per device, its previous point
	seen := make([]bool, len(ids))
	for i := range pts {
		p := &pts[i]
		d, _ := slices.BinarySearch(ids, p.DeviceID)
		ex := extrasOf(&p.Extras)
		bits := byte(0)
		for j, x := range ex {
			if x != nil {
				bits |= 1 << j
			}
		}
		head := uint64(d) << 1
		if bits != 0 {
			head |= 1
		}
		dst = binary.AppendUvarint(dst, head)
		if bits != 0 {
			dst = append(dst, bits)
		}
		from := prev
		if seen[d] {
			from = last[d]
		}
		dst = binary.AppendVarint(dst, p.TimeMs-from[0])
		dst = binary.AppendVarint(dst, (p.LatE7-from[1])/u)
		dst = binary.AppendVarint(dst, (p.LonE7-from[2])/u)
		prev = [3]int64{p.TimeMs, p.LatE7, p.LonE7}
		last[d], seen[d] = prev, true
		for _, x := range ex {
			if x != nil {
				dst = putExtra(dst, *x)
			}
		}
	}
	return dst
}

// coordUnit returns the largest k ≤ 7 such that every coordinate of pts is
// a multiple of u = 10^k.
func coordUnit(pts []Point) (k int, u int64) {
	k, u = 7, 10_000_000
	for i := range pts {
		for k > 0 && (pts[i].LatE7%u != 0 || pts[i].LonE7%u != 0) {
			k--
			u /= 10
		}
	}
	return k, u
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// putExtra writes v as uvarint zigzag(m)<<1 when v is m thousandths
// exactly (what devices send: 12.3, 0.5, 87), else as uvarint 1 and the 8
// bytes of the float64, little-endian: every value round-trips exactly.
func putExtra(dst []byte, v float64) []byte {
	if m := math.Round(v * 1000); math.Abs(m) < 1<<52 && m/1000 == v {
		z := uint64(int64(m)<<1) ^ uint64(int64(m)>>63) // zig-zag
		return binary.AppendUvarint(dst, z<<1)
	}
	dst = binary.AppendUvarint(dst, 1)
	return binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
}

// ErrBadEntry is wrapped by every error of DecodeEntry and DecodeSegments.
var ErrBadEntry = errors.New("malformed stream entry")

// DecodeEntry appends the points of a stream entry, as go-redis returns its
// fields (XMessage.Values), to dst. It reads both the packed form (FieldCount
// and FieldPoints) and the legacy one point per entry (AppendLegacyFields),
// which entries written before the packed form still hold. packed says which
// it was. An EntryDecoder does the same with fewer allocations.
func DecodeEntry(v map[string]any, dst []Point) (pts []Point, packed bool, err error) {
	d := EntryDecoder{once: true}
	return d.Decode(v, dst)
}

// DecodeSegments appends the points of concatenated segments to dst,
// validating each as Decode would (device id, coordinate ranges, finite
// extras): an entry that does not decode whole yields an error and dst as
// it was.
func DecodeSegments(b []byte, dst []Point) ([]Point, error) {
	d := EntryDecoder{once: true}
	return d.segments(b, dst)
}

// segReader decodes segments; the first error sticks.
type segReader struct {
	b   []byte
	err error
	d   *EntryDecoder
}

func (r *segReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, args...)
	}
	r.b = nil
}

func (r *segReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("truncated or overlong varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *segReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("truncated or overlong varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

// count reads a uvarint that counts items of at least minBytes bytes each
// still to come, so that a corrupt count cannot make the reader allocate
// more than the input justifies.
func (r *segReader) count(minBytes int) int {
	v := r.uvarint()
	if v > uint64(len(r.b)/minBytes) {
		r.fail("count %d exceeds the %d bytes left", v, len(r.b))
		return 0
	}
	return int(v)
}

func (r *segReader) segment(dst []Point) []Point {
	if r.b[0] != SegmentVersion {
		r.fail("segment version %d, want %d", r.b[0], SegmentVersion)
		return dst
	}
	r.b = r.b[1:]
	nd := r.count(2)
	if r.err == nil && nd == 0 {
		r.fail("segment without devices")
	}
	ids := r.d.scratchIDs(nd)
	prevID := ""
	for i := range ids {
		shared, n := r.uvarint(), r.uvarint()
		if r.err != nil {
			return dst
		}
		if shared > uint64(len(prevID)) || n > uint64(len(r.b)) {
			r.fail("device %d: bad prefix or length", i)
			return dst
		}
		id := r.d.id(prevID[:shared], r.b[:n])
		r.b = r.b[n:]
		if ValidDeviceID(id) != nil || (i > 0 && id <= prevID) {
			r.fail("device %d: invalid or out of order id %q", i, id)
			return dst
		}
		ids[i], prevID = id, id
	}
	np := r.count(4)
	t0 := r.varint()
	if r.err == nil && np == 0 {
		r.fail("segment without points")
	}
	if r.err != nil || len(r.b) == 0 || r.b[0] > 7 {
		r.fail("missing or bad coordinate unit")
		return dst
	}
	u := int64(math.Pow10(int(r.b[0])))
	r.b = r.b[1:]
	var prev [3]int64
	prev[0] = t0
	last, seen := r.d.scratchLast(nd)
	dst = slices.Grow(dst, np)
	for i := 0; i < np && r.err == nil; i++ {
		head := r.uvarint()
		d := head >> 1
		if r.err != nil || d >= uint64(nd) {
			r.fail("point %d: device index out of range", i)
			return dst
		}
		bits := byte(0)
		if head&1 != 0 {
			if len(r.b) == 0 || r.b[0] == 0 || r.b[0] >= 1<<extraBits {
				r.fail("point %d: bad extras bits", i)
				return dst
			}
			bits, r.b = r.b[0], r.b[1:]
		}
		from := prev
		if seen[d] {
			from = last[d]
		}
		dt, dlat, dlon := r.varint(), r.varint(), r.varint()
		lat, lon := from[1]+dlat*u, from[2]+dlon*u
		if r.err != nil || lat < -90*geo.DegreeScale || lat > 90*geo.DegreeScale || lon < -180*geo.DegreeScale || lon > 180*geo.DegreeScale {
			r.fail("point %d: coordinates out of range", i)
			return dst
		}
		prev = [3]int64{from[0] + dt, lat, lon}
		last[d], seen[d] = prev, true
		p := Point{DeviceID: ids[d], TimeMs: prev[0], LatE7: lat, LonE7: lon}
		ex := [extraBits]**float64{&p.Extras.Altitude, &p.Extras.Speed, &p.Extras.Heading, &p.Extras.Accuracy, &p.Extras.Battery}
		for j, x := range ex {
			if bits&(1<<j) != 0 {
				v := r.extra()
				*x = &v
			}
		}
		dst = append(dst, p)
	}
	return dst
}

func (r *segReader) extra() float64 {
	u := r.uvarint()
	if u&1 == 0 {
		z := u >> 1
		m := int64(z>>1) ^ -int64(z&1)
		return float64(m) / 1000
	}
	if u != 1 || len(r.b) < 8 {
		r.fail("truncated extra")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(r.b))
	r.b = r.b[8:]
	if math.IsNaN(v) || math.IsInf(v, 0) {
		r.fail("extra is not a finite number")
	}
	return v
}
