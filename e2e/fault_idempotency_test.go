package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/geostream/geostream/e2e/internal/procs"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/scripts"
)

// Fault 8 (docs/architecture.md#idempotency-key, #stored-on-2xx, #counted-exactly-once):
// a request retried
// with the same Idempotency-Key is stored exactly once, per partition,
// because append.lua writes a partition's points and its idempotency marker
// in one atomic call. Every request here spans all four partitions (one
// device in each), so each partition's fate can be read back.
func TestFaultIdempotencyKey(t *testing.T) {
	t.Run("client-timeout", idemClientTimeout)
	t.Run("partial-batch", idemPartialBatch)
	t.Run("redis-kill", idemRedisKill)
}

// idemTTL is ingest-svc's --idempotency-ttl in idemClientTimeout, which
// reads the markers it names.
const idemTTL = 10 * time.Minute

// partitionDevices returns one device id per partition, each starting with
// prefix.
func partitionDevices(s *keys.Schema, prefix string) []string {
	out := make([]string, s.Partitions())
	found := 0
	for k := 0; found < len(out); k++ {
		d := prefix + "-" + strconv.Itoa(k)
		if p := s.PartitionOf(d); out[p] == "" {
			out[p] = d
			found++
		}
	}
	return out
}

// spanningRequest returns a request of perDevice points for each of devs.
func spanningRequest(r *rand.Rand, key string, devs []string, perDevice int) *request {
	pts := randomWire(r, perDevice*len(devs), func(i int) string { return devs[i%len(devs)] })
	return newRequest(key, pts)
}

// Client-side timeout: Redis is stopped (SIGSTOP) so that the upload hangs
// in ingest-svc (here with --redis-timeout 5s), the client gives up, Redis
// resumes, and the client retries with the same key.
//   - kept-open: the client stops waiting but its connection stays up, so
//     ingest-svc completes the first attempt (its points reach the stream);
//     the retry must be answered from the marker (Idempotent-Replayed) and
//     store nothing more.
//   - closed: the client's own timeout closes the connection; the first
//     attempt may or may not have been stored; the retry stores what is
//     missing.
//
// Either way each device ends with its points counted once, and the same
// key with another body is refused with 422.
func idemClientTimeout(t *testing.T) {
	c := newClusterWith(t, clusterOptions{
		redis:  []string{"--appendfsync", "everysec"},
		ingest: []string{"--redis-timeout", "5s", "--idempotency-ttl", idemTTL.String()},
	})
	c.startProcessor("p1")
	rc := c.redis.Client()
	s := mustSchema(t)
	pid := c.redis.Pid()
	r := rand.New(rand.NewPCG(faultSeed(t), 8))
	client := newClient(1, 10*time.Second)
	var reqs []*request
	var replayed []string

	for _, variant := range []string{"kept-open", "closed"} {
		req := spanningRequest(r, "timeout-"+variant, partitionDevices(s, "timeout-"+variant), 10)
		reqs = append(reqs, req)
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		resume := sync.OnceFunc(func() { syscall.Kill(pid, syscall.SIGCONT) })
		t.Cleanup(resume)
		var first *slowUpload
		if variant == "kept-open" {
			// All sent and read by ingest-svc, which now waits for Redis;
			// the client stops waiting for the answer.
			first = startRawUpload(t, c.ingestAddr, req, len(req.body))
		} else {
			req.send(context.Background(), &http.Client{Timeout: 500 * time.Millisecond}, c.base)
			if req.err == nil {
				t.Fatalf("%s: the first attempt was answered %d while Redis was stopped; want a client timeout", variant, req.code)
			}
		}
		resume()
		if first != nil {
			// ingest-svc finishes the abandoned attempt: its markers appear.
			ks := make([]*scripts.MarkerKey, s.Partitions())
			for p := range ks {
				ks[p] = scripts.NewMarkers(s, p, idemTTL).Key(req.key)
			}
			redistest.WaitFor(t, 10*time.Second, "the abandoned attempt's markers on every partition", func() bool {
				found, _ := scripts.FindKeys(context.Background(), rc, ks)
				for _, f := range found {
					if !f {
						return false
					}
				}
				return len(found) == len(ks)
			})
		}
		req.send(context.Background(), client, c.base)
		if req.code != http.StatusOK || !strings.Contains(string(req.answer), `"accepted":40`) {
			t.Errorf("%s: retry answered %d %s (%v), want 200 with all 40 points accepted", variant, req.code, req.answer, req.err)
		}
		if first != nil && !req.replayed {
			t.Errorf("%s: the retry of a stored request was not answered from its idempotency marker", variant)
		}
		replayed = append(replayed, variant+":"+strconv.FormatBool(req.replayed))
		if first != nil {
			first.finish()
			if first.req.code != http.StatusOK {
				t.Errorf("%s: the abandoned first attempt was answered %d (%v), want 200", variant, first.req.code, first.req.err)
			}
		}
		other := spanningRequest(r, req.key, partitionDevices(s, "timeout-other-"+variant), 10)
		if other.send(context.Background(), client, c.base); other.code != http.StatusUnprocessableEntity {
			t.Errorf("%s: the key reused for another body answered %d, want 422", variant, other.code)
		}
	}
	waitDrained(t, rc, 30*time.Second)
	o := judgeCounted(t, rc, reqs)
	for _, p := range o.problems {
		t.Error(p)
	}
	if o.lost != 0 || o.duplicated != 0 {
		t.Errorf("lost %d, duplicated %d", o.lost, o.duplicated)
	}
	f := figures{faults: len(reqs), sent: o.sent, acked: o.acked, counted: countedTotal(t, rc), lost: o.lost, duplicated: o.duplicated}
	f.add("requests", len(reqs), "retry_replayed", strings.Join(replayed, ","))
	logFigures(t, f)
}

