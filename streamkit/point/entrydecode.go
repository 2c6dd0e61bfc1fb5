package point

import (
	"fmt"
	"strconv"
	"unsafe"
)

// maxInterned bounds the device ids an EntryDecoder remembers; past it the
// table starts again empty.
const maxInterned = 1 << 16

// EntryDecoder decodes stream entries like DecodeEntry, reusing its scratch
// space from one entry to the next and each device id's string (interned),
// so that decoding a read allocates little more than the points' slice.
// The zero value is ready to use; it is not safe for concurrent use.
type EntryDecoder struct {
	ids    map[string]string
	idBuf  []byte
	segIDs []string
	last   [][3]int64
	seen   []bool
	once   bool // one entry only: no table
}

// Decode is DecodeEntry with d's scratch space. The packed blob is read in
// place, not copied.
func (d *EntryDecoder) Decode(v map[string]any, dst []Point) (pts []Point, packed bool, err error) {
	blob, ok := v[FieldPoints].(string)
	if !ok {
		p, err := FromValues(v)
		if err != nil {
			return dst, false, fmt.Errorf("%w: %w", ErrBadEntry, err)
		}
		return append(dst, p), false, nil
	}
	n, ok := entryCount(v[FieldCount])
	if !ok {
		return dst, true, fmt.Errorf("%w: field %q must be a positive count", ErrBadEntry, FieldCount)
	}
	start := len(dst)
	// Read only: the decoder never writes to its input.
	dst, err = d.segments(unsafe.Slice(unsafe.StringData(blob), len(blob)), dst)
	if err != nil {
		return dst[:start], true, err
	}
	if got := len(dst) - start; got != n {
		return dst[:start], true, fmt.Errorf("%w: %d points, field %q says %d", ErrBadEntry, got, FieldCount, n)
	}
	return dst, true, nil
}

// entryCount reads the FieldCount value: a positive decimal.
func entryCount(v any) (int, bool) {
	var s string
	switch c := v.(type) {
	case string:
		s = c
	case nil:
		return 0, false
	default:
		s = fmt.Sprint(c)
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1
}

func (d *EntryDecoder) segments(b []byte, dst []Point) ([]Point, error) {
	start := len(dst)
	r := segReader{b: b, d: d}
	for len(r.b) > 0 && r.err == nil {
		dst = r.segment(dst)
	}
	if r.err != nil {
		return dst[:start], fmt.Errorf("%w: %w", ErrBadEntry, r.err)
	}
	return dst, nil
}

// id returns the device id prefix+suffix, a string of its own (it never
// shares the entry's memory), interned when d keeps a table.
func (d *EntryDecoder) id(prefix string, suffix []byte) string {
	d.idBuf = append(append(d.idBuf[:0], prefix...), suffix...)
	if s, ok := d.ids[string(d.idBuf)]; ok {
		return s
	}
	s := string(d.idBuf)
	if d.once {
		return s
	}
	if d.ids == nil || len(d.ids) >= maxInterned {
		d.ids = make(map[string]string)
	}
	d.ids[s] = s
	return s
}

// scratchIDs returns a segment's id slice of length n, reused.
func (d *EntryDecoder) scratchIDs(n int) []string {
	if cap(d.segIDs) < n {
		d.segIDs = make([]string, n)
	}
	return d.segIDs[:n]
}

// scratchLast returns a segment's per-device previous points, cleared.
func (d *EntryDecoder) scratchLast(n int) ([][3]int64, []bool) {
	if cap(d.last) < n {
		d.last, d.seen = make([][3]int64, n), make([]bool, n)
	}
	clear(d.seen[:n])
	return d.last[:n], d.seen[:n]
}
