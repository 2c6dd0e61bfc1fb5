package processor

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// streamID is a Redis stream entry ID, "<ms>-<seq>". IDs compare by ms, then
// by seq.
type streamID struct {
	ms, seq uint64
}

// parseStreamID parses "<ms>-<seq>" (or "<ms>", whose seq is 0).
func parseStreamID(s string) (streamID, error) {
	msPart, seqPart, hasSeq := strings.Cut(s, "-")
	ms, err := strconv.ParseUint(msPart, 10, 64)
	if err != nil {
		return streamID{}, fmt.Errorf("stream id %q: %w", s, err)
	}
	var seq uint64
	if hasSeq {
		if seq, err = strconv.ParseUint(seqPart, 10, 64); err != nil {
			return streamID{}, fmt.Errorf("stream id %q: %w", s, err)
		}
	}
	return streamID{ms: ms, seq: seq}, nil
}

func (a streamID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// less reports whether a sorts before b.
func (a streamID) less(b streamID) bool {
	if a.ms != b.ms {
		return a.ms < b.ms
	}
	return a.seq < b.seq
}

// next returns the smallest ID after a (a itself for the largest ID).
func (a streamID) next() streamID {
	switch {
	case a.seq < math.MaxUint64:
		return streamID{a.ms, a.seq + 1}
	case a.ms < math.MaxUint64:
		return streamID{a.ms + 1, 0}
	}
	return a
}

// minID returns the smaller of a and b.
func minID(a, b streamID) streamID {
	if b.less(a) {
		return b
	}
	return a
}
