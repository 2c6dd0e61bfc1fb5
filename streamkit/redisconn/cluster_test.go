package redisconn

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redisconn/clustertest"
	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/scripts"
)

// TestCluster runs the Redis Cluster checks of this package against one real
// 3-master cluster; each subtest uses its own key prefix. The last one kills
// a node.
func TestCluster(t *testing.T) {
	c := clustertest.Start(t, 3)
	open := func(t *testing.T, o Options) redis.UniversalClient {
		t.Helper()
		conn, err := Open(c.URL(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn.Client
	}
	ctx := context.Background()

	t.Run("open", func(t *testing.T) {
		for _, tt := range []struct {
			url string
			o   Options
		}{
			{c.URL(), Options{}}, // every node, comma-separated
			{"redis://" + c.Nodes[1].Addr, Options{Cluster: true}}, // one seed node
		} {
			conn, err := Open(tt.url, tt.o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(conn.Describe(), "redis cluster ") {
				t.Errorf("Describe() = %q", conn.Describe())
			}
			if err := Ping(ctx, conn.Client); err != nil {
				t.Errorf("ping %s: %v", tt.url, err)
			}
			// A key of every master is reachable through any seed.
			for p := range 3 {
				k := "open:{" + keys.Tag(p, 3) + "}:k"
				if err := conn.Client.Set(ctx, k, p, 0).Err(); err != nil {
					t.Errorf("set %s: %v", k, err)
				}
			}
			conn.Close()
		}
	})

	t.Run("meta", func(t *testing.T) {
		rdb := open(t, Options{})
		six, _ := keys.New("meta", 6)
		if err := CheckMeta(ctx, rdb, six, Pin{"resolutions", "1m:1h"}); err != nil {
			t.Fatalf("first start: %v", err)
		}
		if err := CheckMeta(ctx, rdb, six, Pin{"resolutions", "1m:1h"}); err != nil {
			t.Fatalf("same config again: %v", err)
		}
		eight, _ := keys.New("meta", 8)
		if err := CheckMeta(ctx, rdb, eight, Pin{"resolutions", "1m:1h"}); !errors.Is(err, ErrMetaMismatch) {
			t.Fatalf("other partition count: err = %v", err)
		}
	})

	t.Run("layout", func(t *testing.T) {
		rdb := open(t, Options{})
		// Equal slot ranges (as redis-cli --cluster create assigns them)
		// get an equal share of partitions when the count is a multiple
		// of the masters.
		for _, n := range []int{3, 6, 12} {
			s, _ := keys.New("gs", n)
			l, err := Layout(ctx, rdb, s)
			if err != nil {
				t.Fatal(err)
			}
			per := PartitionsPerNode(l)
			if len(per) != 3 {
				t.Errorf("%d partitions on %d masters, want 3: %v", n, len(per), per)
			}
			for node, ps := range per {
				if len(ps) != n/3 {
					t.Errorf("%d partitions: %s holds %v, want %d", n, node, ps, n/3)
				}
			}
			t.Logf("%d partitions: %v", n, per)
		}
	})

	t.Run("scripts load on every shard", func(t *testing.T) {
		rdb := open(t, Options{})
		flushScripts(t, c)
		if err := scripts.Append.Load(ctx, rdb).Err(); err != nil {
			t.Fatal(err)
		}
		for _, n := range c.Nodes {
			ok, err := c.NodeClient(n).ScriptExists(ctx, scripts.Append.Hash()).Result()
			if err != nil || !ok[0] {
				t.Errorf("append.lua on %s after Load: %v %v", n.Addr, ok, err)
			}
		}
	})

	t.Run("noscript falls back to eval", func(t *testing.T) {
		// A shard that never saw a script (added later, restarted without
		// AOF of its script cache, SCRIPT FLUSH) answers EVALSHA with
		// NOSCRIPT. Script.Run then sends EVAL; a pipeline's command
		// carries NOSCRIPT on its own, for the caller to re-send as EVAL.
		rdb := open(t, Options{MaxRetries: -1})
		s, _ := keys.New("noscript", 6)
		flushScripts(t, c)
		for p := range 6 {
			b := appendBatch(s, p, 3)
			if r, err := b.Run(ctx, rdb); err != nil || r.Stored != 3 {
				t.Fatalf("partition %d: append after SCRIPT FLUSH: %+v %v", p, r, err)
			}
		}
		flushScripts(t, c)
		pipe := rdb.Pipeline()
		cmds := make([]*redis.Cmd, 6)
		for p := range cmds {
			k, a := appendBatch(s, p, 2).Args()
			cmds[p] = scripts.Append.EvalSha(ctx, pipe, k, a...)
		}
		pipe.Exec(ctx)
		pipe = rdb.Pipeline()
		for p, cmd := range cmds {
			if !redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
				t.Fatalf("partition %d: pipelined EVALSHA after SCRIPT FLUSH: err = %v, want NOSCRIPT", p, cmd.Err())
			}
			k, a := appendBatch(s, p, 2).Args()
			cmds[p] = scripts.Append.Eval(ctx, pipe, k, a...)
		}
		pipe.Exec(ctx)
		for p, cmd := range cmds {
			if r, err := scripts.ParseAppend(cmd, s.Stream(p)); err != nil || r.Stored != 2 {
				t.Errorf("partition %d: pipelined EVAL: %+v %v", p, r, err)
			}
			var pts []point.Point
			for _, m := range rdb.XRange(ctx, s.Stream(p), "-", "+").Val() {
				var err error
				if pts, _, err = point.DecodeEntry(m.Values, pts); err != nil {
					t.Fatal(err)
				}
			}
			if len(pts) != 5 {
				t.Errorf("partition %d: stream holds %d points, want 5", p, len(pts))
			}
		}
	})

	t.Run("script sent once", func(t *testing.T) {
		// With MaxRetries -1 a script call that timed out after it was sent
		// must not be sent again: it may have run. (Without sendOnce,
		// go-redis's ClusterClient ran this one 2 times, pipelined 4.)
		rdb := open(t, Options{MaxRetries: -1, ReadTimeout: 100 * time.Millisecond})
		slow := redis.NewScript(`redis.call('INCR', KEYS[1])
local t0 = redis.call('TIME')
repeat local t = redis.call('TIME') until (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 300000
return 1`)
		if err := slow.Load(ctx, rdb).Err(); err != nil { // on every shard
			t.Fatal(err)
		}
		if err := slow.Run(ctx, rdb, []string{"once:{a}"}).Err(); err == nil {
			t.Fatal("a 300 ms script with a 100 ms read timeout: want a timeout")
		}
		pipe := rdb.Pipeline()
		slow.EvalSha(ctx, pipe, []string{"once:{b}"})
		if _, err := pipe.Exec(ctx); err == nil {
			t.Fatal("pipelined: want a timeout")
		}
		check := c.Client()
		for _, k := range []string{"once:{a}", "once:{b}"} {
			// The script is still running when the call returns; GET
			// waits behind it.
			if n, err := check.Get(ctx, k).Int(); err != nil || n != 1 {
				t.Errorf("%s: script ran %d times (%v), want once", k, n, err)
			}
		}
	})

	t.Run("one round trip per shard", func(t *testing.T) {
		// A global /retrieve reads every partition's total in one
		// pipeline; ClusterClient splits it by node and sends each part
		// as one pipeline, the nodes in parallel.
		conn, err := Open(c.URL(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		cc := conn.Client.(*redis.ClusterClient)
		type trip struct{ pipelines, commands int }
		var mu sync.Mutex
		trips := map[string]trip{}
		cc.OnNewNode(func(node *redis.Client) {
			// Count the pipelines of HGETALLs (a new connection's
			// handshake is a pipeline too).
			node.AddHook(pipelineCounter{func(cmds []redis.Cmder) {
				if cmds[0].Name() != "hgetall" {
					return
				}
				mu.Lock()
				tr := trips[node.Options().Addr]
				trips[node.Options().Addr] = trip{tr.pipelines + 1, tr.commands + len(cmds)}
				mu.Unlock()
			}})
		})
		s, _ := keys.New("trips", 12)
		for run := range 2 { // the first run also learns the topology and dials
			clear(trips)
			pipe := cc.Pipeline()
			for p := range 12 {
				pipe.HGetAll(ctx, s.Total(p))
			}
			if _, err := pipe.Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if len(trips) != 3 {
				t.Errorf("run %d: pipelines went to %d nodes, want 3: %v", run, len(trips), trips)
			}
			for addr, tr := range trips {
				if tr != (trip{1, 4}) {
					t.Errorf("run %d: %s got %d pipelines of %d commands in all, want 1 of 4", run, addr, tr.pipelines, tr.commands)
				}
			}
		}
		t.Logf("12 HGETALLs in one pipeline → per node {pipelines commands}: %v", trips)
	})

	t.Run("resharding under load", func(t *testing.T) {
		// Appends run while redis-cli moves partition 0's slot (with its
		// keys) to another master. Every call either stored its point or
		// failed without storing it (TRYAGAIN while the slot's keys are
		// split between the nodes), so the stream holds exactly the
		// acknowledged points; redirects are followed.
		rdb := open(t, Options{MaxRetries: -1})
		s, _ := keys.New("reshard", 6)
		tag := keys.Tag(0, 6)
		slot := keys.Slot(tag)
		from, err := c.Owner(ctx, slot)
		if err != nil {
			t.Fatal(err)
		}
		first := firstSlot(t, c, from)
		to := c.Nodes[0]
		if to == from {
			to = c.Nodes[1]
		}
		// Keys enough that moving them takes a while.
		pipe := rdb.Pipeline()
		for i := range 3000 {
			pipe.HSet(ctx, fmt.Sprintf("reshard:{%s}:dev:%d", tag, i), "n", i)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		// Workers 0 and 1 call the script one by one (Script.Run), 2 and 3
		// pipeline partitions 0 and 2 (on another master) as ingest does.
		var ok [6]atomic.Int64
		var failed atomic.Int64
		// Markers of one-day slices: their layout does not change (STALE)
		// during the test.
		markers := []*scripts.Markers{scripts.NewMarkers(s, 0, 24*time.Hour), nil, scripts.NewMarkers(s, 2, 24*time.Hour)}
		errs := sync.Map{}
		fail := func(err error) { // record the Redis error's first word
			failed.Add(1)
			msg := err.Error()
			if i := strings.LastIndex(msg, ": "); i >= 0 {
				msg = msg[i+2:]
			}
			kind, _, _ := strings.Cut(msg, " ")
			errs.Store(kind, true)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					batch := func(p int) *scripts.AppendBatch {
						b := appendBatch(s, p, 1)
						if i%2 == 0 { // an idempotency marker: a second key, created by the call
							b.Key = markers[p].Key(fmt.Sprintf("w%d-%d", w, i))
						}
						return b
					}
					if w < 2 {
						if _, err := batch(0).Run(ctx, rdb); err != nil {
							fail(err)
							continue
						}
						ok[0].Add(1)
					} else {
						parts := []int{0, 2}
						for j, err := range appendPipelined(ctx, rdb, []*scripts.AppendBatch{batch(0), batch(2)}) {
							if err != nil {
								fail(err)
								continue
							}
							ok[parts[j]].Add(1)
						}
					}
					// Reads of the moving partition go on too.
					if err := rdb.HGetAll(ctx, fmt.Sprintf("reshard:{%s}:dev:%d", tag, (w*1000+i)%3000)).Err(); err != nil {
						errs.Store("read: "+err.Error(), true)
					}
				}
			})
		}
		stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
		t.Cleanup(stopLoad) // also when a wait below fails
		// Some calls to the moving partition before the move, and some after
		// it, against a stale topology.
		calls := func() int64 { return ok[0].Load() + failed.Load() }
		redistest.WaitFor(t, 10*time.Second, "the load to start", func() bool { return calls() >= 100 })
		rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		out, err := c.Reshard(rctx, from, to, slot-first+1)
		cancel()
		after := calls()
		redistest.WaitFor(t, 10*time.Second, "calls after the move", func() bool { return calls() >= after+100 })
		stopLoad()
		if err != nil {
			t.Fatalf("%v\n%s", err, tail(out, 2000))
		}
		if owner, _ := c.Owner(ctx, slot); owner != to {
			t.Fatalf("slot %d is on %v after the reshard, want %s", slot, owner, to.Addr)
		}
		var kinds []string
		errs.Range(func(k, _ any) bool { kinds = append(kinds, k.(string)); return true })
		redirects := c.Redirects(context.Background())
		t.Logf("moved %d slots %s → %s; appends ok %d (partition 0) + %d (partition 2), failed %d %v; replies of the nodes: %v",
			slot-first+1, from.Addr, to.Addr, ok[0].Load(), ok[2].Load(), failed.Load(), kinds, redirects)
		if redirects["MOVED"]+redirects["ASK"] == 0 {
			t.Error("no MOVED or ASK reply: the clients never met the move")
		}
		for _, p := range []int{0, 2} {
			n, err := rdb.XLen(ctx, s.Stream(p)).Result()
			if err != nil {
				t.Fatal(err)
			}
			if n != ok[p].Load() {
				t.Errorf("partition %d: stream holds %d entries, %d appends succeeded", p, n, ok[p].Load())
			}
		}
		for _, k := range kinds {
			if k != "TRYAGAIN" { // the one error of a script call that did not run
				t.Errorf("during the move: %s", k)
			}
		}
		if ok[0].Load() == 0 {
			t.Error("no append succeeded")
		}
	})

	t.Run("ping covers every shard", func(t *testing.T) {
		rdb := open(t, Options{MaxRetries: -1, DialTimeout: 300 * time.Millisecond})
		if err := Ping(ctx, rdb); err != nil {
			t.Fatal(err)
		}
		dead := c.Nodes[2]
		dead.Kill()
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		err := Ping(pctx, rdb)
		if err == nil || !strings.Contains(err.Error(), dead.Addr) {
			t.Fatalf("ping with %s down: err = %v, want it named", dead.Addr, err)
		}
	})
}

// appendBatch is an Append call of n points of partition p of s.
func appendBatch(s *keys.Schema, p, n int) *scripts.AppendBatch {
	b := &scripts.AppendBatch{Stream: s.Stream(p), Backlog: s.Backlog(p)}
	for i := range n {
		b.Add(&point.Point{DeviceID: fmt.Sprintf("d%d", p), TimeMs: int64(1e12) + int64(i), LatE7: 525200000, LonE7: 134050000})
	}
	return b
}

// appendPipelined runs Append calls in one pipeline as ingest's committer
// does: EVALSHA, then EVAL for the calls answered NOSCRIPT.
func appendPipelined(ctx context.Context, rdb redis.UniversalClient, bs []*scripts.AppendBatch) []error {
	cmds := make([]*redis.Cmd, len(bs))
	pipe := rdb.Pipeline()
	for i, b := range bs {
		k, a := b.Args()
		cmds[i] = scripts.Append.EvalSha(ctx, pipe, k, a...)
	}
	pipe.Exec(ctx)
	pipe = rdb.Pipeline()
	for i, b := range bs {
		if redis.HasErrorPrefix(cmds[i].Err(), "NOSCRIPT") {
			k, a := b.Args()
			cmds[i] = scripts.Append.Eval(ctx, pipe, k, a...)
		}
	}
	if pipe.Len() > 0 {
		pipe.Exec(ctx)
	}
	errs := make([]error, len(bs))
	for i, b := range bs {
		_, errs[i] = scripts.ParseAppend(cmds[i], b.Stream)
	}
	return errs
}

func flushScripts(t *testing.T, c *clustertest.Cluster) {
	t.Helper()
	for _, n := range c.Nodes {
		if err := c.NodeClient(n).ScriptFlush(context.Background()).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// firstSlot returns the lowest slot n serves.
func firstSlot(t *testing.T, c *clustertest.Cluster, n *clustertest.Node) int {
	t.Helper()
	ranges, err := c.Slots(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range ranges {
		if r.Node == n {
			return r.Start
		}
	}
	t.Fatalf("%s serves no slot", n.Addr)
	return 0
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// pipelineCounter reports every pipeline a node client sends.
type pipelineCounter struct{ f func(cmds []redis.Cmder) }

func (pipelineCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.f(cmds)
		return next(ctx, cmds)
	}
}
