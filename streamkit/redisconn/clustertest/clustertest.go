// Package clustertest starts a real Redis Cluster for integration tests: N
// redis-server masters with cluster mode on, each on a free loopback port in
// its own temporary directory, joined with `redis-cli --cluster create`, and
// stopped by their pids when the test ends. It never touches a Redis the
// machine already runs.
//
// Like streamkit/redistest, it skips the test when redis-server or redis-cli
// is missing, unless CI or GEOSTREAM_REQUIRE_REDIS is set: then it fails.
package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/redisconn/shards"
	"github.com/geostream/geostream/streamkit/redistest"
)

// startTimeout bounds the start of the nodes and the forming of the cluster.
const startTimeout = 30 * time.Second

// Cluster is a Redis Cluster started by a test.
type Cluster struct {
	tb    testing.TB
	Nodes []*Node
	args  []string // extra redis-server arguments of every node
}

// Node is one master of a Cluster.
type Node struct {
	Addr string // host:port
	Dir  string // working directory (nodes.conf, AOF)
	ID   string // cluster node id
	cmd  *exec.Cmd
	done chan struct{}
	rdb  *redis.Client // plain client of this node, closed at cleanup
	tb   testing.TB
}

// Require skips tb (or fails it, see Required) when redis-server or
// redis-cli is not installed.
func Require(tb testing.TB) {
	tb.Helper()
	redistest.SkipShort(tb)
	for _, name := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(name); err != nil {
			if redistest.Required() {
				tb.Fatalf("%s not found and CI/GEOSTREAM_REQUIRE_REDIS is set: %v", name, err)
			}
			tb.Skipf("%s not installed (set GEOSTREAM_REQUIRE_REDIS=1 to make this a failure): %v", name, err)
		}
	}
}

// Start starts a cluster of masters (no replicas) with AOF on (appendfsync
// everysec) and extra redis-server arguments, waits until every node reports
// cluster_state:ok and knows every other, and registers the shutdown of
// every node with tb.Cleanup.
func Start(tb testing.TB, masters int, args ...string) *Cluster {
	tb.Helper()
	return start(tb, masters, 0, args)
}

// StartWithReplicas is Start with replicas replicas of every master (the
// nodes after the first masters; redis-cli chooses which master each
// replicates) and waits until every replica's link to its master is up.
// Give "--cluster-node-timeout" in args for a failover within seconds.
func StartWithReplicas(tb testing.TB, masters, replicas int, args ...string) *Cluster {
	tb.Helper()
	return start(tb, masters, replicas, args)
}

func start(tb testing.TB, masters, replicas int, args []string) *Cluster {
	tb.Helper()
	Require(tb)
	if masters < 3 {
		tb.Fatalf("clustertest: redis-cli --cluster create needs at least 3 masters, got %d", masters)
	}
	c := &Cluster{tb: tb, args: args}
	tb.Cleanup(c.kill)
	for range masters * (1 + replicas) {
		c.Nodes = append(c.Nodes, c.startNode(args))
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	create := []string{"--cluster", "create"}
	create = append(create, c.Addrs()...)
	create = append(create, "--cluster-replicas", strconv.Itoa(replicas), "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", create...).CombinedOutput(); err != nil {
		tb.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	if err := c.WaitOK(ctx); err != nil {
		tb.Fatal(err)
	}
	for _, n := range c.Nodes {
		id, err := c.NodeClient(n).ClusterMyID(ctx).Result()
		if err != nil {
			tb.Fatalf("cluster myid %s: %v", n.Addr, err)
		}
		n.ID = id
	}
	if replicas > 0 {
		if err := c.WaitReplicasUp(ctx); err != nil {
			tb.Fatal(err)
		}
	}
	return c
}

func (c *Cluster) startNode(args []string) *Node {
	c.tb.Helper()
	port, err := freeClusterPort()
	if err != nil {
		c.tb.Fatal(err)
	}
	n := &Node{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: c.tb.TempDir(), tb: c.tb}
	n.rdb = redis.NewClient(&redis.Options{Addr: n.Addr, MaxRetries: -1})
	c.tb.Cleanup(func() { n.rdb.Close() })
	c.run(n, args)
	return n
}

// Restart starts a killed node again on its port and directory: it
// reads its nodes.conf and AOF and rejoins the cluster (as a replica of
// the master that replaced it, if one did).
func (c *Cluster) Restart(n *Node) {
	c.tb.Helper()
	if n.cmd != nil {
		c.tb.Fatal("clustertest: Restart of a running node")
	}
	c.run(n, c.args)
}

// run starts redis-server for n and waits until it answers PING.
func (c *Cluster) run(n *Node, args []string) {
	c.tb.Helper()
	_, portStr, _ := net.SplitHostPort(n.Addr)
	port, _ := strconv.Atoi(portStr)
	all := append([]string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", n.Dir,
		"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
		"--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
		"--protected-mode", "yes", "--logfile", filepath.Join(n.Dir, "redis.log"),
	}, args...)
	n.cmd, n.done = redistest.Launch(c.tb, n.Addr, n.Dir, all...)
}

// WaitOK polls every node until each reports cluster_state:ok, all 16384
// slots assigned and every node known, or ctx ends.
func (c *Cluster) WaitOK(ctx context.Context) error {
	var last string
	for {
		last = ""
		for _, n := range c.Nodes {
			info, err := c.NodeClient(n).ClusterInfo(ctx).Result()
			if err != nil {
				last = n.Addr + ": " + err.Error()
				break
			}
			for _, want := range []string{"cluster_state:ok", "cluster_slots_ok:16384",
				"cluster_known_nodes:" + strconv.Itoa(len(c.Nodes))} {
				if !strings.Contains(info, want+"\r\n") {
					last = n.Addr + ": no " + want
					break
				}
			}
			if last != "" {
				break
			}
		}
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ok: %s: %w", last, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}

// Addrs returns the nodes' host:port addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// URL returns the nodes' redis:// URLs separated by commas: the form of
// GEOSTREAM_REDIS_URL that selects Redis Cluster.
func (c *Cluster) URL() string {
	urls := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		urls[i] = "redis://" + n.Addr
	}
	return strings.Join(urls, ",")
}

// Client returns a go-redis ClusterClient of the cluster, closed at cleanup.
func (c *Cluster) Client() *redis.ClusterClient {
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs()})
	c.tb.Cleanup(func() { cl.Close() })
	return cl
}

