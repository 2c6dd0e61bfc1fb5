package point

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// A track record is one point of a device's track, stored in the Redis list
// of its device-hour (docs/architecture.md, "Tracks"):
//
//	uint32 LE  time offset in the hour (ms, < 2^22) | extras bits << 22
//	int32 LE   latitude, int32 LE longitude (1e-7°)
//	each extra present, in bit order: uvarint zigzag(m)*5 + s for the
//	value m/10^s (s in 0..3, the smallest that is exact), or uvarint 4
//	and the 8 bytes of the float64
//
// 12 bytes without extras; a phone's altitude, speed, heading and
// accuracy add about 9. Records are self-delimiting: a list element holds
// the records of one apply call, concatenated (DecodeTrackRecords).

// HourMs is the span of one track list.
const HourMs = 3_600_000

// TrackRecordSize is the size of a record without extras.
const TrackRecordSize = 12

// ErrBadTrackRecord is wrapped by the errors of DecodeTrackRecord and
// DecodeExtras.
var ErrBadTrackRecord = errors.New("malformed track record")

// HourStart returns the start of the hour holding t (Unix ms).
func HourStart(t int64) int64 {
	h := t - t%HourMs
	if t < 0 && t%HourMs != 0 {
		h -= HourMs
	}
	return h
}

func extraBitsOf(e *Extras) byte {
	bits := byte(0)
	for j, x := range extrasOf(e) {
		if x != nil {
			bits |= 1 << j
		}
	}
	return bits
}

var pow10 = [4]float64{1, 10, 100, 1000}

func appendExtraValues(dst []byte, e *Extras) []byte {
	for _, x := range extrasOf(e) {
		if x == nil {
			continue
		}
		v, done := *x, false
		for s, f := range pow10 {
			if m := math.Round(v * f); math.Abs(m) < 1<<50 && m/f == v {
				z := uint64(int64(m)<<1) ^ uint64(int64(m)>>63) // zig-zag
				dst, done = binary.AppendUvarint(dst, z*5+uint64(s)), true
				break
			}
		}
		if !done {
			dst = binary.AppendUvarint(dst, 4)
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		}
	}
	return dst
}

// AppendTrackRecord appends the record of p, a point of the hour starting
// at hour, to dst.
func AppendTrackRecord(dst []byte, p *Point, hour int64) []byte {
	bits := extraBitsOf(&p.Extras)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(p.TimeMs-hour)|uint32(bits)<<22)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(int32(p.LatE7)))
	dst = binary.LittleEndian.AppendUint32(dst, uint32(int32(p.LonE7)))
	return appendExtraValues(dst, &p.Extras)
}

// DecodeTrackRecord decodes a record of the hour starting at hour into p
// (all but DeviceID).
func DecodeTrackRecord(b []byte, hour int64, p *Point) error {
	rest, err := decodeTrackRecord(b, hour, p)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%w: %d bytes after the record", ErrBadTrackRecord, len(rest))
	}
	return err
}

// DecodeTrackRecords appends the points of b, records of the hour starting
// at hour concatenated, to dst, with DeviceID id.
func DecodeTrackRecords(b []byte, hour int64, id string, dst []Point) ([]Point, error) {
	for len(b) > 0 {
		p := Point{DeviceID: id}
		var err error
		if b, err = decodeTrackRecord(b, hour, &p); err != nil {
			return dst, err
		}
		dst = append(dst, p)
	}
	return dst, nil
}

func decodeTrackRecord(b []byte, hour int64, p *Point) ([]byte, error) {
	if len(b) < TrackRecordSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadTrackRecord, len(b))
	}
	head := binary.LittleEndian.Uint32(b)
	off, bits := int64(head&(1<<22-1)), byte(head>>22)
	if off >= HourMs || bits >= 1<<extraBits {
		return nil, fmt.Errorf("%w: bad head %#x", ErrBadTrackRecord, head)
	}
	p.TimeMs = hour + off
	p.LatE7 = int64(int32(binary.LittleEndian.Uint32(b[4:])))
	p.LonE7 = int64(int32(binary.LittleEndian.Uint32(b[8:])))
	return decodeExtraValues(b[TrackRecordSize:], bits, &p.Extras)
}

func decodeExtraValues(b []byte, bits byte, e *Extras) ([]byte, error) {
	*e = Extras{}
	r := segReader{b: b}
	ex := [extraBits]**float64{&e.Altitude, &e.Speed, &e.Heading, &e.Accuracy, &e.Battery}
	for j, x := range ex {
		if bits&(1<<j) == 0 {
			continue
		}
		var v float64
		u := r.uvarint()
		switch s := u % 5; {
		case s < 4:
			z := u / 5
			v = float64(int64(z>>1)^-int64(z&1)) / pow10[s]
		case u != 4 || len(r.b) < 8:
			r.fail("bad extra")
		default:
			v = math.Float64frombits(binary.LittleEndian.Uint64(r.b))
			r.b = r.b[8:]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				r.fail("extra is not a finite number")
			}
		}
		*x = &v
	}
	if r.err != nil {
		return nil, fmt.Errorf("%w: bad extras", ErrBadTrackRecord)
	}
	return r.b, nil
}

// AppendExtras appends e as a byte of extras bits and the values, as a
// device's hash keeps its last position's extras (field lx); nothing when
// e is empty.
func AppendExtras(dst []byte, e *Extras) []byte {
	bits := extraBitsOf(e)
	if bits == 0 {
		return dst
	}
	return appendExtraValues(append(dst, bits), e)
}

// DecodeExtras decodes what AppendExtras wrote ("" is no extras).
func DecodeExtras(b []byte, e *Extras) error {
	if len(b) == 0 {
		*e = Extras{}
		return nil
	}
	if b[0] == 0 || b[0] >= 1<<extraBits {
		return fmt.Errorf("%w: bad extras bits", ErrBadTrackRecord)
	}
	rest, err := decodeExtraValues(b[1:], b[0], e)
	if err == nil && len(rest) != 0 {
		err = fmt.Errorf("%w: bad extras", ErrBadTrackRecord)
	}
	return err
}
