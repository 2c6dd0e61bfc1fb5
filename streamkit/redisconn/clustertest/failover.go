package clustertest

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/geostream/geostream/streamkit/redisconn/shards"
	"github.com/geostream/geostream/streamkit/redistest"
)

// Role returns "master" or "slave" as the node reports it (INFO
// replication), or an error when it does not answer.
func (n *Node) Role(ctx context.Context) (string, error) {
	info, err := n.rdb.Info(ctx, "replication").Result()
	if err != nil {
		return "", fmt.Errorf("info replication %s: %w", n.Addr, err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "role:"); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("info replication %s: no role", n.Addr)
}

// Stop freezes the node with SIGSTOP (a hang: its sockets stay open);
// Cont resumes it.
func (n *Node) Stop() { n.signal(syscall.SIGSTOP) }

// Cont resumes a node frozen by Stop.
func (n *Node) Cont() { n.signal(syscall.SIGCONT) }

func (n *Node) signal(sig syscall.Signal) {
	if n.cmd != nil {
		redistest.SignalGroup(n.cmd.Process.Pid, sig)
	}
}

// WaitReplicasUp polls every running node that is a replica until its
// link to its master is up.
func (c *Cluster) WaitReplicasUp(ctx context.Context) error {
	for {
		last := ""
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			info, err := n.rdb.Info(ctx, "replication").Result()
			if err != nil {
				last = n.Addr + ": " + err.Error()
				break
			}
			if strings.Contains(info, "role:slave\r\n") && !strings.Contains(info, "master_link_status:up\r\n") {
				last = n.Addr + ": replica link not up"
				break
			}
		}
		if last == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("replicas not in sync: %s: %w", last, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}

// ReplicaOf returns the node replicating master, nil if none does (as
// master sees it: INFO replication's slave0 line).
func (c *Cluster) ReplicaOf(ctx context.Context, master *Node) (*Node, error) {
	info, err := master.rdb.Info(ctx, "replication").Result()
	if err != nil {
		return nil, fmt.Errorf("info replication %s: %w", master.Addr, err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if !strings.HasPrefix(line, "slave0:") {
			continue
		}
		var ip, port string
		for _, f := range strings.Split(strings.TrimPrefix(line, "slave0:"), ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "ip":
				ip = v
			case "port":
				port = v
			}
		}
		return c.Node(ip + ":" + port), nil
	}
	return nil, nil
}

// WaitFailover polls the nodes other than gone until none of them sees
// gone serving a slot and every one of them reports cluster_state:ok: a
// replica of gone has been promoted. It returns the node now serving slot.
func (c *Cluster) WaitFailover(ctx context.Context, gone *Node, slot int) (*Node, error) {
	for {
		owner, err := c.ownerSeenBy(ctx, gone, slot)
		if err == nil && owner != gone {
			return owner, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no failover of %s: %v: %w", gone.Addr, err, ctx.Err())
		case <-time.After(50 * time.Millisecond): // polling interval
		}
	}
}

// ownerSeenBy returns the owner of slot as every live node other than
// skip sees it, when they agree and all report cluster_state:ok.
func (c *Cluster) ownerSeenBy(ctx context.Context, skip *Node, slot int) (*Node, error) {
	var owner *Node
	for _, n := range c.Nodes {
		if n == skip || n.cmd == nil {
			continue
		}
		info, err := n.rdb.ClusterInfo(ctx).Result()
		if err != nil {
			return nil, err
		}
		if !strings.Contains(info, "cluster_state:ok\r\n") {
			return nil, fmt.Errorf("%s: cluster_state not ok", n.Addr)
		}
		ranges, err := shards.Masters(ctx, n.rdb)
		if err != nil {
			return nil, err
		}
		var o *Node
		for _, r := range ranges {
			if slot >= r.Start && slot <= r.End {
				o = c.Node(r.Addr)
			}
		}
		if o == nil || (owner != nil && o != owner) {
			return nil, fmt.Errorf("nodes disagree on the owner of slot %d", slot)
		}
		owner = o
	}
	return owner, nil
}
