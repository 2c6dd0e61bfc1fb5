// JSON syntax errors: where the first one is (json.Valid) and what to say
// of it. Only a body the single-pass attempt gave up on gets here.

package point

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// validity is where the first JSON syntax error of a body (or NDJSON line)
// is: data[:end] is a valid prefix of a JSON text.
type validity struct {
	end       int
	err       *json.SyntaxError // nil when the data is valid JSON
	truncated bool              // the data ends in the middle of a value
	line      bool              // data is an NDJSON line: positions are columns
	data      []byte
}

// validate is validate(data), except in the single-pass attempt, where the
// data is taken as valid: the scanner checks it as it goes.
func (d *decoder) validate(data []byte) validity {
	if d.fast {
		return validity{end: len(data), data: data}
	}
	return validate(data)
}

// validate finds the first syntax error of data. Valid data costs one pass
// of json.Valid.
func validate(data []byte) validity {
	if json.Valid(data) {
		return validity{end: len(data), data: data}
	}
	var se *json.SyntaxError
	if !errors.As(json.Unmarshal(data, new(json.RawMessage)), &se) {
		// Not reached: invalid data fails with a syntax error.
		se = &json.SyntaxError{Offset: 0}
	}
	v := validity{err: se, data: data}
	// The offset counts the offending byte; at the end of the data with
	// encoding/json's "unexpected end" there is none.
	off := int(min(max(se.Offset, 0), int64(len(data))))
	if off == len(data) && strings.HasPrefix(se.Error(), "unexpected end") {
		v.end, v.truncated = off, true
	} else {
		v.end = max(off-1, 0)
	}
	return v
}

// describe says what the syntax error is, for a message.
func (v validity) describe(withPos bool) string {
	what := "the body"
	if v.line {
		what = "the line"
	}
	if v.err == nil {
		return "invalid JSON" // not reached: only invalid data runs out
	}
	if v.truncated {
		return what + " ends in the middle of a JSON value (truncated?)"
	}
	msg := strings.TrimSpace(v.err.Error())
	if nonJSONNumberAt(v.data, v.end) {
		msg += " (NaN and Infinity are not JSON numbers)"
	}
	if !withPos {
		return "invalid JSON: " + msg
	}
	if v.line {
		return fmt.Sprintf("invalid JSON at column %d: %s", v.end+1, msg)
	}
	return fmt.Sprintf("invalid JSON at byte offset %d: %s", v.end, msg)
}

// syntax records the syntax error v as a problem of item index.
func (d *decoder) syntax(index, line int, v validity) {
	if d.fast {
		d.stopped = true // v knows nothing: the thorough pass describes it
		return
	}
	d.fail(index, line, "", "%s", v.describe(true))
}

// nonJSONNumberAt reports whether a NaN or Infinity literal (maybe signed)
// starts at byte off of data.
func nonJSONNumberAt(data []byte, off int) bool {
	for p := max(off-1, 0); p <= off && p < len(data); p++ {
		rest := bytes.TrimLeft(data[p:], "+-")
		for _, lit := range [...]string{"NaN", "nan", "Infinity", "infinity", "Inf", "inf"} {
			if bytes.HasPrefix(rest, []byte(lit)) {
				return true
			}
		}
	}
	return false
}
