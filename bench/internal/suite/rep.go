package suite

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/geostream/geostream/bench/internal/ceiling"
	"github.com/geostream/geostream/bench/internal/harness"
	"github.com/geostream/geostream/bench/internal/load"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
)

// hsetKeys is how many hashes the HSET ceiling writes to: the hashes of
// the steady phase's fleet (500 devices, four each) several times over,
// and at most a fifth of the HSETs, so that most find their hash.
const hsetKeys = 10_000

// RepResult is everything one repetition measured. Points are counted
// from ingest-svc's counter of stored points and from the partition totals
// the processors keep, never from the streams' entries: an entry may hold
// several points.
type RepResult struct {
	Rep int `json:"rep"`
	// Ceilings.
	Noop     load.Result `json:"noop"`
	XAddOps  float64     `json:"xadd_ops_per_s"`
	RawDrain float64     `json:"raw_drain_entries_per_s"`
	// XAddMaxMs is redis-benchmark's largest XADD latency (-P 64); XAdd1
	// is the same XADD unpipelined (phase xadd1).
	XAddMaxMs float64        `json:"xadd_max_latency_ms"`
	XAdd1     ceiling.Result `json:"xadd_unpipelined"`
	// HSet is redis-benchmark's HSET -P 64 of a device bucket's hash
	// (phase hset): the unit of the steady phase's floor.
	HSet ceiling.Result `json:"hset"`
	// PackedBytesPerPoint is the packed segments of the 500-point bodies
	// alone (point.AppendSegment), before Redis's stream overhead.
	PackedBytesPerPoint float64 `json:"packed_bytes_per_point"`
	// geostream.
	Single      load.Result `json:"single"`
	Batch       load.Result `json:"batch_ingest_only"`
	BatchPoints float64     `json:"batch_points_per_s"`
	Drain       float64     `json:"drain_points_per_s"`
	DrainPoints int64       `json:"drain_points"`
	// BytesPerPoint is the streams' MEMORY USAGE after the drain (nothing
	// trimmed) ÷ the points they hold, StreamPoints, counted by the
	// processor into the totals; StreamAccepted is what ingest-svc stored.
	BytesPerPoint  float64   `json:"redis_bytes_per_point"`
	StreamBytes    int64     `json:"stream_bytes"`
	StreamPoints   int64     `json:"stream_points"`
	StreamAccepted int64     `json:"stream_points_accepted"`
	StreamEntries  int64     `json:"stream_entries"` // XLEN: points per entry, for the record
	E2E            E2EResult `json:"e2e"`
	// SingleE2E is the single-point load with a processor running, until
	// every point is counted.
	SingleE2E E2EResult    `json:"single_e2e"`
	Steady    SteadyResult `json:"steady"`
	// RetrieveSmall and RetrieveBig are timed in the /retrieve stage,
	// after every repetition's throughput measures (the n-th pair here).
	RetrieveSmall Retrieve `json:"retrieve_small"`
	RetrieveBig   Retrieve `json:"retrieve_big"`
	// Replicas are the loads of the replicas stage (replicas.go), by phase.
	Replicas     map[string]load.Result `json:"replicas,omitempty"`
	IngestRSS    int64                  `json:"ingest_peak_rss_bytes"`
	ProcessorRSS int64                  `json:"processor_peak_rss_bytes"`
	// ProcessorRSSBy is the peak RSS of the processor of each phase that
	// starts one (drain, e2e, steady); ProcessorRSS is their maximum.
	ProcessorRSSBy map[string]int64 `json:"processor_peak_rss_by_phase,omitempty"`
	// Phases records the CPU and Redis command time of each phase.
	Phases map[string]phaseStats `json:"phases"`
}

// E2EResult is an end-to-end phase: uploads posted as fast as ingest
// takes them while a processor counts them.
type E2EResult struct {
	Load       load.Result   `json:"load"`
	Points     int64         `json:"points"`
	PointsPS   float64       `json:"points_per_s"`          // from first POST to all counted
	IngestPS   float64       `json:"ingest_points_per_s"`   // acknowledged, during the load
	DrainAfter time.Duration `json:"drain_after_load_ns"`   // end of load → all counted
	MaxBacklog int64         `json:"max_backlog_points"`    // stored − counted, sampled every 250 ms
	MaxLag     time.Duration `json:"max_lag_estimate_ns"`   // MaxBacklog at the ingest rate
	Samples    int           `json:"backlog_samples_taken"` // of MaxBacklog
}

