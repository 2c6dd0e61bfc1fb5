package processor

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/geostream/geostream/streamkit/envflag"
	"github.com/geostream/geostream/streamkit/scripts"
	"github.com/geostream/geostream/streamkit/service"
)

// Defaults of the processor's settings.
const (
	// DefaultHTTPAddr is where the health endpoints listen.
	DefaultHTTPAddr = "127.0.0.1:8081"
	// DefaultBatchSize is the most entries one read (and one Lua call)
	// takes. An entry holds the points of one append call (1 to many
	// thousands: group commit puts several requests in a call), so a read
	// also asks for fewer entries when they are large, to hold about
	// 50,000 points (readsize.go): enough for the fast path
	// (applysums.lua) to write each aggregate hash once for many points,
	// while a read stays within a few MB. A read returns what is there: a
	// short one is applied at once (then see DefaultLinger).
	DefaultBatchSize = 256
	// DefaultMaxCallKeys bounds the aggregate keys of one Lua call when
	// the processor is keeping up (a read returned at most an eighth of a
	// batch). A call costs Redis 20-50 µs a key (a few commands each,
	// written to the AOF), and every other client, /retrieve included,
	// waits behind it: 64 keys keep a call around 1-3 ms. A larger read (a
	// backlog) goes in one call, which touches each key once however many
	// of its points the batch holds: throughput then matters more.
	DefaultMaxCallKeys = 64
	// DefaultLinger is how long a partition waits after a read short of a
	// batch before reading again. Counting a point
	// costs Redis mostly per hash written, and a device's hashes are
	// written once per read however many of its points the read holds:
	// with the benchmark's 1,000 devices, eager reads of a few hundred
	// entries wrote 4-5 HINCRBY per point against 1.6 for large reads, and
	// the end-to-end rate fell by a third. A point is counted at most this
	// much later.
	DefaultLinger = 100 * time.Millisecond
	// DefaultBlock is how long one XREADGROUP waits for new entries.
	DefaultBlock = time.Second
	// DefaultClaimInterval is how often each partition looks for entries
	// left pending by dead consumers.
	DefaultClaimInterval = 5 * time.Second
	// DefaultClaimMinIdle is how long an entry must sit unacknowledged before
	// another consumer claims it.
	DefaultClaimMinIdle = 30 * time.Second
	// DefaultConsumerExpiry is how long a consumer that owns no pending
	// entry may stay idle in the group before a processor removes its name.
	// Redis 7.0 does not count a read that returns nothing as activity, so
	// a live processor's name goes too after this long without points on a
	// partition; it comes back with its next entries, and owned nothing.
	DefaultConsumerExpiry = time.Hour
	// DefaultTrimInterval is how often acknowledged entries are trimmed.
	DefaultTrimInterval = 5 * time.Second
	// DefaultRetention is how long raw points are kept after they were
	// counted: none.
	DefaultRetention = time.Duration(0)
	// DefaultTrackRetention is how long each device's track points are
	// kept after the hour they belong to (docs/architecture.md, "Tracks").
	DefaultTrackRetention = 7 * 24 * time.Hour
	// DefaultTrimStep is the most entries one XTRIM removes: a step reads
	// the entries it removes to find its cut, ~1-2 ms of Redis per 1,000.
	DefaultTrimStep = 1_000
	// DefaultStatsInterval is how often the progress line is logged.
	DefaultStatsInterval = 10 * time.Second
)

