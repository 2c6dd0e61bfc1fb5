package harness

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server started for the run, configured as
// docker-compose.yml runs it: AOF on, fsync every second, no eviction; its
// slow log keeps every call of SlowlogThreshold or more.
type Redis struct {
	*Proc
	Client *redis.Client
}

// StartRedis starts redis-server on a free loopback port with its data in
// dir, and extra configuration arguments. It never touches a Redis the
// machine already runs.
func StartRedis(dir string, extra ...string) (*Redis, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(addr)
	args := append([]string{
		"--port", port, "--bind", "127.0.0.1", "--protected-mode", "yes", "--dir", dir,
		"--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
		"--maxmemory-policy", "noeviction", "--logfile", filepath.Join(dir, "redis-server.log"),
		"--slowlog-log-slower-than", strconv.FormatInt(SlowlogThreshold.Microseconds(), 10),
		"--slowlog-max-len", strconv.Itoa(SlowlogMaxLen),
	}, extra...)
	p, err := Start(dir, "redis", "redis-server", args...)
	if err != nil {
		return nil, err
	}
	p.Addr = addr
	r := &Redis{Proc: p, Client: redis.NewClient(&redis.Options{
		Addr: addr, PoolSize: 16, ReadTimeout: 30 * time.Second, ClientName: HarnessClient,
	})}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		err := r.Client.Ping(ctx).Err()
		cancel()
		if err == nil {
			return r, nil
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("redis-server on %s not ready: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}

// URL returns the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// Port returns the server's port.
func (r *Redis) Port() string {
	_, port, _ := net.SplitHostPort(r.Addr)
	return port
}

// Stop closes the client and stops the server.
func (r *Redis) Stop() {
	r.Client.Close()
	r.Proc.Stop()
}

// Version returns redis_version from INFO.
func (r *Redis) Version(ctx context.Context) string {
	info, err := r.Client.Info(ctx, "server").Result()
	if err != nil {
		return "?"
	}
	return infoField(info, "redis_version")
}

// CommandStats returns INFO commandstats as command → (calls, usec), the
// calls made inside Lua scripts included.
func (r *Redis) CommandStats(ctx context.Context) (map[string]CmdStat, error) {
	info, err := r.Client.Info(ctx, "commandstats").Result()
	if err != nil {
		return nil, fmt.Errorf("info commandstats: %w", err)
	}
	out := map[string]CmdStat{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		var s CmdStat
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "calls":
				s.Calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec":
				s.Usec, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		out[name] = s
	}
	return out, nil
}

// CmdStat is one line of INFO commandstats.
type CmdStat struct {
	Calls int64 `json:"calls"`
	Usec  int64 `json:"usec"`
}

func infoField(info, field string) string {
	if v, ok := ParseInfo(info)[field]; ok {
		return v
	}
	return "?"
}