// Retrieve is GET /retrieve timed at a fixed rate under a fixed ingest
// load, with the points counted before and after.
type Retrieve struct {
	CountedBefore int64       `json:"counted_before"`
	CountedAfter  int64       `json:"counted_after"`
	Load          load.Result `json:"load"`
	Background    load.Result `json:"background_ingest"`
	// Floor is the no-op server's GET /retrieve (a canned answer) timed by
	// a second generator at the same rate, at the same time: what this
	// machine, the generator and the background load allow a handler that
	// does nothing.
	Floor load.Result `json:"floor_noop"`
}

// rep runs one repetition of the throughput measures. Redis is emptied
// first; ingest-svc is started fresh so that its peak RSS is this
// repetition's. (/retrieve is timed in a stage of its own, see retrieve.go.)
func (e *env) rep(ctx context.Context, n int) (*RepResult, error) {
	r := &RepResult{Rep: n, Phases: map[string]phaseStats{}}
	if err := e.redis.Client.FlushAll(ctx).Err(); err != nil {
		return nil, fmt.Errorf("flushall: %w", err)
	}
	sc := e.schemaOf(mainPrefix)
	ingest, err := e.startIngest(mainPrefix)
	if err != nil {
		return nil, err
	}
	defer ingest.Stop()

	single := func(url string) load.Spec {
		return load.Spec{URL: url + "/upload", Method: "POST", ContentType: jsonType, Bodies: e.single, Conns: e.cfg.Conns, Duration: e.cfg.Duration}
	}
	batch := load.Spec{URL: ingest.URL() + "/upload", Method: "POST", ContentType: jsonType, Bodies: e.batch, Conns: e.cfg.BatchConns, Duration: e.cfg.Duration}

	// (a) The no-op gin ceiling and single-point POST /upload, same load.
	if err := e.warm(ctx, single(e.noop.URL())); err != nil {
		return nil, err
	}
	err = e.measure(ctx, r, "noop", map[string]int{"noop": e.noop.Pid()}, func(p *phase) (err error) {
		r.Noop, err = e.load(ctx, single(e.noop.URL()))
		p.points = r.Noop.OK
		return err
	})
	if err != nil {
		return nil, err
	}
	e.logf("rep %d: no-op gin ceiling %.0f req/s (p50 %v, p99 %v)", n, r.Noop.Rate(), r.Noop.P50, r.Noop.P99)
	if err := e.warm(ctx, single(ingest.URL())); err != nil {
		return nil, err
	}
	err = e.measure(ctx, r, "single", map[string]int{"ingest": ingest.Pid()}, func(p *phase) (err error) {
		r.Single, err = e.load(ctx, single(ingest.URL()))
		p.points = r.Single.OK
		return err
	})
	if err != nil {
		return nil, err
	}
	e.logf("rep %d: single-point POST %.0f req/s (p50 %v, p99 %v, %d errors)", n, r.Single.Rate(), r.Single.P50, r.Single.P99, r.Single.Errors)

	// (b) redis-benchmark XADD -P 64, then unpipelined (a bound).
	err = e.measure(ctx, r, "xadd", nil, func(p *phase) error {
		x, err := ceiling.XAdd(ctx, e.redis.Client, e.redis.Port(), e.cfg.XAddN, 64)
		r.XAddOps, r.XAddMaxMs = x.OpsPS, x.MaxLatencyMs
		p.points = int64(e.cfg.XAddN)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.logf("rep %d: redis-benchmark XADD -P 64: %.0f ops/s (max latency %.2f ms)", n, r.XAddOps, r.XAddMaxMs)
	err = e.measure(ctx, r, "xadd1", nil, func(p *phase) (err error) {
		r.XAdd1, err = ceiling.XAdd(ctx, e.redis.Client, e.redis.Port(), e.cfg.XAddN/5, 1)
		p.points = int64(e.cfg.XAddN / 5)
		return err
	})
	if err != nil {
		return nil, err
	}
	e.logf("rep %d: redis-benchmark XADD unpipelined: %.0f ops/s", n, r.XAdd1.OpsPS)
	err = e.measure(ctx, r, "hset", nil, func(p *phase) (err error) {
		r.HSet, err = ceiling.HSet(ctx, e.redis.Port(), e.cfg.XAddN/4, hsetKeys)
		p.points = int64(e.cfg.XAddN / 4)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := ceiling.DeleteMatching(ctx, e.redis.Client, ceiling.HSetPrefix+"*"); err != nil {
		return nil, err
	}
	e.logf("rep %d: redis-benchmark HSET of a device hash -P 64: %.0f ops/s", n, r.HSet.OpsPS)
	r.PackedBytesPerPoint = packedBytesPerPoint(e.batch, sc)

	// 500-point batches, no processor: points acknowledged per second. The
	// streams fill up: that is the backlog drained below.
	if err := e.warm(ctx, batch); err != nil {
		return nil, err
	}
	err = e.measure(ctx, r, "batch", map[string]int{"ingest": ingest.Pid()}, func(p *phase) error {
		a0, _, err := e.settled(ctx, ingest)
		if err != nil {
			return err
		}
		if r.Batch, err = e.load(ctx, batch); err != nil {
			return err
		}
		a1, _, err := e.settled(ctx, ingest)
		p.points = a1 - a0
		return err
	})
	if err != nil {
		return nil, err
	}
	r.BatchPoints = r.Batch.Rate() * float64(e.cfg.BatchPoints)
	e.logf("rep %d: 500-point batches, ingest only: %.0f points/s (%d errors)", n, r.BatchPoints, r.Batch.Errors)

	// Every point ingest-svc stored since the FLUSHALL is in the streams.
	backlog, _, err := e.settled(ctx, ingest)
	if err != nil {
		return nil, err
	}
	// (c) The raw drain ceiling, over the same entries with its own group.
	var rawEntries int64
	err = e.measure(ctx, r, "rawdrain", map[string]int{"bench": os.Getpid()}, func(p *phase) (err error) {
		rawEntries, r.RawDrain, err = ceiling.RawDrain(ctx, e.redis.Client, streams(sc), 500)
		p.points = rawEntries
		return err
	})
	if err != nil {
		return nil, err
	}
	e.logf("rep %d: raw XREADGROUP+XACK drain of %d entries (%d points): %.0f entries/s", n, rawEntries, backlog, r.RawDrain)

	// The processor drains the backlog; it keeps the raw points (retention)
	// so that their memory can be measured afterwards.
	if err := e.drain(ctx, r, sc, backlog); err != nil {
		return nil, err
	}

	// End to end, on an empty store: 500-point batches, then single points.
	if err := e.redis.Client.FlushAll(ctx).Err(); err != nil {
		return nil, fmt.Errorf("flushall: %w", err)
	}
	proc, err := e.startProcessor(mainPrefix)
	if err != nil {
		return nil, err
	}
	defer proc.Stop()
	if r.E2E, err = e.endToEnd(ctx, r, "e2e", sc, ingest, proc, batch, e.cfg.BatchPoints); err != nil {
		return nil, err
	}
	e.logf("rep %d: end to end %.0f points/s (ingest %.0f/s, max backlog %d points, all counted %v after the load)",
		n, r.E2E.PointsPS, r.E2E.IngestPS, r.E2E.MaxBacklog, r.E2E.DrainAfter.Round(time.Millisecond))
	if r.SingleE2E, err = e.endToEnd(ctx, r, "single-e2e", sc, ingest, proc, single(ingest.URL()), 1); err != nil {
		return nil, err
	}
	e.logf("rep %d: end to end, single points: %.0f points/s (ingest %.0f/s, all counted %v after the load)",
		n, r.SingleE2E.PointsPS, r.SingleE2E.IngestPS, r.SingleE2E.DrainAfter.Round(time.Millisecond))

	r.noteProcessorRSS("e2e", proc)
	proc.Stop()
	if r.IngestRSS, err = ingest.PeakRSS(); err != nil {
		return nil, err
	}
	ingest.Stop()

	// A steady keyed load from the simulator, on a fresh deployment.
	if err := e.steady(ctx, r); err != nil {
		return nil, err
	}
	e.logf("rep %d: peak RSS ingest-svc %.1f MB, processor-svc %.1f MB (drain %.1f, e2e %.1f, steady %.1f)", n, mb(r.IngestRSS), mb(r.ProcessorRSS),
		mb(r.ProcessorRSSBy["drain"]), mb(r.ProcessorRSSBy["e2e"]), mb(r.ProcessorRSSBy["steady"]))
	e.logSlowest(r)
	return r, nil
}

// drain starts a processor on a backlog of want stored points and times it
// from the first point counted to the last, or for at most three load
// durations (a rate, not a full drain, is the figure). It then lets the
// processor count the rest: the processor keeps the raw points (a
// retention of an hour), so the streams' memory per point is measured on
// every point stored, counted by the processor.
func (e *env) drain(ctx context.Context, r *RepResult, sc *keys.Schema, want int64) error {
	var proc *harness.Proc
	defer func() {
		if proc != nil {
			r.noteProcessorRSS("drain", proc)
			proc.Stop()
		}
	}()
	err := e.measure(ctx, r, "drain", nil, func(p *phase) error {
		var err error
		started := time.Now()
		if proc, err = e.startProcessor(mainPrefix, "--retention", "1h"); err != nil {
			return err
		}
		p.attach("processor", proc.Pid())
		// From the first count seen, so that start-up is not included.
		var first time.Time
		var firstN int64
		deadline := time.Now().Add(3 * e.cfg.Duration)
		for {
			n, err := e.countedRedis(ctx, sc)
			if err != nil {
				return err
			}
			now := time.Now()
			if n > 0 && first.IsZero() {
				first, firstN = now, n
				deadline = now.Add(3 * e.cfg.Duration)
			}
			if n >= want || (now.After(deadline) && n > firstN) {
				if n == firstN { // all counted before the first look
					first, firstN = started, 0
				}
				r.DrainPoints = n - firstN
				r.Drain = float64(n-firstN) / now.Sub(first).Seconds()
				p.points = r.DrainPoints
				return nil
			}
			if now.After(deadline.Add(time.Minute)) {
				return fmt.Errorf("drain: %d of %d points counted", n, want)
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	})
	if err != nil {
		return err
	}
	e.logf("rep %d: processor drain: %d of %d points counted at %.0f points/s", r.Rep, r.DrainPoints, want, r.Drain)
	counted, _, err := e.waitStable(ctx, sc, want, 5*time.Minute)
	if err != nil {
		return err
	}
	if r.StreamBytes, err = e.streamBytes(ctx, sc); err != nil {
		return err
	}
	if r.StreamEntries, err = e.streamEntries(ctx, sc); err != nil {
		return err
	}
	r.StreamPoints, r.StreamAccepted = counted, want
	r.BytesPerPoint = float64(r.StreamBytes) / float64(max(counted, 1))
	e.logf("rep %d: Redis stream memory %.1f bytes/point over %d points in %d entries (ingest-svc stored %d)",
		r.Rep, r.BytesPerPoint, counted, r.StreamEntries, want)
	return nil
}

// logSlowest logs the longest Redis call of each phase so far.
func (e *env) logSlowest(r *RepResult) {
	var b strings.Builder
	for _, name := range slices.Sorted(maps.Keys(r.Phases)) {
		if c := r.Phases[name].Slowest; c.Command != "" {
			fmt.Fprintf(&b, "\n    %-14s %8.2f ms  %s (%d calls ≥ %v)", name, float64(c.Micros)/1000, c.Command, c.Logged, harness.SlowlogThreshold)
		}
	}
	e.logf("rep %d: longest Redis call of each phase:%s", r.Rep, b.String())
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

// packedBytesPerPoint is the size of bodies' points as packed segments ÷
// their points: one segment a body and partition of sc, as ingest-svc
// splits a request and append.lua stores it. NaN when a body does not
// decode.
func packedBytesPerPoint(bodies [][]byte, sc *keys.Schema) float64 {
	var size, n int
	parts := make([][]point.Point, sc.Partitions())
	for _, b := range bodies {
		pts, err := point.DecodeBytes(b, point.BodyJSON, point.DecodeOptions{})
		if err != nil || len(pts) == 0 {
			return math.NaN()
		}
		for i := range parts {
			parts[i] = parts[i][:0]
		}
		for _, p := range pts {
			i := sc.PartitionOf(p.DeviceID)
			parts[i] = append(parts[i], p)
		}
		for _, seg := range parts {
			if len(seg) > 0 {
				size += len(point.AppendSegment(nil, seg))
			}
		}
		n += len(pts)
	}
	return float64(size) / float64(max(n, 1))
}

// noteProcessorRSS records the peak RSS of phase's processor.
func (r *RepResult) noteProcessorRSS(phase string, proc *harness.Proc) {
	rss, err := proc.PeakRSS()
	if err != nil {
		return
	}
	if r.ProcessorRSSBy == nil {
		r.ProcessorRSSBy = map[string]int64{}
	}
	r.ProcessorRSSBy[phase] = rss
	r.ProcessorRSS = max(r.ProcessorRSS, rss)
}
