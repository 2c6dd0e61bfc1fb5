package processor

import "github.com/redis/go-redis/v9"

// notRunPrefixes are the Redis error replies that mean the command was
// not run: the node is not (or no longer, or not yet) a master that serves
// the key. They come during a failover (READONLY from a demoted master,
// LOADING from a restarted one, MASTERDOWN from a replica that lost its
// master, CLUSTERDOWN while the cluster has no owner for a slot) and while
// slots move (TRYAGAIN; MOVED and ASK go-redis follows itself).
var notRunPrefixes = []string{"READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "MOVED", "ASK", "NOSCRIPT"}

// notRun reports whether err is a reply that means Redis did not run the
// command. A script call that failed so is retried like a network error;
// it cannot have acknowledged any entry (see applyCall's failedInRedis).
func notRun(err error) bool {
	for _, p := range notRunPrefixes {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// mustReread reports whether a failed XREADGROUP ">" may have delivered
// entries whose reply never arrived: Redis delivers and records them
// pending under this consumer as it answers, so a reply lost with the
// connection (a master killed or failed over mid-read) leaves entries
// pending that a later ">" read never returns. The partition then re-reads
// its own pending entries (drainOwn) before reading new ones, instead of
// leaving them to a claim after --claim-min-idle. A reply Redis refused
// (notRun) delivered nothing.
func mustReread(err error) bool {
	return err != nil && !notRun(err)
}
