package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/simulator/internal/inspect"
	"github.com/geostream/geostream/streamkit/envflag"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redisconn"
)

// InspectUsage describes the inspect subcommand.
const InspectUsage = `
simulator inspect [flags] — print the points in a partition's stream.

Reads --count entries of partition --partition's stream from --start
(XRANGE) and prints, for each entry, a header (id, format, points, bytes)
and one line per point: entry id, device, time (RFC 3339, ms, UTC),
latitude, longitude and the extras it has. Entries are packed (many points
in a binary field) or legacy (one point in plain fields); both are decoded.
The last line gives the --start of the next page. The partition count is
read from the deployment's meta hash unless --partitions is set.

Exit status: 0, 1 when an entry did not decode (it is reported and the rest
printed) or Redis failed, 2 for bad flags.

Examples:
  simulator inspect --redis-url redis://127.0.0.1:6390 --partition 2 --count 10
  simulator inspect --redis-url redis://127.0.0.1:6390 --partition 2 --start '(1737633600000-0'
`

// inspectConfig holds the inspect subcommand's settings.
type inspectConfig struct {
	redisURL   string
	cluster    bool
	prefix     string
	partitions int
	partition  int
	count      int64
	start      string
}

func (c *inspectConfig) register(s *envflag.Set) {
	s.Secret(&c.redisURL, "redis-url", "", "URL of the deployment's Redis, as the services take it (required; the demo's is redis://127.0.0.1:6390)")
	s.Bool(&c.cluster, "redis-cluster", false, "treat the Redis URL as a Redis Cluster seed")
	s.String(&c.prefix, "key-prefix", keys.DefaultPrefix, "prefix of every Redis key")
	s.Int(&c.partitions, "partitions", 0, "number of partition streams; 0 = read it from the deployment's meta hash")
	s.Int(&c.partition, "partition", -1, "partition to read, 0..partitions-1 (required)")
	s.Int64(&c.count, "count", 10, "entries to read at most")
	s.String(&c.start, "start", "-", "first entry id to read: - (the oldest), an id, or ( and an id for the entries after it")
}

func (c *inspectConfig) validate() error {
	var errs []error
	if c.redisURL == "" {
		errs = append(errs, errors.New("redis-url is required (the demo's is redis://127.0.0.1:6390)"))
	}
	if c.partition < 0 {
		errs = append(errs, errors.New("partition is required (0..partitions-1)"))
	}
	if c.count < 1 {
		errs = append(errs, fmt.Errorf("count must be at least 1, got %d", c.count))
	}
	if c.partitions < 0 || c.partitions > keys.MaxPartitions {
		errs = append(errs, fmt.Errorf("partitions must be 0..%d, got %d", keys.MaxPartitions, c.partitions))
	}
	return errors.Join(errs...)
}

// Inspect is the inspect subcommand.
func Inspect(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var c inspectConfig
	fs := newSet("inspect", getenv, stderr, InspectUsage)
	c.register(fs)
	if err := parse(fs.FlagSet, fs.Parse, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	conn, err := redisconn.Open(c.redisURL, redisconn.Options{Cluster: c.cluster})
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	defer conn.Close()
	schema, err := c.schema(ctx, conn.Client)
	if err != nil {
		return err
	}
	_, err = inspect.Print(ctx, conn.Client, inspect.Options{
		Stream: schema.Stream(c.partition), Start: c.start, Count: c.count,
	}, stdout)
	return err
}

// schema returns the deployment's key schema, its partition count from
// --partitions or the meta hash; the partition must be one of them.
func (c *inspectConfig) schema(ctx context.Context, r redis.UniversalClient) (*keys.Schema, error) {
	n := c.partitions
	if n == 0 {
		probe, err := keys.New(c.prefix, 1) // only for the meta key's name
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUsage, err)
		}
		v, err := r.HGet(ctx, probe.Meta(), "partitions").Result()
		if errors.Is(err, redis.Nil) {
			return nil, fmt.Errorf("no geostream deployment with key prefix %q in this Redis (%s has no partitions); check --key-prefix or set --partitions", c.prefix, probe.Meta())
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", probe.Meta(), err)
		}
		if n, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("%s partitions = %q: %w", probe.Meta(), v, err)
		}
	}
	if c.partition >= n {
		return nil, fmt.Errorf("%w: partition %d: the deployment has partitions 0..%d", ErrUsage, c.partition, n-1)
	}
	s, err := keys.New(c.prefix, n)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return s, nil
}
