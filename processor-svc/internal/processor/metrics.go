package processor

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/metrics"
)

// ScrapeTimeout bounds the Redis reads of one metrics scrape.
const ScrapeTimeout = 2 * time.Second

// Register exports the processor's metrics on r: running totals, batch
// duration, and per partition the group's lag (entries not yet delivered)
// and pending entries (delivered, not yet acknowledged), read from Redis at
// scrape time.
func (p *Processor) Register(r prometheus.Registerer) error {
	counter := func(name, help string, f func() int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "processor", Name: name, Help: help,
		}, func() float64 { return float64(f()) })
	}
	for _, c := range []prometheus.Collector{
		counter("points_applied_total", "Points counted into the aggregates.", p.applied.Load),
		counter("apply_calls_total", "Lua calls that counted entries (fast path; a call that fell back to the entry-by-entry path counts once).", p.calls.Load),
		counter("apply_conflicts_total", "Lua calls sent again because device hashes read ahead of the call had been written meanwhile (by another processor); those hashes then go as increments.", p.conflicts.Load),
		counter("duplicates_skipped_total", "Points of entries delivered again but already counted, so skipped (exactly-once at work).", p.duplicates.Load),
		counter("entries_claimed_total", "Entries claimed from other (dead or slow) consumers with XAUTOCLAIM.", p.claimed.Load),
		counter("consumers_removed_total", "Consumer names removed from the group of a partition (one per partition): idle for --consumer-expiry and owning no pending entry. Mostly replaced processors; on Redis 7.0 also live ones whose partition was quiet that long (they come back with their next entries).", p.consumersRemoved.Load),
		counter("entries_undecodable_total", "Entries acknowledged without counting because they are not points.", p.undecodable.Load),
		counter("entries_trimmed_total", "Acknowledged entries trimmed from the streams.", p.trimmed.Load),
		p.batchDuration,
		&partitionCollector{p: p},
	} {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func newBatchDuration() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: metrics.Namespace, Subsystem: "processor", Name: "batch_duration_seconds",
		Help:    "Time to apply one batch (decode, Lua call, retries).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	})
}

var (
	lagDesc = prometheus.NewDesc(metrics.Namespace+"_processor_lag_entries",
		"Entries of the partition stream not yet delivered to the consumer group; NaN where lag_known is 0.", []string{"partition"}, nil)
	lagKnownDesc = prometheus.NewDesc(metrics.Namespace+"_processor_lag_known",
		"1 when Redis can tell the group's lag, 0 when it cannot (the embedded Redis reports the stream length instead).", []string{"partition"}, nil)
	pendingDesc = prometheus.NewDesc(metrics.Namespace+"_processor_pending_entries",
		"Entries delivered to the consumer group but not yet acknowledged (counted).", []string{"partition"}, nil)
	streamDesc = prometheus.NewDesc(metrics.Namespace+"_processor_stream_entries",
		"Entries in the partition stream (XLEN): pending, undelivered and retained ones.", []string{"partition"}, nil)
)

// partitionCollector reads each partition's group state at scrape time.
type partitionCollector struct{ p *Processor }

func (c *partitionCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- lagDesc
	ch <- lagKnownDesc
	ch <- pendingDesc
	ch <- streamDesc
}

func (c *partitionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), ScrapeTimeout)
	defer cancel()
	for i := 0; i < c.p.schema.Partitions(); i++ {
		part := strconv.Itoa(i)
		stream := c.p.schema.Stream(i)
		if n, err := c.p.client.XLen(ctx, stream).Result(); err == nil {
			ch <- prometheus.MustNewConstMetric(streamDesc, prometheus.GaugeValue, float64(n), part)
		}
		groups, err := c.p.client.XInfoGroups(ctx, stream).Result()
		if err != nil {
			continue // Redis away or stream not created yet: no sample, not a failed scrape
		}
		for _, g := range groups {
			if g.Name != keys.Group {
				continue
			}
			ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(g.Pending), part)
			known, lag := 0.0, math.NaN()
			if lagKnown(g) {
				known, lag = 1, float64(g.Lag)
			}
			ch <- prometheus.MustNewConstMetric(lagKnownDesc, prometheus.GaugeValue, known, part)
			ch <- prometheus.MustNewConstMetric(lagDesc, prometheus.GaugeValue, lag, part)
		}
	}
}

// lagKnown reports whether g's lag is real. Redis answers a nil lag (-1)
// when it cannot tell; miniredis answers the stream length with a nil
// entries-read (0) once entries were delivered.
func lagKnown(g redis.XInfoGroup) bool {
	delivered := g.LastDeliveredID != "0-0" && g.LastDeliveredID != "0"
	return g.Lag >= 0 && (g.EntriesRead > 0 || !delivered)
}
