package processor

import "github.com/geostream/geostream/streamkit/redisconn"

// notRun reports whether err is a reply that means Redis did not run the
// command (redisconn.NotRun: a failover or a slot move). A script call that
// failed so is retried like a network error; it cannot have acknowledged
// any entry (see applyCall's failedInRedis).
func notRun(err error) bool { return redisconn.NotRun(err) }

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
