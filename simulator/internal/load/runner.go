// Package load runs the simulator's load: it generates points, groups them
// into requests, paces them with a token bucket (optionally bursting),
// sends them over a pool of concurrent connections with the retrying
// client, and reports progress and a final summary.
package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/simulator/internal/gen"
	"github.com/geostream/geostream/streamkit/backoff"
	"github.com/geostream/geostream/streamkit/logx"
	"github.com/geostream/geostream/streamkit/point"
)

// Request is one upload: a batch of points in arrival order (the way a
// fleet gateway forwards fixes), its encoding in the run's protocol, and
// its Idempotency-Key.
type Request struct {
	// Seq numbers the requests of a run from 0.
	Seq int64
	// Key is the Idempotency-Key, sent on every attempt.
	Key string
	// Points are the request's points, as the server stores them; Payload
	// is their encoding.
	Points  []point.Point
	Payload client.Payload
}

// Runner runs one load. Create it with New.
type Runner struct {
	cfg      Config
	log      *slog.Logger
	gen      *gen.Generator
	client   *client.Client
	stats    *Stats
	pacer    *Pacer
	runID    string
	onResult func(*Request, client.Result)
	progress io.Writer
}

// Option customises a Runner.
type Option func(*runnerOptions)

type runnerOptions struct {
	onResult   func(*Request, client.Result)
	clientOpts []client.Option
	progress   io.Writer
	now        func() time.Time
	sleep      func(context.Context, time.Duration) error
}

// WithResult calls f with every request's result, from the sending
// goroutine; f must be safe for concurrent use. The verifier builds its
// expectations with it.
func WithResult(f func(*Request, client.Result)) Option {
	return func(o *runnerOptions) { o.onResult = f }
}

// WithClientOptions passes options to the client the runner creates.
func WithClientOptions(opts ...client.Option) Option {
	return func(o *runnerOptions) { o.clientOpts = append(o.clientOpts, opts...) }
}

// WithProgress shows progress on w: a progress bar when w is a terminal,
// log lines otherwise. Without it only log lines are written.
func WithProgress(w io.Writer) Option { return func(o *runnerOptions) { o.progress = w } }

// WithPacerClock runs the pacer on the given clock and sleep, for tests.
func WithPacerClock(now func() time.Time, sleep func(context.Context, time.Duration) error) Option {
	return func(o *runnerOptions) { o.now, o.sleep = now, sleep }
}

// New validates cfg and prepares a run.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := runnerOptions{now: time.Now, sleep: backoff.Sleep}
	for _, opt := range opts {
		opt(&o)
	}
	g, err := gen.New(cfg.Gen)
	if err != nil {
		return nil, err
	}
	r := &Runner{cfg: cfg, log: log, gen: g, onResult: o.onResult, progress: o.progress}
	r.stats = NewStats(time.Now)
	copts := append([]client.Option{client.WithObserver(r.stats.Observe)}, o.clientOpts...)
	if r.client, err = client.New(cfg.Client, copts...); err != nil {
		return nil, err
	}
	r.pacer = NewPacer(cfg.Rate, cfg.Batch, cfg.Burst, o.now, o.sleep)
	var id [8]byte
	rand.Read(id[:])
	r.runID = hex.EncodeToString(id[:])
	return r, nil
}

// Client returns the runner's client, to query the API with the same
// settings.
func (r *Runner) Client() *client.Client { return r.client }

// DeviceIDs returns the ids of the simulated devices.
func (r *Runner) DeviceIDs() []string { return r.gen.DeviceIDs() }

// RunID returns the random id of this run; every Idempotency-Key starts
// with it, so keys never repeat across runs.
func (r *Runner) RunID() string { return r.runID }

// Run sends the load until Count points, Duration, or ctx is done, then
// waits for the requests in flight (cancelling them Drain after ctx is
// done) and returns the summary. It returns an error only when the run
// could not work at all.
func (r *Runner) Run(ctx context.Context) (Summary, error) {
	// Requests in flight outlive an interrupt by the drain time, so that
	// a Ctrl-C does not turn answered requests into losses.
	sendCtx, cancelSend := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSend()
	stopDrain := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(r.cfg.Drain, cancelSend)
		context.AfterFunc(sendCtx, func() { t.Stop() })
	})
	defer stopDrain()

	genCtx, cancelGen := ctx, context.CancelFunc(func() {})
	if r.cfg.Duration > 0 {
		genCtx, cancelGen = context.WithTimeout(ctx, r.cfg.Duration)
	}
	defer cancelGen()

	queue := make(chan *Request, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for range r.cfg.Concurrency {
		wg.Go(func() {
			for req := range queue {
				res := r.client.Send(sendCtx, req.Key, req.Payload)
				r.stats.Done(len(req.Points), res)
				if r.onResult != nil {
					r.onResult(req, res)
				}
			}
		})
	}

	stopProgress := r.startProgress()
	r.produce(ctx, genCtx, queue)
	close(queue)
	wg.Wait()
	snap := r.stats.Snapshot()
	stopProgress(snap)
	return r.summary(snap, ctx.Err() != nil), nil
}

// produce generates points into requests and queues them until a bound is
// reached or ctx is done.
func (r *Runner) produce(ctx, genCtx context.Context, queue chan<- *Request) {
	var seq, produced int64
	emit := func(ctx context.Context, pts []point.Point) bool {
		if r.pacer.Wait(ctx, len(pts)) != nil {
			return false
		}
		req := &Request{Seq: seq, Key: r.runID + "-" + strconv.FormatInt(seq, 10), Points: pts}
		r.cfg.Protocol.Prepare(pts)
		var err error
		if req.Payload, err = client.EncodePayload(r.cfg.Protocol, r.cfg.Format, pts); err != nil {
			r.log.Error("encode request", "err", err) // not reached: Validate keeps the batch to what the protocol carries
			return false
		}
		select {
		case queue <- req:
		case <-ctx.Done():
			return false
		}
		seq++
		r.stats.Sent(len(pts))
		return true
	}
	batch := make([]point.Point, 0, r.cfg.Batch)
	for r.cfg.Count == 0 || produced < r.cfg.Count {
		if genCtx.Err() != nil {
			break
		}
		batch = append(batch, r.gen.Next())
		produced++
		if len(batch) == r.cfg.Batch {
			if !emit(genCtx, batch) {
				batch = batch[:0]
				break
			}
			batch = make([]point.Point, 0, r.cfg.Batch)
		}
	}
	// The last, partial batch of a bounded run is sent; an interrupted run
	// sends nothing more.
	if len(batch) > 0 && ctx.Err() == nil {
		emit(ctx, batch)
	}
}

// startProgress starts the progress reporter and returns the function that
// stops it with the final state.
func (r *Runner) startProgress() func(Snapshot) {
	var rep reporter = &logReporter{log: r.log, every: r.cfg.ProgressInterval}
	if r.progress != nil && logx.IsTerminal(r.progress) {
		rep = newBarReporter(r.progress, r.cfg.Count)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(rep.interval())
		defer t.Stop()
		for {
			select {
			case <-t.C:
				rep.update(r.stats.Snapshot())
			case <-done:
				return
			}
		}
	}()
	return func(s Snapshot) {
		close(done)
		<-stopped
		rep.finish(s)
	}
}
