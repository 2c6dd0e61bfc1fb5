// The framing of a body: one JSON object, an array of objects, or NDJSON
// lines (see decode.go).

package point

import "bytes"

// json decodes a BodyJSON body: one object, or an array of objects.
func (d *decoder) json(data []byte) {
	lead := len(data) - len(bytes.TrimLeft(data, jsonSpace))
	if lead == len(data) {
		d.fail(BodyIndex, 0, "", "the body is empty; send a JSON object, a JSON array of objects, or NDJSON")
		return
	}
	v := d.validate(data)
	s := scanner{data: data[:v.end], strict: d.fast}
	s.ws()
	switch c := data[lead]; {
	case c == '{':
		if !d.object(&s, 0, 0) {
			d.syntax(0, 0, v)
			return
		}
	case c == '[':
		if !d.array(&s, v) {
			return
		}
	case v.err != nil && v.end == s.pos:
		d.fail(BodyIndex, 0, "", "the body must be a JSON object or a JSON array of objects; %s", v.describe(false))
		return
	default:
		d.fail(BodyIndex, 0, "", "the body must be a JSON object or a JSON array of objects, got %s", kindOf(data[s.pos:]))
		return
	}
	if d.stopped {
		return
	}
	s.ws()
	if s.pos < len(data) {
		hint := ""
		if data[s.pos] == '{' {
			hint = " (one object per line is NDJSON, a body kind of its own)"
		}
		d.fail(BodyIndex, 0, "", "unexpected data after the JSON value at byte offset %d; send one object or one array%s", s.pos, hint)
	}
}

// array decodes a JSON array of objects at s; it returns false when it
// recorded a problem after which nothing more can be read.
func (d *decoder) array(s *scanner, v validity) bool {
	s.pos++ // '['
	s.ws()
	if c, ok := s.peek(); ok && c == ']' {
		s.pos++
		d.fail(BodyIndex, 0, "", "the array is empty; send at least one point")
		return true
	}
	for n := 0; ; n++ {
		s.ws()
		c, ok := s.peek()
		if !ok {
			d.syntax(n, 0, v)
			return false
		}
		if n >= d.maxPoints {
			d.tooMany()
			return false
		}
		if c == '{' {
			if !d.object(s, n, 0) {
				d.syntax(n, 0, v)
				return false
			}
		} else {
			val, ok := s.value()
			if !ok {
				d.syntax(n, 0, v)
				return false
			}
			d.fail(n, 0, "", "must be a JSON object, got %s", kindOf(val))
		}
		if d.stopped {
			return false
		}
		s.ws()
		c, ok = s.peek()
		if !ok || (c != ',' && c != ']') {
			d.syntax(n+1, 0, v) // the problem is where the next item should be
			return false
		}
		s.pos++
		if c == ']' {
			return true
		}
	}
}

// ndjson decodes one object per line.
func (d *decoder) ndjson(data []byte) {
	n, line := 0, 0
	for len(data) > 0 && !d.stopped {
		var l []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			l, data = data[:i], data[i+1:]
		} else {
			l, data = data, nil
		}
		line++
		if len(bytes.TrimLeft(l, jsonSpace)) == 0 {
			continue
		}
		if n >= d.maxPoints {
			d.tooMany()
			return
		}
		d.line(l, n, line)
		n++
	}
	if n == 0 && !d.stopped {
		d.fail(BodyIndex, 0, "", "the body holds no points; send one JSON object per line")
	}
}

// line decodes the NDJSON item index on line number line.
func (d *decoder) line(l []byte, index, line int) {
	v := d.validate(l)
	v.line = true
	s := scanner{data: l[:v.end], strict: d.fast}
	s.ws()
	c, ok := s.peek()
	switch {
	case !ok:
		d.syntax(index, line, v)
	case c != '{':
		if v.err != nil {
			d.syntax(index, line, v)
		} else {
			d.fail(index, line, "", "must be a JSON object, got %s", kindOf(l[s.pos:]))
		}
	case !d.object(&s, index, line):
		d.syntax(index, line, v)
	default:
		if s.ws(); s.pos < len(l) && !d.stopped {
			d.fail(index, line, "", "a line must hold exactly one JSON object, found more after it at column %d", s.pos+1)
		}
	}
}
