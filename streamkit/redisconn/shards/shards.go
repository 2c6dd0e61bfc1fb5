// Package shards reads which master serves which slots of a Redis Cluster
// (CLUSTER SHARDS), for redisconn.Layout and the cluster test helpers.
package shards

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Range is a range of slots and the address of the master serving it.
type Range struct {
	Start, End int // inclusive
	Addr       string
}

// Masters returns the slot ranges of every shard with a master, in slot
// order, as the node c talks to sees them.
func Masters(ctx context.Context, c redis.Cmdable) ([]Range, error) {
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("cluster shards: %w", err)
	}
	var out []Range
	for _, s := range shards {
		addr := master(s.Nodes)
		if addr == "" {
			continue
		}
		for _, r := range s.Slots {
			out = append(out, Range{Start: int(r.Start), End: int(r.End), Addr: addr})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, nil
}

// master returns host:port of the master among nodes, "" if none. The port
// is the TLS port on a TLS-only cluster (port 0).
func master(nodes []redis.Node) string {
	for _, n := range nodes {
		if n.Role != "master" {
			continue
		}
		host := n.IP
		if host == "" {
			host = n.Endpoint
		}
		port := n.Port
		if port == 0 {
			port = n.TLSPort
		}
		return net.JoinHostPort(host, strconv.FormatInt(port, 10))
	}
	return ""
}
