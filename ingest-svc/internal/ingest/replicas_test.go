package ingest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redistest"
)

func TestValidateReplicas(t *testing.T) {
	tests := []struct {
		n       int
		timeout time.Duration
		ok      bool
	}{
		{0, 0, true}, // off: the timeout is not used
		{1, time.Second, true},
		{1, 2 * time.Second, false}, // not less than redis-timeout
		{1, 0, false},
		{-1, time.Second, false},
		{MaxMinReplicasAcked + 1, time.Second, false},
	}
	for _, tt := range tests {
		c := DefaultRouterConfig()
		c.MinReplicasAcked, c.ReplicaAckTimeout = tt.n, tt.timeout
		if err := c.Validate(); (err == nil) != tt.ok {
			t.Errorf("MinReplicasAcked %d, ReplicaAckTimeout %v: Validate() = %v, want ok %v", tt.n, tt.timeout, err, tt.ok)
		}
	}
}

// With --min-replicas-acked 1 on a primary with one replica: uploads
// answer 200 while the replica keeps up; with the replica frozen they
// answer 503 (stored on the primary, not replicated), and so does their
// retry with the same Idempotency-Key, which is replayed from the marker,
// not stored again; once the replica resumes the retry answers 200
// (replayed): the fence after the replay waited for the replica.
func TestReplicaAcksRealRedis(t *testing.T) {
	primary := redistest.Start(t)
	host, port, _ := net.SplitHostPort(primary.Addr)
	replica := redistest.Start(t, "--replicaof", host, port)
	cfg := DefaultRouterConfig()
	cfg.RedisTimeout = 1500 * time.Millisecond
	cfg.MinReplicasAcked, cfg.ReplicaAckTimeout = 1, 300*time.Millisecond
	schema, err := keys.New("rep", 4)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	api := startAPI(t, primary.URL(), cfg, schema)
	// A second ingest instance with its own connections: a retry landing
	// there replays, and must still wait for the replica. (On Redis 7.0
	// WAIT covers every write before any command of the connection, so this
	// retry answers 503 even without the fence; the fence is for 7.2 and
	// later, where TestReplayFenceWaitsForTheReplica shows it is needed.)
	api2 := startAPI(t, primary.URL(), cfg, schema)
	post := func(body, key string) (int, http.Header, string) {
		t.Helper()
		return postTo(t, api.URL, body, key)
	}
	// Wait until the replica is in sync.
	rc := replica.Client()
	redistest.WaitFor(t, 10*time.Second, "the replica in sync", func() bool {
		info, _ := rc.Info(ctx, "replication").Result()
		return strings.Contains(info, "master_link_status:up")
	})
	if code, _, b := postTo(t, api2.URL, `{"latitude":0,"longitude":0,"device_id":"warm"}`, ""); code != 200 {
		t.Fatalf("upload through the second instance: %d %s", code, b)
	}
	body := func(i int) string {
		return fmt.Sprintf(`[{"latitude":1,"longitude":%d,"device_id":"a%d"},{"latitude":2,"longitude":%d,"device_id":"b%d"}]`, i, i, i, i)
	}
	if code, _, b := post(body(1), "k1"); code != 200 {
		t.Fatalf("upload with the replica in sync: %d %s", code, b)
	}

	replica.Pause()
	resumed := false
	defer func() {
		if !resumed {
			replica.Resume()
		}
	}()
	code, h, b := post(body(2), "k2")
	if code != 503 || h.Get("Retry-After") == "" || !strings.Contains(b, "not yet on enough of its replicas") {
		t.Fatalf("upload with the replica frozen: %d %q %s, want 503 with Retry-After", code, h.Get("Retry-After"), b)
	}
	code, _, b = post(body(2), "k2")
	if code != 503 {
		t.Fatalf("retry with the replica frozen: %d %s, want 503 (replayed, still not replicated)", code, b)
	}
	code, h, b = postTo(t, api2.URL, body(2), "k2")
	if code != 503 {
		t.Fatalf("retry through another instance with the replica frozen: %d %v %s, want 503 (replayed, still not replicated)", code, h, b)
	}
	replica.Resume()
	resumed = true
	code, h, b = post(body(2), "k2")
	if code != 200 || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry with the replica back: %d replayed=%q %s, want 200 replayed", code, h.Get("Idempotent-Replayed"), b)
	}
	// Stored once, on the primary and on the replica.
	var onPrimary, onReplica int64
	for p := range schema.Partitions() {
		onPrimary += primary.Client().XLen(ctx, schema.Stream(p)).Val()
		onReplica += rc.XLen(ctx, schema.Stream(p)).Val()
	}
	if onPrimary != 5 || onReplica != 5 {
		t.Errorf("stream entries: primary %d, replica %d, want 5 each (1 point and 2 uploads of 2 points, each once)", onPrimary, onReplica)
	}
}

func postTo(t *testing.T, base, body, key string) (int, http.Header, string) {
	t.Helper()
	r, _ := http.NewRequest(http.MethodPost, base+"/upload", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if key != "" {
		r.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}
