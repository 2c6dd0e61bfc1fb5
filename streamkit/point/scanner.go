// The scanner: tokens of JSON, checked (strict, single pass) or found in
// data json.Valid has checked.

package point

import (
	"bytes"
	"encoding/json"
)

// jsonSpace is JSON's insignificant whitespace.
const jsonSpace = " \t\r\n"

// scanner walks data that is a valid prefix of a JSON text (see validate),
// so it only checks what it needs to find the end of each token. Each
// method reports false when the data ends first: that is where the
// syntax error is.
//
// A strict scanner walks data that nobody has checked, in the single-pass
// attempt: it checks each token it reads against the JSON grammar, and
// reports false at the first one that breaks it. It also reports false for
// what can never be a valid point's field value (objects, arrays,
// booleans) and for strings holding bytes beyond ASCII (nothing an accepted
// point holds), leaving them to the thorough pass. So what it reads is
// always valid JSON (the callers check the punctuation between tokens), and
// a body it reads to the end without a problem is one json.Valid accepts.
type scanner struct {
	data   []byte
	pos    int
	strict bool
}

func (s *scanner) ws() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\r', '\n':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) peek() (byte, bool) {
	if s.pos < len(s.data) {
		return s.data[s.pos], true
	}
	return 0, false
}

// str returns the string at s.pos with its quotes.
func (s *scanner) str() ([]byte, bool) {
	if c, ok := s.peek(); !ok || c != '"' {
		return nil, false
	}
	if s.strict {
		return s.strictStr()
	}
	for i := s.pos + 1; i < len(s.data); i++ {
		switch s.data[i] {
		case '\\':
			i++ // the escaped byte; a \uXXXX's hex digits need no care
		case '"':
			v := s.data[s.pos : i+1]
			s.pos = i + 1
			return v, true
		}
	}
	return nil, false
}

// strictStr is str of a strict scanner: it returns false for a string that
// is not JSON (control characters, bad escapes, cut off) and for one with
// bytes beyond ASCII.
func (s *scanner) strictStr() ([]byte, bool) {
	data := s.data
	for i := s.pos + 1; i < len(data); i++ {
		c := data[i]
		if plainASCII[c] {
			continue
		}
		switch c {
		case '"':
			v := data[s.pos : i+1]
			s.pos = i + 1
			return v, true
		case '\\':
			if i+1 >= len(data) {
				return nil, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 >= len(data) || !isHex(data[i+2]) || !isHex(data[i+3]) || !isHex(data[i+4]) || !isHex(data[i+5]) {
					return nil, false
				}
				i += 5
			default:
				return nil, false
			}
		default:
			return nil, false // a control character, or beyond ASCII
		}
	}
	return nil, false
}

// plainASCII holds the bytes a strict scanner passes over inside a string:
// printable ASCII but the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// strictValue is value of a strict scanner: a string, a number or null;
// false for anything else.
func (s *scanner) strictValue() ([]byte, bool) {
	data, start := s.data, s.pos
	switch c := data[start]; {
	case c == '"':
		return s.strictStr()
	case c == 'n':
		if len(data)-start >= 4 && string(data[start:start+4]) == "null" {
			s.pos += 4
			return data[start:s.pos], true
		}
		return nil, false
	case c != '-' && (c < '0' || c > '9'):
		return nil, false // an object, array or boolean: never a valid field value
	}
	// A number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; the caller
	// checks what follows it.
	i := start
	if data[i] == '-' {
		i++
	}
	switch {
	case i == len(data):
		return nil, false
	case data[i] == '0':
		i++
	case '1' <= data[i] && data[i] <= '9':
		i = digits(data, i+1)
	default:
		return nil, false
	}
	if i < len(data) && data[i] == '.' {
		j := digits(data, i+1)
		if j == i+1 {
			return nil, false
		}
		i = j
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		j := digits(data, i)
		if j == i {
			return nil, false
		}
		i = j
	}
	s.pos = i
	return data[start:i], true
}

// digits returns the index of the first byte at or after i of data that is
// not a decimal digit.
func digits(data []byte, i int) int {
	for i < len(data) && '0' <= data[i] && data[i] <= '9' {
		i++
	}
	return i
}

// value returns the value at s.pos.
func (s *scanner) value() ([]byte, bool) {
	start := s.pos
	c, ok := s.peek()
	if !ok {
		return nil, false
	}
	if s.strict {
		return s.strictValue()
	}
	switch c {
	case '"':
		return s.str()
	case '{', '[':
		depth := 0
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case '"':
				if _, ok := s.str(); !ok {
					return nil, false
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.pos++
					return s.data[start:s.pos], true
				}
			}
			s.pos++
		}
		return nil, false
	}
	// A number or literal ends at a delimiter. One that ends with the data
	// may be cut short, so it counts as running out.
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return s.data[start:s.pos], true
		}
		s.pos++
	}
	return nil, false
}

// unquote returns the text of a JSON string (with quotes), unescaped.
func unquote(q []byte) string {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1])
	}
	var s string
	if err := json.Unmarshal(q, &s); err != nil {
		return string(q[1 : len(q)-1]) // not reached: q is valid JSON
	}
	return s
}
