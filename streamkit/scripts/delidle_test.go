package scripts

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redistest"
)

// TestRemoveIdleConsumers: only consumers that are idle long enough, own no
// pending entry and are not the caller are removed, and removing them drops
// no entry from the group's pending list (delidle.lua's invariant). On a
// real server only: miniredis does not record when a consumer read (see
// TestRemoveIdleConsumersUnknownIdle).
func TestRemoveIdleConsumers(t *testing.T) {
	c := redistest.Start(t).Client()
	ctx := context.Background()
	f := newFixture(t, c)
	stream := f.schema.Stream(0)
	f.append(t, randomPoints(rand.New(rand.NewPCG(41, 42)), 6, "d1", "d2"))

	dead := f.read(t, "dead", 3)   // died holding 3 entries
	quiet := f.read(t, "quiet", 1) // counted its entry, then fell silent
	if err := c.XAck(ctx, stream, keys.Group, quiet[0].ID).Err(); err != nil {
		t.Fatal(err)
	}
	f.read(t, "self", 2) // the caller, holding 2 entries
	// Wide margins: "fresh" must stay below minIdle through several calls
	// on a busy machine, the others above it.
	const minIdle = time.Second
	time.Sleep(minIdle + 200*time.Millisecond)
	if err := c.XGroupCreateConsumer(ctx, stream, keys.Group, "fresh").Err(); err != nil {
		t.Fatal(err)
	}

	remove := func(want ...string) {
		t.Helper()
		got, err := RemoveIdleConsumers(ctx, c, stream, keys.Group, "self", minIdle)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("removed %q, want %q", got, want)
		}
		if n := pendingCount(t, c, stream); n != 5 {
			t.Errorf("%d entries pending after removing %q, want the 5 delivered and not acknowledged", n, got)
		}
	}
	remove("quiet") // "dead" owns entries, "self" is the caller, "fresh" is not idle long enough
	remove()

	// Once its entries are claimed, the dead consumer goes.
	f.claim(t, "self", ids(dead)...)
	remove("dead")
	if got := consumerNames(t, c, stream); !slices.Equal(got, []string{"fresh", "self"}) {
		t.Errorf("consumers left: %q, want fresh and self", got)
	}

	// A consumer removed while its read is blocked waiting for entries is
	// created again when the read is served: the entry is pending under it.
	if err := c.XGroupCreateConsumer(ctx, stream, keys.Group, "quiet").Err(); err != nil {
		t.Fatal(err)
	}
	got := make(chan []redis.XMessage, 1)
	go func() {
		res, err := c.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: keys.Group, Consumer: "quiet", Streams: []string{stream, ">"}, Count: 1, Block: 10 * time.Second,
		}).Result()
		if err != nil {
			t.Error(err)
			got <- nil
			return
		}
		got <- res[0].Messages
	}()
	waitBlocked(t, c)
	if removed, err := RemoveIdleConsumers(ctx, c, stream, keys.Group, "self", 0); err != nil || !slices.Equal(removed, []string{"fresh", "quiet"}) {
		t.Errorf("removed %q (%v), want fresh and quiet (owning nothing)", removed, err)
	}
	f.append(t, randomPoints(rand.New(rand.NewPCG(43, 44)), 1, "d3"))
	if msgs := <-got; len(msgs) != 1 {
		t.Fatalf("the blocked read returned %d entries, want 1", len(msgs))
	}
	if got := consumerNames(t, c, stream); !slices.Equal(got, []string{"quiet", "self"}) {
		t.Errorf("consumers after quiet read again: %q, want quiet and self", got)
	}
	if n := pendingCount(t, c, stream); n != 6 {
		t.Errorf("%d entries pending, want 6 (5 and the one quiet read)", n)
	}

	// The caller is never removed, even idle and owning nothing.
	for _, id := range pendingIDs(t, c, stream) {
		if err := c.XAck(ctx, stream, keys.Group, id).Err(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(minIdle + 200*time.Millisecond)
	if got, err := RemoveIdleConsumers(ctx, c, stream, keys.Group, "self", minIdle); err != nil || !slices.Equal(got, []string{"quiet"}) {
		t.Errorf("all idle, none owning entries: removed %q (%v), want quiet, not self", got, err)
	}

	if _, err := RemoveIdleConsumers(ctx, c, stream, keys.Group, "self", -time.Millisecond); err == nil || !strings.Contains(err.Error(), "least idle time") {
		t.Errorf("negative idle time: err %v, want the script's refusal", err)
	}
}

// TestRemoveIdleConsumersUnknownIdle: a consumer whose idle time the server
// did not record is kept. miniredis reports -1 for a consumer that read but
// never claimed; one that claimed has its time, and goes.
func TestRemoveIdleConsumersUnknownIdle(t *testing.T) {
	m := miniredis.RunT(t)
	c := redis.NewClient(&redis.Options{Addr: m.Addr()})
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	f := newFixture(t, c)
	stream := f.schema.Stream(0)
	f.append(t, randomPoints(rand.New(rand.NewPCG(45, 46)), 2, "d1"))
	read := f.read(t, "reader", 2)
	f.claim(t, "claimer", read[1].ID)
	for _, id := range ids(read) {
		if err := c.XAck(ctx, stream, keys.Group, id).Err(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := RemoveIdleConsumers(ctx, c, stream, keys.Group, "self", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"claimer"}) {
		t.Errorf("removed %q, want only claimer (reader's idle time is unknown)", got)
	}
}

// waitBlocked waits until a client of c's server is blocked (CLIENT LIST
// flag b), i.e. a blocking read has reached Redis.
func waitBlocked(t *testing.T, c *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		list, err := c.ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		for line := range strings.Lines(list) {
			for _, f := range strings.Fields(line) {
				if flags, ok := strings.CutPrefix(f, "flags="); ok && strings.Contains(flags, "b") {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no client blocked after 5 s")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func ids(msgs []redis.XMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func pendingIDs(t *testing.T, c *redis.Client, stream string) []string {
	t.Helper()
	p, err := c.XPendingExt(context.Background(), &redis.XPendingExtArgs{
		Stream: stream, Group: keys.Group, Start: "-", End: "+", Count: 1000,
	}).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(p))
	for i, e := range p {
		out[i] = e.ID
	}
	return out
}

func pendingCount(t *testing.T, c *redis.Client, stream string) int64 {
	t.Helper()
	p, err := c.XPending(context.Background(), stream, keys.Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

func consumerNames(t *testing.T, c *redis.Client, stream string) []string {
	t.Helper()
	cs, err := c.XInfoConsumers(context.Background(), stream, keys.Group).Result()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cs {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}