// Config is processor-svc's configuration: the settings every service shares
// and the consumer-group settings below. Register binds each field to a flag
// and a GEOSTREAM_* environment variable.
type Config struct {
	service.Common

	// Consumer is this processor's consumer name in the group. It must be
	// stable across restarts (the host or pod name), never random: after a
	// crash the restarted process re-reads the entries still pending under
	// this name. Default: the host name.
	Consumer string
	// BatchSize is the most entries read by one XREADGROUP and applied by
	// one Lua call; 1..scripts.MaxApplyEntries. Default DefaultBatchSize.
	BatchSize int
	// MaxCallKeys bounds the aggregate keys of one Lua call while the
	// processor keeps up (reads of at most BatchSize/8 entries, see
	// DefaultMaxCallKeys); -1: no bound. Default
	// DefaultMaxCallKeys.
	MaxCallKeys int
	// Linger is how long a partition waits after a short read before the
	// next (see DefaultLinger); negative: never. Default DefaultLinger.
	Linger time.Duration
	// Block is how long one XREADGROUP waits for new entries. It is finite
	// so that the loop notices shutdown; a shutdown waits at most this long
	// for the read in progress, then finishes its batch. Default DefaultBlock.
	Block time.Duration
	// ClaimInterval is how often each partition runs XAUTOCLAIM. Default
	// DefaultClaimInterval.
	ClaimInterval time.Duration
	// ClaimMinIdle is how long an entry must have been pending without
	// being acknowledged before XAUTOCLAIM takes it from its consumer (which
	// is presumed dead). Claiming from a live but slow consumer is harmless
	// (apply.lua counts each entry once) but wasted work, so keep it well
	// above the time one batch takes. Default DefaultClaimMinIdle.
	ClaimMinIdle time.Duration
	// ConsumerExpiry removes from the group, after each claim pass, the
	// names of other consumers that own no pending entry and have been idle
	// this long: processors replaced under another name, whose entries were
	// claimed (see scripts.RemoveIdleConsumers); negative: never. Default
	// DefaultConsumerExpiry.
	ConsumerExpiry time.Duration
	// TrimInterval is how often the acknowledged entries of every partition
	// are trimmed. Default DefaultTrimInterval.
	TrimInterval time.Duration
	// Retention keeps raw points at least this long (by stream ID time) for
	// replay, even when counted; 0 trims them as soon as they are
	// acknowledged. Default DefaultRetention.
	Retention time.Duration
	// TrackRetention keeps each device's points in its track, by event
	// time, this long after their hour; 0: no tracks. The flag's default is
	// DefaultTrackRetention (SetDefaults leaves 0 alone).
	TrackRetention time.Duration
	// TrimStep is the most entries one XTRIM removes, so that no single
	// command blocks Redis for long (miniredis trims slowly). Default
	// DefaultTrimStep.
	TrimStep int
	// StatsInterval is how often the progress line (points applied,
	// duplicates skipped, entries claimed) is logged. Default
	// DefaultStatsInterval.
	StatsInterval time.Duration
}

// Register defines the common flags and the processor's flags on s, with
// their defaults.
func (c *Config) Register(s *envflag.Set) {
	c.Common.Register(s, DefaultHTTPAddr)
	host, _ := os.Hostname()
	s.String(&c.Consumer, "consumer", host, "consumer name in the group; stable across restarts (host or pod name), never random")
	s.Int(&c.BatchSize, "batch-size", DefaultBatchSize, fmt.Sprintf("most entries per read and per apply call (1..%d); a read asks for fewer when entries are large, about 50,000 points", scripts.MaxApplyEntries))
	s.Int(&c.MaxCallKeys, "max-call-keys", DefaultMaxCallKeys, "when a read holds at most an eighth of what it asked for (the processor keeps up), split it into Lua calls of at most this many aggregate keys so that no call holds Redis long (-1: one call per read)")
	s.Duration(&c.Linger, "linger", DefaultLinger, "after a read short of what it asked for, wait this long before the next, so that reads carry more points per device (negative: never)")
	s.Duration(&c.Block, "block", DefaultBlock, "how long one XREADGROUP waits for new entries (finite, so shutdown is noticed)")
	s.Duration(&c.ClaimInterval, "claim-interval", DefaultClaimInterval, "how often each partition claims entries left pending by dead consumers")
	s.Duration(&c.ClaimMinIdle, "claim-min-idle", DefaultClaimMinIdle, "pending entries idle longer than this are claimed from their consumer")
	s.Duration(&c.ConsumerExpiry, "consumer-expiry", DefaultConsumerExpiry, "after each claim pass, remove from the group other consumers owning no pending entry and idle this long: replaced processors (negative: never)")
	s.Duration(&c.TrimInterval, "trim-interval", DefaultTrimInterval, "how often acknowledged entries are trimmed from the streams")
	s.Duration(&c.Retention, "retention", DefaultRetention, "keep raw points at least this long for replay (0: trim once acknowledged)")
	s.Duration(&c.TrackRetention, "track-retention", DefaultTrackRetention, "keep each device's points for GET /devices/{id}/track this long after their hour, by event time (0: no tracks)")
	s.Int(&c.TrimStep, "trim-step", DefaultTrimStep, "most entries removed by one XTRIM")
	s.Duration(&c.StatsInterval, "stats-interval", DefaultStatsInterval, "how often progress is logged")
}

