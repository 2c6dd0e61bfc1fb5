// Package redisconn builds the go-redis client of a geostream service from
// its Redis URL, and pins the deployment's storage format in Redis.
//
//   - "" (no URL): an embedded miniredis server on a loopback port of this
//     process, memory only, TTLs on the wall clock (see Embedded). Good for
//     a demo or a test; nothing else can see it unless given its address
//     (see Conn.Embedded).
//   - "redis://[user:password@]host:port[/db]" or "rediss://…" (TLS): one
//     server, go-redis's Client.
//   - "redis+sentinel://[user:password@]host:26379[,host:26379…]/master[/db]"
//     (rediss+sentinel:// for TLS): a primary and its replicas watched by
//     Redis Sentinel, go-redis's failover client (see ParseSentinelURL).
//   - several URLs separated by commas, or Options.Cluster: Redis Cluster,
//     go-redis's ClusterClient (user, password and TLS from the first URL;
//     any node will do as a seed, the client learns the others and follows
//     MOVED and ASK redirects while slots move between masters).
package redisconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options tune the client. The zero value is usable.
type Options struct {
	// Cluster selects Redis Cluster even for a single seed URL.
	Cluster bool
	// PoolSize is the connection pool size per node; 0 keeps go-redis's
	// default (10 per CPU). A processor needs one connection per partition
	// for its blocking reads plus a few more.
	PoolSize int
	// MaxRetries is passed to go-redis. Ingest sets -1: a retried append
	// whose first attempt did run would store the points twice. On Redis
	// Cluster, where go-redis retries on its own whatever MaxRetries says,
	// a negative value also stops it from sending a script call (EVAL,
	// EVALSHA, FCALL) again after a network error or timeout; MOVED and ASK
	// redirects are still followed (see sendOnce).
	MaxRetries int
	// DialTimeout, ReadTimeout and WriteTimeout are passed to go-redis;
	// zero keeps its defaults (5 s, 3 s, 3 s).
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// TLS adds CAs and a client certificate (see TLSFiles.Config) to the
	// TLS of rediss:// URLs; with any other URL Open fails with
	// ErrTLSNeedsRediss. nil keeps what the URL says.
	TLS *tls.Config
}

// Conn is a connected client, and the embedded server when there is one.
type Conn struct {
	Client redis.UniversalClient
	// Embedded is the in-process miniredis, nil for a real server.
	Embedded *Embedded
	// sentinel is the parsed redis+sentinel:// URL, nil for any other.
	sentinel *redis.FailoverOptions
}

// Close closes the client and stops the embedded server.
func (c *Conn) Close() error {
	err := c.Client.Close()
	if c.Embedded != nil {
		c.Embedded.Close()
	}
	return err
}

// Describe returns where the client connects, without credentials.
func (c *Conn) Describe() string {
	switch cl := c.Client.(type) {
	case *redis.ClusterClient:
		return "redis cluster " + strings.Join(cl.Options().Addrs, ",")
	case *redis.Client:
		if c.sentinel != nil {
			return "redis sentinel master " + c.sentinel.MasterName + " via " + strings.Join(c.sentinel.SentinelAddrs, ",")
		}
		if c.Embedded != nil {
			return "embedded miniredis " + cl.Options().Addr + " (memory only)"
		}
		return "redis " + cl.Options().Addr
	}
	return "redis"
}

// Open builds the client for url (see the package comment). It does not
// contact the server; Ping does.
func Open(url string, o Options) (*Conn, error) {
	url = strings.TrimSpace(url)
	if url == "" {
		if o.TLS != nil {
			return nil, ErrTLSNeedsRediss
		}
		m, err := StartEmbedded("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		opt := &redis.Options{Addr: m.Addr()}
		o.apply(opt)
		return &Conn{Client: redis.NewClient(opt), Embedded: m}, nil
	}
	if IsSentinelURL(url) {
		if o.Cluster {
			return nil, errors.New("a redis+sentinel:// url selects Sentinel, not Redis Cluster")
		}
		return openSentinel(url, o)
	}
	urls := strings.Split(url, ",")
	if len(urls) == 1 && !o.Cluster {
		opt, err := redis.ParseURL(urls[0])
		if err != nil {
			return nil, fmt.Errorf("parse redis url: %w", maskErr(err, urls[0]))
		}
		o.apply(opt)
		if opt.TLSConfig, err = o.tlsConfig(opt.TLSConfig, false); err != nil {
			return nil, err
		}
		c := redis.NewClient(opt)
		c.AddHook(replicaWait{})
		return &Conn{Client: c}, nil
	}
	var copt *redis.ClusterOptions
	for i, u := range urls {
		opt, err := redis.ParseURL(strings.TrimSpace(u))
		if err != nil {
			return nil, fmt.Errorf("parse redis url %d: %w", i+1, maskErr(err, u))
		}
		if opt.DB != 0 {
			return nil, fmt.Errorf("redis url %d: Redis Cluster has only database 0, the url selects %d", i+1, opt.DB)
		}
		if copt == nil {
			copt = &redis.ClusterOptions{
				Username: opt.Username, Password: opt.Password, TLSConfig: opt.TLSConfig,
			}
		}
		copt.Addrs = append(copt.Addrs, opt.Addr)
	}
	if o.PoolSize > 0 {
		copt.PoolSize = o.PoolSize
	}
	copt.MaxRetries = o.MaxRetries
	copt.ContextTimeoutEnabled = true // see Options.apply
	copt.DialTimeout, copt.ReadTimeout, copt.WriteTimeout = o.DialTimeout, o.ReadTimeout, o.WriteTimeout
	tlsc, err := o.tlsConfig(copt.TLSConfig, true)
	if err != nil {
		return nil, err
	}
	copt.TLSConfig = tlsc
	cc := redis.NewClusterClient(copt)
	cc.OnNewNode(func(n *redis.Client) { n.AddHook(replicaWait{}) })
	if o.MaxRetries < 0 {
		cc.AddHook(sendOnce{})
	}
	return &Conn{Client: cc}, nil
}

func (o Options) apply(opt *redis.Options) {
	// Honour context deadlines while waiting for a reply, so that a Redis
	// that hangs (rather than refusing connections) fails a request within
	// its own timeout (/readyz's 1 s, ingest's --redis-timeout).
	opt.ContextTimeoutEnabled = true
	if o.PoolSize > 0 {
		opt.PoolSize = o.PoolSize
	}
	opt.MaxRetries = o.MaxRetries
	if o.DialTimeout > 0 {
		opt.DialTimeout = o.DialTimeout
	}
	if o.ReadTimeout > 0 {
		opt.ReadTimeout = o.ReadTimeout
	}
	if o.WriteTimeout > 0 {
		opt.WriteTimeout = o.WriteTimeout
	}
}

// maskErr keeps a URL's password out of an error message.
func maskErr(err error, url string) error {
	_, rest, ok := strings.Cut(url, "://")
	if !ok {
		return err
	}
	at := strings.LastIndexByte(rest, '@')
	if at < 0 {
		return err
	}
	msg := strings.ReplaceAll(err.Error(), rest[:at], "xxxxx")
	return errors.New(msg)
}
