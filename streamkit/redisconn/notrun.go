package redisconn

import (
	"errors"
	"net"

	"github.com/redis/go-redis/v9"
)

// notRunPrefixes are the Redis error replies that mean the command was
// not run: the node is not (or no longer, or not yet) a master that serves
// the key. They come during a failover (READONLY from a demoted master,
// LOADING from a restarted one, MASTERDOWN from a replica that lost its
// master, CLUSTERDOWN while the cluster has no owner for a slot) and while
// slots move (TRYAGAIN; MOVED and ASK go-redis follows itself, these reach
// the caller only past its redirect limit). NOSCRIPT: the script cache is
// empty (a restarted server).
var notRunPrefixes = []string{"READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK", "NOSCRIPT"}

// NotRun reports whether err is a Redis reply that means Redis refused the
// command before running it: sending it again cannot repeat a write. A
// script that reached a read-only replica may have run its reads, but no
// write.
func NotRun(err error) bool {
	for _, p := range notRunPrefixes {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// NeverSent reports whether err means the command never left the client:
// no connection could be made (a dial error: the node is down or gone) or
// none was free in time (the pool's timeout).
func NeverSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, redis.ErrPoolTimeout)
}