// NodeClient returns a plain client of one node (no redirects followed),
// closed at cleanup.
func (c *Cluster) NodeClient(n *Node) *redis.Client { return n.rdb }

// Node returns the node of address addr, nil if there is none.
func (c *Cluster) Node(addr string) *Node {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// SlotRange is a range of slots one node serves.
type SlotRange struct {
	Start, End int // inclusive
	Node       *Node
}

// Slots returns the slot ranges as the first node sees them, in slot order.
func (c *Cluster) Slots(ctx context.Context) ([]SlotRange, error) {
	ranges, err := shards.Masters(ctx, c.NodeClient(c.Nodes[0]))
	if err != nil {
		return nil, err
	}
	out := make([]SlotRange, len(ranges))
	for i, r := range ranges {
		out[i] = SlotRange{Start: r.Start, End: r.End, Node: c.Node(r.Addr)}
	}
	return out, nil
}

// Owner returns the node serving slot.
func (c *Cluster) Owner(ctx context.Context, slot int) (*Node, error) {
	ranges, err := c.Slots(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range ranges {
		if slot >= r.Start && slot <= r.End {
			return r.Node, nil
		}
	}
	return nil, fmt.Errorf("slot %d is not served", slot)
}

// Redirects sums the MOVED, ASK and TRYAGAIN replies every node has sent
// (INFO errorstats), by kind; a node that does not answer counts nothing.
func (c *Cluster) Redirects(ctx context.Context) map[string]int {
	out := map[string]int{}
	for _, n := range c.Nodes {
		info, err := n.rdb.Info(ctx, "errorstats").Result()
		if err != nil {
			continue
		}
		for _, line := range strings.Split(info, "\r\n") {
			var kind string
			var count int
			if _, err := fmt.Sscanf(strings.ReplaceAll(line, ":count=", " "), "errorstat_%s %d", &kind, &count); err == nil {
				if kind == "MOVED" || kind == "ASK" || kind == "TRYAGAIN" {
					out[kind] += count
				}
			}
		}
	}
	return out
}

// Reshard moves slots from one master to another with `redis-cli --cluster
// reshard`: the lowest-numbered slots of from, with their keys, while
// clients keep running (they see MOVED, ASK and TRYAGAIN). It returns
// redis-cli's output.
func (c *Cluster) Reshard(ctx context.Context, from, to *Node, slots int) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "redis-cli", "--cluster", "reshard", from.Addr,
		"--cluster-from", from.ID, "--cluster-to", to.ID,
		"--cluster-slots", strconv.Itoa(slots), "--cluster-yes")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.Bytes(), fmt.Errorf("redis-cli --cluster reshard %d slots %s → %s: %w", slots, from.Addr, to.Addr, err)
	}
	return out.Bytes(), nil
}

// Pid returns the process id of the node, 0 when stopped.
func (n *Node) Pid() int {
	if n.cmd == nil || n.cmd.Process == nil {
		return 0
	}
	return n.cmd.Process.Pid
}

// Kill stops the node with SIGKILL, as a crash would, and waits for it. It
// is safe to call on a stopped node.
func (n *Node) Kill() {
	if n.cmd == nil {
		return
	}
	pid := n.cmd.Process.Pid
	redistest.SignalGroup(pid, syscall.SIGKILL)
	<-n.done
	n.cmd = nil
	redistest.WaitFor(n.tb, 5*time.Second, "the processes redis-server forked to exit", func() bool { return redistest.GroupGone(pid) })
}

func (c *Cluster) kill() {
	for _, n := range c.Nodes {
		n.Kill()
	}
}

// freeClusterPort returns a port that was free on 127.0.0.1 a moment ago
// together with its cluster bus port (port + 10000).
func freeClusterPort() (int, error) {
	for range 50 {
		port, err := redistest.FreePort()
		if err != nil {
			return 0, err
		}
		if port+10000 > 65535 {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port+10000)))
		if err != nil {
			continue
		}
		l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("find free port with a free cluster bus port")
}
