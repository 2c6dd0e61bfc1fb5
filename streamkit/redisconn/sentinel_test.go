package redisconn

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redisconn/clustertest"
	"github.com/geostream/geostream/streamkit/redistest"
)

func TestParseSentinelURL(t *testing.T) {
	tests := []struct {
		url                string
		addrs              []string
		master, user, pass string
		db                 int
		sentUser, sentPass string
		tls                bool
		err                string
	}{
		{url: "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380/mymaster", addrs: []string{"10.0.0.1:26379", "10.0.0.2:26380"}, master: "mymaster"},
		{url: "redis+sentinel://u:p%40ss@s1,s2:1/m/3", addrs: []string{"s1:26379", "s2:1"}, master: "m", user: "u", pass: "p@ss", db: 3},
		{url: "rediss+sentinel://:pw@[::1]:26379/m?sentinel_password=sp&sentinel_username=su", addrs: []string{"[::1]:26379"}, master: "m", pass: "pw", sentUser: "su", sentPass: "sp", tls: true},
		{url: "redis+sentinel://s1:26379", err: "must name the master"},
		{url: "redis+sentinel://s1:26379/m/x", err: "invalid database"},
		{url: "redis+sentinel:///m", err: "no sentinel host"},
		{url: "redis+sentinel://s1/m?master_name=x", err: "unknown parameters master_name"},
		{url: "redis://s1/m", err: "must start with"},
	}
	for _, tt := range tests {
		o, err := ParseSentinelURL(tt.url)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSentinelURL(%q) = %v, want error %q", tt.url, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSentinelURL(%q): %v", tt.url, err)
			continue
		}
		got := []any{o.SentinelAddrs, o.MasterName, o.Username, o.Password, o.DB, o.SentinelUsername, o.SentinelPassword, o.TLSConfig != nil}
		want := []any{tt.addrs, tt.master, tt.user, tt.pass, tt.db, tt.sentUser, tt.sentPass, tt.tls}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("ParseSentinelURL(%q) = %v, want %v", tt.url, got, want)
		}
	}
}

func TestOpenSentinel(t *testing.T) {
	c, err := Open("redis+sentinel://u:s3cret@127.0.0.1:1,127.0.0.1:2/mymaster", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := c.Describe(), "redis sentinel master mymaster via 127.0.0.1:1,127.0.0.1:2"; got != want {
		t.Errorf("Describe() = %q, want %q", got, want)
	}
	if _, err := Open("redis+sentinel://u:s3cret@h/m/notadb", Options{}); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad url: err = %v, want an error without the password", err)
	}
	if _, err := Open("redis+sentinel://h/m", Options{Cluster: true}); err == nil {
		t.Error("sentinel url with Cluster: no error")
	}
}

// A primary, one replica and three sentinels: writes acknowledged by the
// replica (WAIT through the failover client) survive a SIGKILL of the
// primary; the sentinels promote the replica and the same client writes
// to it without being rebuilt.
func TestSentinelFailover(t *testing.T) {
	g := redistest.StartSentinelGroup(t, 1, 3, time.Second)
	conn, err := Open(g.URL(), Options{MaxRetries: -1, ReadTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	incr := func(ctx context.Context) error {
		wctx, acks := WithReplicaAcks(ctx, 1, 500*time.Millisecond)
		pipe := conn.Client.Pipeline()
		cmd := pipe.Eval(wctx, "return redis.call('INCR', KEYS[1])", []string{"n"})
		if _, err := pipe.Exec(wctx); err != nil {
			return err
		}
		return acks.Check(cmd)
	}
	const before = 50
	for i := range before {
		if err := incr(ctx); err != nil {
			t.Fatalf("write %d before the failover: %v", i, err)
		}
	}
	old := g.Servers[0]
	old.Kill()
	t0 := time.Now()
	promoted, err := g.WaitPromoted(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sentinels promoted %s %v after the SIGKILL of %s", promoted.Addr, time.Since(t0).Round(time.Millisecond), old.Addr)
	// The client finds the new primary on its own; poll until it writes.
	var last error
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last write error: %v", last)
		}
	})
	dl, _ := ctx.Deadline()
	redistest.WaitFor(t, time.Until(dl), "a write after the failover", func() bool {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		defer wcancel()
		last = conn.Client.Incr(wctx, "n").Err()
		return last == nil
	})
	n, err := conn.Client.Get(ctx, "n").Int()
	if err != nil {
		t.Fatal(err)
	}
	if n != before+1 {
		t.Errorf("after the failover n = %d, want %d: acknowledged writes were lost", n, before+1)
	}
	// Without a replica left, WAIT 1 fails: the write is stored, the
	// acknowledgement refused.
	err = incr(ctx)
	if !errors.Is(err, ErrNotReplicated) {
		t.Errorf("write with no replica left: err = %v, want ErrNotReplicated", err)
	}
	t.Logf("without replicas: %v", err)
}