// SetDefaults fills the zero-valued processing settings with their defaults
// (Retention's default is its zero value). The consumer name defaults to the
// host name.
func (c *Config) SetDefaults() {
	if c.Consumer == "" {
		c.Consumer, _ = os.Hostname()
	}
	if c.BatchSize == 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.MaxCallKeys == 0 {
		c.MaxCallKeys = DefaultMaxCallKeys
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.Block == 0 {
		c.Block = DefaultBlock
	}
	if c.ClaimInterval == 0 {
		c.ClaimInterval = DefaultClaimInterval
	}
	if c.ClaimMinIdle == 0 {
		c.ClaimMinIdle = DefaultClaimMinIdle
	}
	if c.ConsumerExpiry == 0 {
		c.ConsumerExpiry = DefaultConsumerExpiry
	}
	if c.TrimInterval == 0 {
		c.TrimInterval = DefaultTrimInterval
	}
	if c.TrimStep == 0 {
		c.TrimStep = DefaultTrimStep
	}
	if c.StatsInterval == 0 {
		c.StatsInterval = DefaultStatsInterval
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = service.DefaultShutdownGrace
	}
}

// Validate checks every setting and reports all problems at once.
func (c *Config) Validate() error {
	return errors.Join(c.Common.Validate(), c.validateProcessing())
}

// validateProcessing checks the settings New uses.
func (c *Config) validateProcessing() error {
	var errs []error
	if c.Consumer == "" {
		errs = append(errs, errors.New("consumer is empty and the host name is unknown: set --consumer or GEOSTREAM_CONSUMER to a stable name"))
	} else if strings.ContainsAny(c.Consumer, " \t\r\n") {
		errs = append(errs, fmt.Errorf("consumer %q must not contain spaces", c.Consumer))
	}
	if c.MaxCallKeys < -1 {
		errs = append(errs, fmt.Errorf("max-call-keys must be -1 (no bound) or positive, got %d", c.MaxCallKeys))
	}
	if c.BatchSize < 1 || c.BatchSize > scripts.MaxApplyEntries {
		errs = append(errs, fmt.Errorf("batch-size must be 1..%d, got %d", scripts.MaxApplyEntries, c.BatchSize))
	}
	// go-redis sends BLOCK in whole milliseconds, and BLOCK 0 waits forever.
	if c.Block < time.Millisecond {
		errs = append(errs, fmt.Errorf("block must be at least 1ms, got %v", c.Block))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"claim-interval", c.ClaimInterval},
		{"claim-min-idle", c.ClaimMinIdle},
		{"trim-interval", c.TrimInterval},
		{"stats-interval", c.StatsInterval},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %v", d.name, d.v))
		}
	}
	if c.ClaimMinIdle > 0 && c.ClaimMinIdle < time.Millisecond {
		errs = append(errs, fmt.Errorf("claim-min-idle must be at least 1ms, got %v", c.ClaimMinIdle))
	}
	if c.Retention < 0 {
		errs = append(errs, fmt.Errorf("retention must not be negative, got %v", c.Retention))
	}
	if c.TrackRetention < 0 {
		errs = append(errs, fmt.Errorf("track-retention must not be negative, got %v", c.TrackRetention))
	}
	if c.TrimStep < 1 {
		errs = append(errs, fmt.Errorf("trim-step must be at least 1, got %d", c.TrimStep))
	}
	return errors.Join(errs...)
}
