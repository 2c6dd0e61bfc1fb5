package redisconn

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Sentinel URL schemes: a primary with replicas whose failover Redis
// Sentinel manages.
const (
	sentinelScheme    = "redis+sentinel"
	sentinelTLSScheme = "rediss+sentinel"
)

// IsSentinelURL reports whether url selects Redis Sentinel.
func IsSentinelURL(url string) bool {
	url = strings.TrimSpace(url)
	return strings.HasPrefix(url, sentinelScheme+"://") || strings.HasPrefix(url, sentinelTLSScheme+"://")
}

// ParseSentinelURL parses
//
//	redis+sentinel://[user:password@]host1:26379[,host2:26379...]/master[/db][?sentinel_password=...]
//
// (rediss+sentinel:// for TLS to the Redis servers) into go-redis's
// FailoverOptions: the sentinels to ask, the master's name, and the user,
// password and database of the Redis servers. sentinel_username and
// sentinel_password are the sentinels' own credentials, when they have
// any. A port left out is 26379, Sentinel's default.
func ParseSentinelURL(raw string) (*redis.FailoverOptions, error) {
	raw = strings.TrimSpace(raw)
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != sentinelScheme && scheme != sentinelTLSScheme) {
		return nil, fmt.Errorf("sentinel url must start with %s:// or %s://", sentinelScheme, sentinelTLSScheme)
	}
	// The host list holds commas, which net/url does not accept in a host:
	// cut it out, parse the rest with one placeholder host.
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	userinfo, hosts := "", authority
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		userinfo, hosts = authority[:at+1], authority[at+1:]
	}
	u, err := url.Parse("redis://" + userinfo + "placeholder/" + path + "?" + query)
	if err != nil {
		return nil, fmt.Errorf("parse sentinel url: %w", err)
	}
	o := &redis.FailoverOptions{}
	if u.User != nil {
		o.Username = u.User.Username()
		o.Password, _ = u.User.Password()
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(h); err != nil {
			h = net.JoinHostPort(strings.Trim(h, "[]"), "26379")
		}
		o.SentinelAddrs = append(o.SentinelAddrs, h)
	}
	if len(o.SentinelAddrs) == 0 {
		return nil, errors.New("sentinel url names no sentinel host")
	}
	parts := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	switch len(parts) {
	case 2:
		if o.DB, err = strconv.Atoi(parts[1]); err != nil || o.DB < 0 {
			return nil, fmt.Errorf("sentinel url: invalid database number %q", parts[1])
		}
		fallthrough
	case 1:
		o.MasterName = parts[0]
	default:
		return nil, errors.New("sentinel url must name the master: redis+sentinel://host:26379/mymaster[/db]")
	}
	q := u.Query()
	o.SentinelUsername, o.SentinelPassword = q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	if len(q) > 0 {
		var names []string
		for k := range q {
			names = append(names, k)
		}
		return nil, fmt.Errorf("sentinel url: unknown parameters %s (only sentinel_username and sentinel_password)", strings.Join(names, ", "))
	}
	if scheme == sentinelTLSScheme {
		// No server name: the primary's address changes with each failover,
		// so crypto/tls checks the certificate against the address dialled.
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return o, nil
}

// openSentinel builds go-redis's failover client: it asks the sentinels
// for the current master, and follows them (their +switch-master events)
// to the replica they promote when the master fails.
func openSentinel(raw string, o Options) (*Conn, error) {
	fo, err := ParseSentinelURL(raw)
	if err != nil {
		return nil, maskErr(err, raw)
	}
	if o.TLS != nil {
		if fo.TLSConfig == nil {
			return nil, ErrTLSNeedsRediss
		}
		c := o.TLS.Clone()
		if c.MinVersion < tls.VersionTLS12 {
			c.MinVersion = tls.VersionTLS12
		}
		fo.TLSConfig = c
	}
	fo.ContextTimeoutEnabled = true // see Options.apply
	if o.PoolSize > 0 {
		fo.PoolSize = o.PoolSize
	}
	fo.MaxRetries = o.MaxRetries
	fo.DialTimeout, fo.ReadTimeout, fo.WriteTimeout = o.DialTimeout, o.ReadTimeout, o.WriteTimeout
	c := redis.NewFailoverClient(fo)
	c.AddHook(replicaWait{})
	return &Conn{Client: c, sentinel: fo}, nil
}