// WAIT must follow a write on the connection that wrote it. With the
// replica of one master frozen, writes to that master's slots fail the
// check and writes to the others pass, in every one of many mixed
// pipelines: a WAIT sent to another master (as a keyless command in a
// ClusterClient pipeline would be) would pass.
func TestReplicaAcksCluster(t *testing.T) {
	c := clustertest.StartWithReplicas(t, 3, 1, "--cluster-node-timeout", "5000")
	conn, err := Open(c.URL(), Options{MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ranges, err := c.Slots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One key per master.
	keyOf := map[string]string{}
	for i := 0; len(keyOf) < 3 && i < 1000; i++ {
		tag := fmt.Sprintf("t%d", i)
		k := "wait:{" + tag + "}"
		owner, err := c.Owner(ctx, keys.Slot(tag))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := keyOf[owner.Addr]; !ok {
			keyOf[owner.Addr] = k
		}
	}
	frozenMaster := c.Node(ranges[0].Node.Addr)
	replica, err := c.ReplicaOf(ctx, frozenMaster)
	if err != nil || replica == nil {
		t.Fatalf("replica of %s: %v %v", frozenMaster.Addr, replica, err)
	}
	// go-redis fetches COMMAND info from a random node on first use and
	// again after a failure: fetch it while every node answers, or a fetch
	// from the frozen replica stalls a later call by the read timeout.
	for _, k := range keyOf {
		if err := conn.Client.Eval(ctx, "return redis.call('INCR', KEYS[1])", []string{k}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// incrAll increments every master's key in one pipeline waiting up to
	// timeout for a replica, and returns each write's Check by address.
	incrAll := func(timeout time.Duration) map[string]error {
		wctx, acks := WithReplicaAcks(ctx, 1, timeout)
		pipe := conn.Client.Pipeline()
		cmds := map[string]*redis.Cmd{}
		for addr, k := range keyOf {
			cmds[addr] = pipe.Eval(wctx, "return redis.call('INCR', KEYS[1])", []string{k})
		}
		if _, err := pipe.Exec(wctx); err != nil {
			t.Fatal(err)
		}
		checks := map[string]error{}
		for addr, cmd := range cmds {
			checks[addr] = acks.Check(cmd)
		}
		return checks
	}
	// Every replica acknowledges before one is frozen: a replica still in
	// its first sync would fail round 0 for a healthy master (seen once on
	// a loaded machine).
	for addr, err := range incrAll(10 * time.Second) {
		if err != nil {
			t.Fatalf("warm-up write to %s: %v", addr, err)
		}
	}
	replica.Stop()
	defer replica.Cont()
	for round := range 6 {
		for addr, err := range incrAll(200 * time.Millisecond) {
			if addr == frozenMaster.Addr && !errors.Is(err, ErrNotReplicated) {
				t.Errorf("round %d: write to %s, whose replica is frozen: Check = %v, want ErrNotReplicated", round, addr, err)
			}
			if addr != frozenMaster.Addr && err != nil {
				t.Errorf("round %d: write to %s: Check = %v", round, addr, err)
			}
		}
	}
	// Without WithReplicaAcks nothing waits.
	t0 := time.Now()
	if err := conn.Client.Eval(ctx, "return redis.call('INCR', KEYS[1])", []string{keyOf[frozenMaster.Addr]}).Err(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d > 150*time.Millisecond {
		t.Errorf("a write without WithReplicaAcks took %v", d)
	}
}
