package redistest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the master name of a SentinelGroup.
const SentinelMaster = "mymaster"

// SentinelGroup is a primary, its replicas and the Redis Sentinels that
// watch them, each a redis-server process on a free loopback port.
type SentinelGroup struct {
	tb        testing.TB
	Servers   []*Server // Servers[0] starts as the primary
	Sentinels []*Server
}

// StartSentinelGroup starts a primary with AOF on (appendfsync everysec
// plus args), replicas replicating it, and sentinels (quorum: a majority)
// that mark it down after downAfter and promote a replica. It waits until
// every replica is in sync and every sentinel knows the replicas and the
// other sentinels.
func StartSentinelGroup(tb testing.TB, replicas, sentinels int, downAfter time.Duration, args ...string) *SentinelGroup {
	tb.Helper()
	g := &SentinelGroup{tb: tb}
	base := append([]string{"--appendonly", "yes", "--appendfsync", "everysec"}, args...)
	primary := Start(tb, base...)
	g.Servers = append(g.Servers, primary)
	host, port, _ := net.SplitHostPort(primary.Addr)
	for range replicas {
		g.Servers = append(g.Servers, Start(tb, append([]string{"--replicaof", host, port}, base...)...))
	}
	for range sentinels {
		g.Sentinels = append(g.Sentinels, g.startSentinel(primary, sentinels/2+1, downAfter))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := g.waitSettled(ctx, replicas, sentinels); err != nil {
		tb.Fatal(err)
	}
	return g
}

// startSentinel runs `redis-server sentinel.conf --sentinel` monitoring
// primary. Sentinel rewrites its configuration file, so each gets its own.
func (g *SentinelGroup) startSentinel(primary *Server, quorum int, downAfter time.Duration) *Server {
	g.tb.Helper()
	port, err := FreePort()
	if err != nil {
		g.tb.Fatal(err)
	}
	s := &Server{tb: g.tb, Dir: g.tb.TempDir(), Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	host, pport, _ := net.SplitHostPort(primary.Addr)
	conf := strings.Join([]string{
		"port " + strconv.Itoa(port),
		"bind 127.0.0.1",
		"dir " + s.Dir,
		"logfile " + filepath.Join(s.Dir, "redis.log"),
		fmt.Sprintf("sentinel monitor %s %s %s %d", SentinelMaster, host, pport, quorum),
		fmt.Sprintf("sentinel down-after-milliseconds %s %d", SentinelMaster, downAfter.Milliseconds()),
		fmt.Sprintf("sentinel failover-timeout %s %d", SentinelMaster, 10*downAfter.Milliseconds()),
		"",
	}, "\n")
	path := filepath.Join(s.Dir, "sentinel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		g.tb.Fatal(err)
	}
	g.tb.Cleanup(s.Kill)
	s.cmd, s.done = Launch(g.tb, s.Addr, s.Dir, path, "--sentinel")
	return s
}

// waitSettled polls until the replicas are in sync and every sentinel
// sees them and the other sentinels.
func (g *SentinelGroup) waitSettled(ctx context.Context, replicas, sentinels int) error {
	for {
		err := g.settled(ctx, replicas, sentinels)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sentinel group not settled: %v: %w", err, ctx.Err())
		case <-time.After(100 * time.Millisecond): // polling interval
		}
	}
}

func (g *SentinelGroup) settled(ctx context.Context, replicas, sentinels int) error {
	for _, s := range g.Servers[1:] {
		c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		info, err := c.Info(ctx, "replication").Result()
		c.Close()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up\r\n") {
			return fmt.Errorf("replica %s not in sync", s.Addr)
		}
	}
	for _, s := range g.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		m, err := c.Master(ctx, SentinelMaster).Result()
		c.Close()
		if err != nil {
			return err
		}
		if m["num-slaves"] != strconv.Itoa(replicas) || m["num-other-sentinels"] != strconv.Itoa(sentinels-1) {
			return fmt.Errorf("sentinel %s sees %s replicas and %s other sentinels", s.Addr, m["num-slaves"], m["num-other-sentinels"])
		}
	}
	return nil
}

// URL returns the redis+sentinel:// URL of the group.
func (g *SentinelGroup) URL() string {
	addrs := make([]string, len(g.Sentinels))
	for i, s := range g.Sentinels {
		addrs[i] = s.Addr
	}
	return "redis+sentinel://" + strings.Join(addrs, ",") + "/" + SentinelMaster
}

// Primary asks the sentinels which server is the primary now; nil when
// none answers or it is not one of Servers.
func (g *SentinelGroup) Primary(ctx context.Context) *Server {
	for _, s := range g.Sentinels {
		if s.cmd == nil {
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
		addr, err := c.GetMasterAddrByName(ctx, SentinelMaster).Result()
		c.Close()
		if err != nil || len(addr) != 2 {
			continue
		}
		for _, srv := range g.Servers {
			if srv.Addr == net.JoinHostPort(addr[0], addr[1]) {
				return srv
			}
		}
	}
	return nil
}

// WaitPromoted polls until the sentinels name a primary other than old
// and that server reports role:master.
func (g *SentinelGroup) WaitPromoted(ctx context.Context, old *Server) (*Server, error) {
	for {
		if p := g.Primary(ctx); p != nil && p != old {
			c := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1})
			info, err := c.Info(ctx, "replication").Result()
			c.Close()
			if err == nil && strings.Contains(info, "role:master\r\n") {
				return p, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no replica of %s promoted: %w", old.Addr, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}

// Pause freezes the server with SIGSTOP (its sockets stay open: a hang);
// Resume continues it.
func (s *Server) Pause() { s.send(syscall.SIGSTOP) }

// Resume continues a server frozen by Pause.
func (s *Server) Resume() { s.send(syscall.SIGCONT) }

func (s *Server) send(sig syscall.Signal) {
	if s.cmd != nil {
		SignalGroup(s.cmd.Process.Pid, sig)
	}
}