// Partial failure inside one request: one partition's append fails in
// Redis while the other three succeed (the partition's stream key is made
// a plain string, so its script fails with WRONGTYPE, as a call to a Redis
// Cluster shard that is down fails alone). The upload must answer 503
// saying 30 of 40 points were stored; after the fault is repaired the retry
// with the same key stores the missing partition only, and a further retry
// stores nothing.
func idemPartialBatch(t *testing.T) {
	c := newCluster(t, "--appendfsync", "everysec")
	rc := c.redis.Client()
	s := mustSchema(t)
	ctx := context.Background()
	client := newClient(1, 10*time.Second)
	devs := partitionDevices(s, "partial")
	req := spanningRequest(rand.New(rand.NewPCG(faultSeed(t), 9)), "partial-1", devs, 10)
	const broken = 2
	if err := rc.Set(ctx, s.Stream(broken), "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}

	req.send(ctx, client, c.base)
	if req.code != http.StatusServiceUnavailable || !strings.Contains(string(req.answer), "30 of 40 points were stored") {
		t.Fatalf("upload with partition %d broken: %d %s, want 503 saying 30 of 40 points were stored", broken, req.code, req.answer)
	}
	partial := streamDeviceCounts(t, rc)
	for p, d := range devs {
		want := int64(10)
		if p == broken {
			want = 0
		}
		if partial[d] != want {
			t.Errorf("after the partial failure, partition %d holds %d points of %s, want %d", p, partial[d], d, want)
		}
	}

	if err := rc.Del(ctx, s.Stream(broken)).Err(); err != nil {
		t.Fatal(err)
	}
	req.send(ctx, client, c.base)
	if req.code != http.StatusOK || req.replayed || !strings.Contains(string(req.answer), `"accepted":40`) {
		t.Errorf("retry after the repair: %d replayed=%v %s, want 200, not replayed, 40 accepted", req.code, req.replayed, req.answer)
	}
	again := *req
	again.send(ctx, client, c.base)
	if again.code != http.StatusOK || !again.replayed {
		t.Errorf("second retry: %d replayed=%v, want 200 answered from the markers", again.code, again.replayed)
	}
	o := judge([]*request{req}, streamDeviceCounts(t, rc))
	for _, p := range o.problems {
		t.Error(p)
	}
	c.startProcessor("p1")
	waitDrained(t, rc, 30*time.Second)
	counted := judgeCounted(t, rc, []*request{req})
	if counted.lost != 0 || counted.duplicated != 0 || len(counted.problems) != 0 {
		t.Errorf("counted: lost %d, duplicated %d, %q", counted.lost, counted.duplicated, counted.problems)
	}
	f := figures{faults: 1, sent: o.sent, acked: o.acked, counted: countedTotal(t, rc), lost: counted.lost, duplicated: counted.duplicated}
	f.add("stored_before_retry", 30, "attempts", req.attempts+1)
	logFigures(t, f)
}

// Redis killed in the middle of multi-partition uploads: with appendfsync
// always, redis-server is killed (SIGKILL) and restarted from its AOF
// three times while four clients send 1,000-point requests spanning the
// four partitions (about 35 KB of script arguments per partition, so that
// Redis may have run some of a request's appends and not others when it
// dies). Before any retry the streams are read: no acknowledged point is
// missing, and a failed request is stored at most once, all or nothing per
// device (partially stored ones are counted in the figures). Then every
// failed request is retried with its key until it is acknowledged, and
// every request must be stored, and counted, exactly once.
func idemRedisKill(t *testing.T) {
	const rounds = 3
	c := newCluster(t) // appendfsync always
	rc := c.redis.Client()
	s := mustSchema(t)
	seed := faultSeed(t)
	var all []*request
	for round := range rounds {
		gen := func(r *rand.Rand, seq int64) *request {
			key := fmt.Sprintf("kill-%d-%d", round, seq)
			return spanningRequest(r, key, partitionDevices(s, key), 250)
		}
		l := startLoader(c.base, 4, seed+uint64(round), 0, gen)
		redistest.WaitFor(t, 30*time.Second, "8 requests acknowledged", func() bool { return l.acked() >= 8 })
		c.redis.Kill()
		all = append(all, l.stop()...)
		c.redis.Restart()
	}
	procs.WaitHTTP(t, c.base+"/readyz", http.StatusOK, 20*time.Second)

	before := judge(all, streamDeviceCounts(t, rc))
	for _, p := range before.problems {
		t.Error("before the retries: " + p)
	}
	if before.lost != 0 {
		t.Errorf("before the retries: %d acknowledged points are not in the streams", before.lost)
	}
	client := newClient(1, 10*time.Second)
	retries := 0
	for _, r := range all {
		for attempt := 0; !r.acked(); attempt++ {
			if attempt == 20 {
				t.Fatalf("request %s still answered %d (%v) after 20 retries", r.name(), r.code, r.err)
			}
			r.send(context.Background(), client, c.base)
			retries++
		}
	}
	after := judge(all, streamDeviceCounts(t, rc))
	for _, p := range after.problems {
		t.Error("after the retries: " + p)
	}
	c.startProcessor("p1")
	waitDrained(t, rc, 60*time.Second)
	counted := judgeCounted(t, rc, all)
	for _, p := range counted.problems {
		t.Error("counted: " + p)
	}
	if counted.lost != 0 || counted.duplicated != 0 {
		t.Errorf("counted: lost %d, duplicated %d", counted.lost, counted.duplicated)
	}
	f := figures{faults: rounds, sent: counted.sent, acked: counted.acked, counted: countedTotal(t, rc),
		lost: counted.lost, duplicated: counted.duplicated}
	f.add("requests", len(all), "failed_first", len(all)-before.ackedReqs,
		"stored_before_retry", before.storedUnacked, "partial_before_retry", before.partial, "retries", retries)
	logFigures(t, f)
}
