package harness

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// StartReplica starts a redis-server in dir, configured as StartRedis's,
// as a replica of primary, and waits until it is in sync (its link to the
// primary is up and it has loaded the primary's data).
func StartReplica(dir string, primary *Redis) (*Redis, error) {
	host, port, err := net.SplitHostPort(primary.Addr)
	if err != nil {
		return nil, err
	}
	r, err := StartRedis(dir, "--replicaof", host, port)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		info, err := r.Client.Info(ctx, "replication").Result()
		cancel()
		if err == nil && strings.Contains(info, "master_link_status:up") {
			return r, nil
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, fmt.Errorf("replica on %s: not in sync with %s after 30 s (%v)", r.Addr, primary.Addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
