package suite

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/geostream/geostream/bench/internal/harness"
	"github.com/geostream/geostream/bench/internal/load"
	"github.com/geostream/geostream/streamkit/keys"
)

// Key prefixes: the throughput measures use the default; the /retrieve
// stage keeps a big store and a fresh small store per repetition side by
// side, so each pair is timed minutes apart at most.
const (
	mainPrefix  = keys.DefaultPrefix
	bigPrefix   = "gsbig"
	smallPrefix = "gssmall"
)

// fillDevices is the device count of the bodies that fill the /retrieve
// stores.
const fillDevices = 8

// deployment is an ingest-svc and a processor-svc of one key prefix.
type deployment struct {
	sc     *keys.Schema
	ingest *harness.Proc
	proc   *harness.Proc
}

func (e *env) deploy(prefix string) (*deployment, error) {
	d := &deployment{sc: e.schemaOf(prefix)}
	var err error
	if d.ingest, err = e.startIngest(prefix); err != nil {
		return nil, err
	}
	if d.proc, err = e.startProcessor(prefix); err != nil {
		d.ingest.Stop()
		return nil, err
	}
	return d, nil
}

func (d *deployment) stop() {
	d.proc.Stop()
	d.ingest.Stop()
}

// retrieveStage times GET /retrieve on a store of cfg.BigStore points and
// on a fresh store of cfg.SmallStore points, once per repetition, and
// records the pair in reps[i]. The big store is filled once, through
// ingest-svc and counted by processors like every point.
func (e *env) retrieveStage(ctx context.Context, reps []*RepResult) error {
	if err := e.redis.Client.FlushAll(ctx).Err(); err != nil {
		return fmt.Errorf("flushall: %w", err)
	}
	big, err := e.deploy(bigPrefix)
	if err != nil {
		return err
	}
	defer big.stop()
	// A second processor with large batches helps count the big store
	// quickly; it is stopped before anything is timed.
	filler, err := e.startProcessor(bigPrefix, "--batch-size", "2000", "--consumer", "bench-filler")
	if err != nil {
		return err
	}
	start := time.Now()
	err = e.fill(ctx, big.ingest, e.cfg.BigStore)
	filler.Stop()
	if err != nil {
		return err
	}
	e.logf("retrieve stage: %d points stored and counted in %v", e.cfg.BigStore, time.Since(start).Round(time.Second))
	for i, r := range reps {
		small, err := e.deploy(smallPrefix + strconv.Itoa(i+1))
		if err != nil {
			return err
		}
		err = e.fill(ctx, small.ingest, e.cfg.SmallStore)
		if err == nil {
			r.RetrieveSmall, err = e.retrieve(ctx, r, "retrieve-small", small)
		}
		small.stop()
		if err != nil {
			return err
		}
		if r.RetrieveBig, err = e.retrieve(ctx, r, "retrieve-big", big); err != nil {
			return err
		}
		e.logf("rep %d: /retrieve p50/p99 at %d points %v/%v, at %d points %v/%v", r.Rep,
			r.RetrieveSmall.CountedBefore, r.RetrieveSmall.Load.P50, r.RetrieveSmall.Load.P99,
			r.RetrieveBig.CountedBefore, r.RetrieveBig.Load.P50, r.RetrieveBig.Load.P99)
		e.logf("rep %d: no-op GET /retrieve at the same time p50/p99 %v/%v and %v/%v", r.Rep,
			r.RetrieveSmall.Floor.P50, r.RetrieveSmall.Floor.P99, r.RetrieveBig.Floor.P50, r.RetrieveBig.Floor.P99)
	}
	return nil
}

// fill posts batches until ingest-svc has stored at least target points
// (its own counter: the deployment's ingest-svc is fresh), and waits until
// they are all counted. An upload that fails (a 503 while Redis is busy
// with a long apply call) is made up for by the next round.
func (e *env) fill(ctx context.Context, ingest *harness.Proc, target int64) error {
	per := int64(e.cfg.BatchPoints)
	failed := int64(0)
	for round := 0; ; round++ {
		have, _, err := e.accepted(ctx, ingest)
		if err != nil {
			return err
		}
		need := target - have
		if need <= 0 {
			break
		}
		if round == 5 {
			return fmt.Errorf("fill to %d points: %d stored after %d rounds, %d failed uploads", target, have, round, failed)
		}
		s := load.Spec{URL: ingest.URL() + "/upload", Method: "POST", ContentType: jsonType,
			Bodies: e.fillers, Conns: 8, Duration: 10 * time.Minute}
		failed += load.Closed(ctx, s, (need+per-1)/per).Errors
	}
	if failed > 0 {
		e.logf("fill to %d points: %d uploads failed and were made up for", target, failed)
	}
	want, _, err := e.settled(ctx, ingest)
	if err != nil {
		return err
	}
	_, err = e.waitCounted(ctx, ingest, want, 10*time.Minute)
	return err
}

// retrieve times GET /retrieve at a fixed rate while batches are posted at
// a fixed rate to the same ingest-svc (and counted by its processor). The
// same loads run for the warm-up first, untimed, so that a deployment
// started for this store (the small one) is not timed cold against one
// that has run for minutes (the big one).
func (e *env) retrieve(ctx context.Context, r *RepResult, name string, d *deployment) (Retrieve, error) {
	var out Retrieve
	loads := func(dur time.Duration) (background, floor, queries load.Result) {
		var wg sync.WaitGroup
		wg.Go(func() {
			bg := load.Spec{URL: d.ingest.URL() + "/upload", Method: "POST", ContentType: jsonType,
				Bodies: e.batch, Conns: 4, Duration: dur}
			background = load.Open(ctx, bg, e.cfg.BackgroundRate)
		})
		wg.Go(func() {
			f := load.Spec{URL: e.noop.URL() + "/retrieve", Method: "GET", Conns: 16, Duration: dur}
			floor = load.Open(ctx, f, e.cfg.RetrieveRate)
		})
		q := load.Spec{URL: d.ingest.URL() + "/retrieve", Method: "GET", Conns: 16, Duration: dur}
		queries = load.Open(ctx, q, e.cfg.RetrieveRate)
		wg.Wait()
		return background, floor, queries
	}
	if e.cfg.Warmup > 0 {
		loads(e.cfg.Warmup)
	}
	var err error
	if out.CountedBefore, err = e.counted(ctx, d.ingest); err != nil {
		return out, err
	}
	err = e.measure(ctx, r, name, map[string]int{"ingest": d.ingest.Pid(), "processor": d.proc.Pid()}, func(p *phase) error {
		out.Background, out.Floor, out.Load = loads(e.cfg.Duration)
		p.points = out.Load.OK
		return nil
	})
	if err != nil {
		return out, err
	}
	if out.Load.Errors > 0 || out.Background.Errors > 0 || out.Floor.Errors > 0 {
		return out, fmt.Errorf("%s: %d failed queries, %d failed uploads, %d failed no-op queries",
			name, out.Load.Errors, out.Background.Errors, out.Floor.Errors)
	}
	out.CountedAfter, err = e.counted(ctx, d.ingest)
	return out, err
}
