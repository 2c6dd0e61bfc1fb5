package service

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redisconn"
)

// OpenRedis connects to the Redis the settings select (RedisURL,
// RedisCluster, the TLS files) with o's client settings, and logs where it
// is. The caller closes the connection.
func (c *Common) OpenRedis(o redisconn.Options, log *slog.Logger) (*redisconn.Conn, error) {
	tlsConf, err := c.RedisTLS()
	if err != nil {
		return nil, err
	}
	o.Cluster, o.TLS = c.RedisCluster, tlsConf
	conn, err := redisconn.Open(c.RedisURL, o)
	if err != nil {
		return nil, err
	}
	log.Info("redis", "at", conn.Describe())
	return conn, nil
}

// CheckRedis checks, within timeout, that Redis answers and holds the data
// of a deployment configured as c, or none yet (the partition count, key
// scales and bucket resolutions: redisconn.CheckMeta).
func (c *Common) CheckRedis(ctx context.Context, conn *redisconn.Conn, schema *keys.Schema, timeout time.Duration) error {
	pins, err := c.MetaPins()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := redisconn.Ping(ctx, conn.Client); err != nil {
		return fmt.Errorf("redis (%s) is not reachable: %w", conn.Describe(), err)
	}
	return redisconn.CheckMeta(ctx, conn.Client, schema, pins...)
}

// Connect is how a service starts on Redis: OpenRedis, the profiles on
// PprofAddr (StartPprof), then CheckRedis within timeout. On an error the
// connection is closed; otherwise the caller closes it.
func (c *Common) Connect(ctx context.Context, o redisconn.Options, schema *keys.Schema, timeout time.Duration, log *slog.Logger) (*redisconn.Conn, error) {
	conn, err := c.OpenRedis(o, log)
	if err != nil {
		return nil, err
	}
	if err = c.StartPprof(ctx, log); err == nil {
		err = c.CheckRedis(ctx, conn, schema, timeout)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// StartPprof serves the Go runtime profiles on PprofAddr until ctx is done;
// it does nothing when PprofAddr is empty.
func (c *Common) StartPprof(ctx context.Context, log *slog.Logger) error {
	if c.PprofAddr == "" {
		return nil
	}
	return ServePprof(ctx, c.PprofAddr, log)
}
