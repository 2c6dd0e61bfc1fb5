package processor

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/point"
)

// Reads are bounded in points as well as entries. An entry holds the
// points of one append call, and group commit puts many requests in a
// call under load: the benchmark's backlog had entries of ~2,000 points,
// so a read of BatchSize (256) entries held ~500k points, in each of the
// 16 partitions at once (processor-svc peaked at 142 MB in its drain).
const (
	// maxReadPoints is about the most points one read asks for.
	maxReadPoints = 50_000
)

// readCount returns how many entries a read asks for, given the points
// per entry of the partition's last read (or newest entry): batchSize, or
// fewer so that the read holds about maxReadPoints points; at least 1.
func readCount(pointsPerEntry float64, batchSize int) int {
	if pointsPerEntry <= 1 {
		return batchSize
	}
	return max(1, min(batchSize, int(maxReadPoints/pointsPerEntry)))
}

// firstCount sets the count of the partition's first read from its newest
// entry (XREVRANGE … COUNT 1), so that a processor started on a backlog
// does not begin with reads of BatchSize large entries in every partition
// at once. An empty stream, or an error (the reads will retry it), leaves
// BatchSize; the first read that returns entries sets the next count.
func (w *partition) firstCount(ctx context.Context) {
	w.count = w.p.cfg.BatchSize
	msgs, err := w.p.client.XRevRangeN(ctx, w.stream, "+", "-", 1).Result()
	if err == nil && len(msgs) > 0 {
		w.count = readCount(float64(entryPoints(msgs)), w.p.cfg.BatchSize)
	}
}

// entryPoints returns the points msgs hold by their "n" field (a legacy
// one-point entry has none): what a read returned, before decoding.
func entryPoints(msgs []redis.XMessage) int {
	total := 0
	for _, m := range msgs {
		n := 1
		if s, ok := m.Values[point.FieldCount].(string); ok {
			if v, err := strconv.Atoi(s); err == nil && v > 0 {
				n = v
			}
		}
		total += n
	}
	return total
}
