package suite

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/bench/internal/harness"
	"github.com/geostream/geostream/streamkit/keys"
)

// steadyPrefix is the key prefix of the steady phase's deployment.
const steadyPrefix = "gssteady"

// SteadyResult is the steady phase: the simulator sends cfg.SteadyRate
// points/s with an Idempotency-Key per request to a fresh ingest-svc (a
// short marker TTL) while a processor counts them.
type SteadyResult struct {
	Sim SimSummary `json:"simulator"`
	// Points were counted by the processor; Accepted and Uploads are what
	// ingest-svc stored (its counters; a replay counts again).
	Points   int64      `json:"points"`
	Accepted int64      `json:"points_accepted"`
	Uploads  int64      `json:"uploads_accepted"`
	Idem     IdemMemory `json:"idempotency_memory"`
	// MarkerHSets bounds the HSETs of Idempotency-Key markers (one a
	// keyed upload and partition it touches): uploads × min(batch,
	// partitions).
	MarkerHSets int64 `json:"marker_hsets_at_most"`
}

// SimSummary is the part of `simulator run --json`'s summary the
// benchmark reads.
type SimSummary struct {
	ElapsedSeconds float64 `json:"elapsed_seconds"`
	Requests       struct {
		Sent, Acked, Rejected, Lost int64
	} `json:"requests"`
	Points struct {
		Sent, Acked, Rejected, Lost int64
	} `json:"points"`
	AckedPerSecond float64 `json:"acked_points_per_second"`
	Retries        int64   `json:"retries"`
	Replayed       int64   `json:"replayed"`
	LatencyMs      struct {
		P50, P99, Max float64
	} `json:"latency_ms"`
}

// steady runs the steady phase: a fresh ingest-svc with --idempotency-ttl
// cfg.IdemTTL and a processor on their own key prefix, the simulator for
// cfg.SteadyDuration, then a wait until the markers have expired. Redis's
// memory net of the streams is sampled throughout (see IdemMemory).
func (e *env) steady(ctx context.Context, r *RepResult) error {
	// On an empty Redis: the earlier phases' keys with a TTL (the minute
	// buckets of 40 minutes of event time) would change how many expired
	// markers Redis's active expiry leaves for later (it stops sampling once
	// under 10 % of what it samples has expired).
	if err := e.redis.Client.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("flushall: %w", err)
	}
	sc := e.schemaOf(steadyPrefix)
	ingest, err := e.startIngest(steadyPrefix, "--idempotency-ttl", e.cfg.IdemTTL.String())
	if err != nil {
		return err
	}
	defer ingest.Stop()
	// Trimming every 250 ms keeps the streams short, so that their
	// sawtooth does not blur the memory samples (their own memory is
	// subtracted, but the allocator's slack on it is not).
	// No tracks: they grow by design and would hide whether the markers'
	// memory is flat (their cost: BenchmarkApplySumsTracks).
	proc, err := e.startProcessor(steadyPrefix, "--trim-interval", "250ms", "--track-retention", "0")
	if err != nil {
		return err
	}
	defer proc.Stop()

	out := &r.Steady
	mem := &memSampler{e: e, sc: sc}
	ttl, dur := e.cfg.IdemTTL, e.cfg.SteadyDuration
	var loadEnd time.Duration
	err = e.measure(ctx, r, "steady", map[string]int{"ingest": ingest.Pid(), "processor": proc.Pid()}, func(p *phase) error {
		a0, u0, err := e.accepted(ctx, ingest)
		if err != nil {
			return err
		}
		c0, err := e.countedRedis(ctx, sc)
		if err != nil {
			return err
		}
		mem.start(ctx, p)
		// Markers live by time slice (streamkit/scripts/markers.lua): at
		// the load's end the keys remembered are the uploads since the
		// previous slice began, read off these samples afterwards.
		ups := sampleUploads(ctx, e, ingest)
		defer ups.stop()
		stdout, err := harness.Output(ctx, dur+2*time.Minute, e.bin("simulator"), e.simulatorArgs(ingest)...)
		loadEnd = mem.since()
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(stdout), &out.Sim); err != nil {
			return fmt.Errorf("simulator summary: %w\n%s", err, stdout)
		}
		a1, u1, err := e.settled(ctx, ingest)
		if err != nil {
			return err
		}
		end := time.Now()
		uMid, ok := ups.at(prevSliceStart(end, ttl))
		if !ok {
			return fmt.Errorf("steady: no sample of ingest-svc's uploads at the start of the slice before the end (duration %v < 2 × TTL %v?)", dur, ttl)
		}
		out.Accepted, out.Uploads = a1-a0, u1-u0
		out.MarkerHSets = out.Uploads * int64(min(e.cfg.SteadyBatch, sc.Partitions()))
		out.Idem.KeysRemembered = u1 - uMid
		if out.Idem.Markers, err = e.markers(ctx, sc); err != nil {
			return err
		}
		// A replayed upload counts in ingest-svc's counter again but is
		// stored once.
		want := c0 + out.Accepted - out.Sim.Replayed*int64(e.cfg.SteadyBatch)
		n, _, err := e.waitStable(ctx, sc, want, 2*time.Minute)
		out.Points = n - c0
		p.points = out.Points
		return err
	})
	if err != nil {
		mem.stop()
		return err
	}
	mem.detach()
	// The last slice's hashes expire a slice after it ends; the wait
	// leaves room for Redis's active expiry.
	time.Sleep(time.Until(prevSliceStart(time.Now(), ttl).Add(3*ttl + max(2*time.Second, ttl/2))))
	samples := mem.stop()
	out.Idem.TTL = ttl
	out.Idem.analyze(samples, loadEnd.Seconds(), float64(out.Uploads)/loadEnd.Seconds())
	r.noteProcessorRSS("steady", proc)
	if rss, err := ingest.PeakRSS(); err == nil {
		r.IngestRSS = max(r.IngestRSS, rss)
	}
	e.logf("rep %d: steady: %.0f points/s acked by the simulator (%d points, %d uploads, %d replayed, %d lost); "+
		"markers %.1f bytes/key over %d keys (%.1f bytes a marker, %d markers), growth %.1f → %.1f bytes/upload before → after the TTL",
		r.Rep, out.Sim.AckedPerSecond, out.Points, out.Uploads, out.Sim.Replayed, out.Sim.Points.Lost,
		out.Idem.BytesPerKey, out.Idem.KeysRemembered, out.Idem.BytesPerMarker, out.Idem.Markers, out.Idem.GrowthBefore, out.Idem.GrowthAfter)
	return nil
}

