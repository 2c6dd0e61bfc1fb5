package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest"
)

// What the fault tests read from Redis and from /metrics to check the
// pipeline's state, independently of the services' own answers.

// groupState is one partition's stream and consumer-group state, read in
// one MULTI so that the values belong together.
type groupState struct {
	xlen    int64
	lag     int64 // entries not yet delivered to the group; -1 when Redis cannot tell
	pending int64 // delivered, not acknowledged
	first   string
	oldest  string // oldest pending entry ID, "" when none
}

// readGroup reads partition p's groupState.
func readGroup(ctx context.Context, rc *redis.Client, s *keys.Schema, p int) (groupState, error) {
	stream := s.Stream(p)
	var (
		xlen  *redis.IntCmd
		info  *redis.XInfoGroupsCmd
		pend  *redis.XPendingCmd
		first *redis.XMessageSliceCmd
	)
	_, err := rc.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		xlen = pipe.XLen(ctx, stream)
		info = pipe.XInfoGroups(ctx, stream)
		pend = pipe.XPending(ctx, stream, keys.Group)
		first = pipe.XRangeN(ctx, stream, "-", "+", 1)
		return nil
	})
	if err != nil {
		return groupState{}, fmt.Errorf("read group state of %s: %w", stream, err)
	}
	g := groupState{xlen: xlen.Val(), lag: -1}
	for _, gr := range info.Val() {
		if gr.Name == keys.Group {
			g.lag = gr.Lag
		}
	}
	if pv := pend.Val(); pv != nil && pv.Count > 0 {
		g.pending, g.oldest = pv.Count, pv.Lower
	}
	if m := first.Val(); len(m) > 0 {
		g.first = m[0].ID
	}
	return g, nil
}

// waitDrained waits until every partition has no undelivered and no
// pending entry: every stored point has been counted.
func waitDrained(t *testing.T, rc *redis.Client, timeout time.Duration) {
	t.Helper()
	s := mustSchema(t)
	var last string
	defer func() { // also when WaitFor fails the test
		if last != "" {
			t.Logf("not drained: %s", last)
		}
	}()
	redistest.WaitFor(t, timeout, "the streams drained", func() bool {
		for p := 0; p < s.Partitions(); p++ {
			g, err := readGroup(context.Background(), rc, s, p)
			if err != nil || g.lag != 0 || g.pending != 0 {
				last = fmt.Sprintf("partition %d: %+v %v", p, g, err)
				return false
			}
		}
		last = ""
		return true
	})
}

// consumerPending returns how many entries are pending under consumer,
// summed over the partitions.
func consumerPending(t *testing.T, rc *redis.Client, consumer string) int64 {
	t.Helper()
	s := mustSchema(t)
	var n int64
	for p := 0; p < s.Partitions(); p++ {
		res, err := rc.XPendingExt(context.Background(), &redis.XPendingExtArgs{
			Stream: s.Stream(p), Group: keys.Group, Start: "-", End: "+", Count: 1 << 20, Consumer: consumer,
		}).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatalf("xpending %s %s: %v", s.Stream(p), consumer, err)
		}
		n += int64(len(res))
	}
	return n
}

// countedTotal returns the number of points in the all-time aggregates.
func countedTotal(t *testing.T, rc *redis.Client) int64 {
	t.Helper()
	return storedSums(t, rc, mustSchema(t).Partitions()).Count
}

// deviceCounts returns the number of points counted for each device.
func deviceCounts(t *testing.T, rc *redis.Client, devices []string) map[string]int64 {
	t.Helper()
	s := mustSchema(t)
	ctx := context.Background()
	out := make(map[string]int64, len(devices))
	for len(devices) > 0 {
		chunk := devices[:min(len(devices), 1000)]
		devices = devices[len(chunk):]
		pipe := rc.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, len(chunk))
		for i, d := range chunk {
			cmds[i] = pipe.HGetAll(ctx, s.Device(s.PartitionOf(d), d))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatalf("read device aggregates: %v", err)
		}
		for i, d := range chunk {
			sums, err := agg.FromHash(cmds[i].Val())
			if err != nil {
				t.Fatalf("device %s: %v", d, err)
			}
			out[d] = sums.Count
		}
	}
	return out
}

// streamDeviceCounts returns how many entries of each device the partition
// streams hold (before any processor has run, this is what ingest stored).
// A stream key that is not a stream counts as empty.
func streamDeviceCounts(t *testing.T, rc *redis.Client) map[string]int64 {
	t.Helper()
	s := mustSchema(t)
	out := map[string]int64{}
	for p := 0; p < s.Partitions(); p++ {
		start := "-"
		for {
			msgs, err := rc.XRangeN(context.Background(), s.Stream(p), start, "+", 5000).Result()
			if err != nil && redis.HasErrorPrefix(err, "WRONGTYPE") {
				break // a test broke this partition on purpose: it holds nothing
			}
			if err != nil {
				t.Fatalf("xrange %s: %v", s.Stream(p), err)
			}
			for _, m := range msgs {
				pts, _, err := point.DecodeEntry(m.Values, nil) // packed and legacy entries
				if err != nil {
					t.Fatalf("%s entry %s: %v", s.Stream(p), m.ID, err)
				}
				for _, pt := range pts {
					out[pt.DeviceID]++
				}
			}
			if len(msgs) < 5000 {
				break
			}
			start = "(" + msgs[len(msgs)-1].ID
		}
	}
	return out
}

// streamLens returns XLEN of every partition stream.
func streamLens(t *testing.T, rc *redis.Client) []int64 {
	t.Helper()
	s := mustSchema(t)
	out := make([]int64, s.Partitions())
	for p := range out {
		n, err := rc.XLen(context.Background(), s.Stream(p)).Result()
		if err != nil {
			t.Fatalf("xlen %s: %v", s.Stream(p), err)
		}
		out[p] = n
	}
	return out
}

// backlogPoints returns each partition's backlog counter: points appended
// and not yet counted, what --backlog-limit is checked against.
func backlogPoints(t *testing.T, rc *redis.Client) []int64 {
	t.Helper()
	s := mustSchema(t)
	out := make([]int64, s.Partitions())
	for p := range out {
		n, err := rc.Get(context.Background(), s.Backlog(p)).Int64()
		if err != nil && err != redis.Nil {
			t.Fatalf("get %s: %v", s.Backlog(p), err)
		}
		out[p] = n
	}
	return out
}

// usedMemory returns Redis's used_memory in bytes.
func usedMemory(ctx context.Context, rc *redis.Client) (int64, error) {
	info, err := rc.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("no used_memory in INFO memory")
}

// scrape reads base+"/metrics" (Prometheus text format) into a map from
// sample (name with labels, as exposed) to value.
func scrape(base string) (map[string]float64, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: %s", base, resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// metric sums the samples of the family name (all label sets).
func metric(m map[string]float64, name string) float64 {
	var sum float64
	for k, v := range m {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
		}
	}
	return sum
}

// mustScrape scrapes base or fails the test.
func mustScrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	m, err := scrape(base)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	return m
}
