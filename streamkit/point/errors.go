// What a decode reports: DecodeError and its Details, and the formatting
// of values in messages (shortened, valid UTF-8).

package point

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrTooManyPoints is wrapped by the DecodeError of a body holding more than
// DecodeOptions.MaxPoints points.
var ErrTooManyPoints = errors.New("too many points in one body")

// BodyIndex is the Detail.Index of a problem with the body as a whole rather
// than one of its items (empty body, trailing data, too many points).
const BodyIndex = -1

// Detail is one problem found in a body.
type Detail struct {
	// Index is the 0-based position of the item among the body's items
	// (array elements or NDJSON lines that are not blank), or BodyIndex.
	Index int
	// Line is the 1-based line of an NDJSON item; 0 for other kinds.
	Line int
	// Field is the JSON key at fault; empty when the whole item (or body) is.
	Field string
	// Message says what is wrong, for a person to act on.
	Message string
}

// String formats the detail as "item 3: latitude: must be between -90 and
// 90, got 91.5" (with "(line 5)" after the index for NDJSON, and "body"
// instead of "item N" for a problem of the whole body).
func (d Detail) String() string {
	var b strings.Builder
	if d.Index == BodyIndex {
		b.WriteString("body")
	} else {
		b.WriteString("item ")
		b.WriteString(strconv.Itoa(d.Index))
	}
	if d.Line > 0 {
		b.WriteString(" (line ")
		b.WriteString(strconv.Itoa(d.Line))
		b.WriteString(")")
	}
	b.WriteString(": ")
	if d.Field != "" {
		b.WriteString(d.Field)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	return b.String()
}

// DecodeError is the error of a body that holds one or more invalid points.
// A body is decoded all or nothing: Decode returns no point with it.
type DecodeError struct {
	// Details lists the problems found, in body order; never empty.
	Details []Detail
	// Truncated is true when decoding stopped after MaxDetails problems, so
	// the body may hold more.
	Truncated bool

	cause error // ErrTooManyPoints or nil
}

// Error returns the first problem and how many more there are.
func (e *DecodeError) Error() string {
	if len(e.Details) == 0 {
		return "decode points: invalid body"
	}
	s := "decode points: " + e.Details[0].String()
	if n := len(e.Details) - 1; n > 0 || e.Truncated {
		more := ""
		if e.Truncated {
			more = " or more"
		}
		noun := "problems"
		if n == 1 && !e.Truncated {
			noun = "problem"
		}
		s += fmt.Sprintf(" (and %d%s other %s)", n, more, noun)
	}
	return s
}

// Unwrap returns ErrTooManyPoints when that is the problem, nil otherwise.
func (e *DecodeError) Unwrap() error { return e.cause }

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// shorten cuts s to at most 64 runes for a message, and makes it valid UTF-8.
func shorten(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= 64 {
		return s
	}
	return string([]rune(s)[:64]) + "…"
}

// quote quotes a value for a message, shortened.
func quote(s string) string { return strconv.Quote(shorten(s)) }