// simulatorArgs are the steady load's: the simulator's defaults (tracks,
// an Idempotency-Key per request, 4 requests in flight) at the configured
// rate, devices and batch. Its event time starts at the last full minute
// five minutes ago and keeps pace with the wall clock, so that the phase
// (at most 55 s) creates no new minute bucket after its first second and
// the aggregates' memory stays flat: what grows is the markers'.
func (e *env) simulatorArgs(ingest *harness.Proc) []string {
	start := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	return []string{"run",
		"--target", ingest.URL(),
		"--rate", strconv.FormatFloat(e.cfg.SteadyRate, 'f', -1, 64),
		"--devices", strconv.Itoa(e.cfg.SteadyDevices),
		"--batch", strconv.Itoa(e.cfg.SteadyBatch),
		"--duration", e.cfg.SteadyDuration.String(),
		"--start-time", start.Format(time.RFC3339),
		"--json", "--log-level", "warn", "--progress-interval", "1h",
	}
}

// memSampler samples Redis's used_memory, its buffers and the memory of a
// deployment's streams every 200 ms. Before each sample it empties the slow log (into
// the phase's longest call while attached to one), whose entries would
// otherwise count in used_memory.
type memSampler struct {
	e      *env
	sc     *keys.Schema
	origin time.Time
	mu     sync.Mutex
	ph     *phase
	out    []memSample
	halt   func() // every's stop; nil when not sampling
}

// memSample is one sample: seconds since the load started, used_memory,
// the clients' and AOF buffers, and the streams' MEMORY USAGE.
type memSample struct {
	T       float64 `json:"t_s"`
	Used    int64   `json:"used_memory"`
	Buffers int64   `json:"buffers"`
	Streams int64   `json:"streams"`
}

// net is the sample's memory of what stays: neither the streams nor
// buffers.
func (s memSample) net() float64 { return float64(s.Used - s.Buffers - s.Streams) }

func (m *memSampler) start(ctx context.Context, p *phase) {
	m.origin, m.ph = time.Now(), p
	m.halt = every(200*time.Millisecond, func() {
		m.mu.Lock()
		p := m.ph
		m.mu.Unlock()
		if p != nil {
			p.takeSlowlog(ctx)
		} else {
			_, _ = m.e.redis.TakeSlowlog(ctx)
		}
		mem, err1 := m.e.redis.Memory(ctx)
		streams, err2 := m.e.streamBytes(ctx, m.sc)
		if err1 == nil && err2 == nil {
			m.mu.Lock()
			m.out = append(m.out, memSample{T: round3f(m.since().Seconds()), Used: mem.Used, Buffers: mem.Buffers, Streams: streams})
			m.mu.Unlock()
		}
	})
}

func (m *memSampler) since() time.Duration { return time.Since(m.origin) }

// detach stops feeding the phase's slow log (its measure has ended).
func (m *memSampler) detach() {
	m.mu.Lock()
	m.ph = nil
	m.mu.Unlock()
}

// stop ends the sampling and returns the samples.
func (m *memSampler) stop() []memSample {
	if m.halt == nil {
		return nil
	}
	m.halt()
	m.halt = nil
	return m.out
}

// markers returns how many Idempotency-Key markers the deployment of sc
// holds: the fields of its marker hashes (streamkit/scripts/markers.lua),
// read with a pipelined HLEN per SCAN page so as to cost the phase little.
func (e *env) markers(ctx context.Context, sc *keys.Schema) (int64, error) {
	rdb := e.redis.Client
	var n int64
	var cursor uint64
	for {
		page, next, err := rdb.Scan(ctx, cursor, sc.Prefix()+":{*}:markers:*", 1000).Result()
		if err != nil {
			return 0, fmt.Errorf("scan markers: %w", err)
		}
		pipe := rdb.Pipeline()
		lens := make([]*redis.IntCmd, len(page))
		for i, k := range page {
			lens[i] = pipe.HLen(ctx, k)
		}
		if len(page) > 0 {
			if _, err := pipe.Exec(ctx); err != nil {
				return 0, fmt.Errorf("hlen markers: %w", err)
			}
		}
		for _, l := range lens {
			n += l.Val()
		}
		if cursor = next; cursor == 0 {
			return n, nil
		}
	}
}
