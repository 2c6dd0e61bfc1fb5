// Package processor is processor-svc's core: the consumer-group worker that
// counts every point of the partition streams into the aggregates exactly
// once (docs/architecture.md#guarantees).
//
// A Processor runs one goroutine per partition stream (on Redis Cluster the
// streams live in different slots, so one XREADGROUP cannot read them all).
// Each goroutine first re-reads the entries still pending under its own
// consumer name (delivered before a crash but never applied), then reads new
// entries and applies each batch with the exactly-once Lua script
// (streamkit/scripts/apply.lua), and every ClaimInterval claims the entries
// dead consumers left pending. One more goroutine trims acknowledged entries
// from every stream, and one logs progress.
package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/scripts"
	"github.com/geostream/geostream/streamkit/window"
)

// Processor counts stream entries into aggregates. Create it with New.
type Processor struct {
	cfg    Config
	client redis.UniversalClient
	schema *keys.Schema
	wins   window.Set
	log    *slog.Logger
	now    func() time.Time // event-time clock for bucket expiry; time.Now

	applied, duplicates, claimed, undecodable, trimmed, calls, conflicts, consumersRemoved atomic.Int64
	batchDuration                                                                          prometheus.Histogram
}

// Stats are a Processor's running totals since New.
type Stats struct {
	Applied     int64 // entries counted into the aggregates
	Duplicates  int64 // entries delivered again but already counted (skipped)
	Claimed     int64 // entries claimed from other consumers by XAUTOCLAIM
	Undecodable int64 // entries acknowledged without counting: not a point
	Trimmed     int64 // entries trimmed from the streams
	// ConsumersRemoved counts the names of other consumers removed from
	// the group: idle for ConsumerExpiry and owning no pending entry.
	ConsumersRemoved int64
}

// New returns a Processor of the partitions of schema using client. It uses
// the processing settings of cfg (consumer, batch, claim, trim, shutdown
// grace), filling zero values with their defaults; the partition count is
// the schema's.
func New(cfg Config, client redis.UniversalClient, schema *keys.Schema, log *slog.Logger) (*Processor, error) {
	cfg.SetDefaults()
	if err := cfg.validateProcessing(); err != nil {
		return nil, err
	}
	if cfg.ShutdownGrace < 0 {
		return nil, fmt.Errorf("shutdown-grace must be positive, got %v", cfg.ShutdownGrace)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	wins, err := cfg.Windows()
	if err != nil {
		return nil, err
	}
	return &Processor{cfg: cfg, client: client, schema: schema, wins: wins, log: log, now: time.Now,
		batchDuration: newBatchDuration()}, nil
}

// Stats returns the running totals.
func (p *Processor) Stats() Stats {
	return Stats{
		Applied:     p.applied.Load(),
		Duplicates:  p.duplicates.Load(),
		Claimed:     p.claimed.Load(),
		Undecodable: p.undecodable.Load(),
		Trimmed:     p.trimmed.Load(),

		ConsumersRemoved: p.consumersRemoved.Load(),
	}
}

// CreateGroups creates the consumer group keys.Group on every partition
// stream (creating empty streams), starting at ID 0 so that points appended
// before any processor existed are counted. An existing group is kept as it
// is.
func (p *Processor) CreateGroups(ctx context.Context) error {
	for i := range p.schema.Partitions() {
		if err := p.createGroup(ctx, p.schema.Stream(i)); err != nil {
			return err
		}
	}
	return nil
}

func (p *Processor) createGroup(ctx context.Context, stream string) error {
	err := p.client.XGroupCreateMkStream(ctx, stream, keys.Group, "0").Err()
	if err != nil && !redis.HasErrorPrefix(err, "BUSYGROUP") {
		return fmt.Errorf("xgroup create %s %s: %w", stream, keys.Group, err)
	}
	return nil
}

// fillGeoIndexes fills the geo index of every partition that has none
// yet from its device hashes (scripts.FillGeoIndex): after an upgrade from
// a version without it. Best effort: a failure is logged, and the apply
// scripts still index every device that sends a point.
func (p *Processor) fillGeoIndexes(ctx context.Context) {
	for i := range p.schema.Partitions() {
		n, err := scripts.FillGeoIndex(ctx, p.client, p.schema, i)
		if err != nil {
			p.log.Warn("fill geo index", "partition", i, "err", err)
		} else if n > 0 {
			p.log.Info("filled geo index", "partition", i, "devices", n)
		}
	}
}

// Run processes every partition until ctx is done, then finishes: each
// partition completes the read in progress (at most Block), applies and
// acknowledges what it read, and stops. It returns nil after such a clean
// shutdown, and an error when the groups cannot be created or a batch could
// not be applied within ShutdownGrace after ctx was done (its entries stay
// pending and are counted after a restart or by another processor).
func (p *Processor) Run(ctx context.Context) error {
	if err := p.CreateGroups(ctx); err != nil {
		return err
	}
	p.fillGeoIndexes(ctx)
	// finish is the context of work that must complete after shutdown has
	// begun (the last read and its apply): it ends ShutdownGrace after ctx.
	finish, cancelFinish := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelFinish()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(p.cfg.ShutdownGrace, cancelFinish) })
	defer stopGrace()

	p.log.Info("processing", "partitions", p.schema.Partitions(), "group", keys.Group, "consumer", p.cfg.Consumer)
	var wg sync.WaitGroup
	errs := make([]error, p.schema.Partitions())
	for i := range p.schema.Partitions() {
		w := p.newPartition(i)
		wg.Go(func() { errs[i] = w.run(ctx, finish) })
	}
	wg.Go(func() { p.trimLoop(ctx) })
	wg.Go(func() { p.statsLoop(ctx) })
	wg.Wait()
	s := p.Stats()
	p.log.Info("stopped", "applied", s.Applied, "duplicates", s.Duplicates, "claimed", s.Claimed,
		"undecodable", s.Undecodable, "trimmed", s.Trimmed)
	return errors.Join(errs...)
}

// statsLoop logs the running totals and what changed every StatsInterval.
func (p *Processor) statsLoop(ctx context.Context) {
	t := time.NewTicker(p.cfg.StatsInterval)
	defer t.Stop()
	var prev Stats
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s := p.Stats()
		p.log.Info("progress",
			"applied", s.Applied-prev.Applied, "duplicates", s.Duplicates-prev.Duplicates,
			"claimed", s.Claimed-prev.Claimed, "undecodable", s.Undecodable-prev.Undecodable,
			"trimmed", s.Trimmed-prev.Trimmed, "applied_total", s.Applied, "interval", p.cfg.StatsInterval)
		prev = s
	}
}
