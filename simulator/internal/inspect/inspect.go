// Package inspect prints a partition stream's entries for a human: each
// entry's header and the points it holds, decoded whatever its format
// (point.DecodeEntry reads the packed and the legacy one-point form), since
// redis-cli XRANGE shows packed coordinates only as bytes.
package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/geo"
	"github.com/geostream/geostream/streamkit/point"
)

// ErrMalformed is returned by Print after it has printed every entry when
// some did not decode.
var ErrMalformed = errors.New("malformed stream entries")

// Options select the entries Print reads.
type Options struct {
	// Stream is the partition stream's key (keys.Schema.Stream).
	Stream string
	// Start is the first entry id XRANGE returns: "-" (the oldest), an id,
	// or "(" and an id to start after it. Default "-".
	Start string
	// Count bounds the entries read; at least 1.
	Count int64
}

// Summary counts what Print read.
type Summary struct {
	Entries, Points, Malformed int
	// Last is the id of the last entry read, "" when there was none.
	Last string
}

// Print reads up to o.Count entries of o.Stream from o.Start and writes,
// for each, a header line (id, format, points, bytes) and one line per
// point (entry id, device, time in RFC 3339 ms UTC, latitude, longitude,
// extras); a malformed entry gets a header saying why. Then a line to
// continue from.
func Print(ctx context.Context, c redis.Cmdable, o Options, w io.Writer) (Summary, error) {
	var s Summary
	start := o.Start
	if start == "" {
		start = "-"
	}
	msgs, err := c.XRangeN(ctx, o.Stream, start, "+", o.Count).Result()
	if err != nil {
		return s, fmt.Errorf("xrange %s: %w", o.Stream, err)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	var pts []point.Point
	for _, m := range msgs {
		s.Entries++
		s.Last = m.ID
		var packed bool
		pts, packed, err = point.DecodeEntry(m.Values, pts[:0])
		if err != nil {
			s.Malformed++
			fmt.Fprintf(tw, "entry %s malformed, %d bytes: %v\n", m.ID, entryBytes(m.Values), err)
			continue
		}
		format := "legacy"
		if packed {
			format = "packed"
		}
		fmt.Fprintf(tw, "entry %s %s, %d points, %d bytes\n", m.ID, format, len(pts), entryBytes(m.Values))
		for i := range pts {
			writePoint(tw, m.ID, &pts[i])
		}
		s.Points += len(pts)
	}
	if err := tw.Flush(); err != nil {
		return s, err
	}
	if _, err := fmt.Fprintln(w, summaryLine(s, o)); err != nil {
		return s, err
	}
	if s.Malformed > 0 {
		return s, fmt.Errorf("%w: %d of %d", ErrMalformed, s.Malformed, s.Entries)
	}
	return s, nil
}

// summaryLine counts what was read and, after a full page, says how to
// read the next.
func summaryLine(s Summary, o Options) string {
	line := fmt.Sprintf("# %s: %d entries, %d points", o.Stream, s.Entries, s.Points)
	if int64(s.Entries) == o.Count {
		line += fmt.Sprintf("; next page: --start '(%s'", s.Last)
	}
	return line
}

// entryBytes is the size of an entry's field names and values.
func entryBytes(v map[string]any) int {
	n := 0
	for f, x := range v {
		n += len(f) + len(fmt.Sprint(x))
	}
	return n
}

// writePoint writes one point as tab-separated cells.
func writePoint(w io.Writer, id string, p *point.Point) {
	t := time.UnixMilli(p.TimeMs).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	line := fmt.Sprintf("  %s\t%s\t%s\t%s\t%s", id, p.DeviceID, t, degrees(p.LatE7), degrees(p.LonE7))
	if x := extras(&p.Extras); x != "" {
		line += "\t" + x // no empty last cell: it would pad the line with spaces
	}
	fmt.Fprintln(w, line)
}

// degrees formats a fixed-point coordinate exactly, with its 7 decimals.
func degrees(e7 int64) string {
	sign := ""
	if e7 < 0 {
		sign, e7 = "-", -e7
	}
	return fmt.Sprintf("%s%d.%07d", sign, e7/geo.DegreeScale, e7%geo.DegreeScale)
}

// extras formats the optional measurements a point has, as name=value.
func extras(e *point.Extras) string {
	var b strings.Builder
	for _, x := range [...]struct {
		name string
		v    *float64
	}{{"alt", e.Altitude}, {"speed", e.Speed}, {"heading", e.Heading}, {"accuracy", e.Accuracy}, {"battery", e.Battery}} {
		if x.v == nil {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(x.name + "=" + strconv.FormatFloat(*x.v, 'g', -1, 64))
	}
	return b.String()
}
