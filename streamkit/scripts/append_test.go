package scripts

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redistest"
	"github.com/geostream/geostream/streamkit/redistest/backends"
)

func TestAppendStoresEveryPoint(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		pts := randomPoints(rand.New(rand.NewPCG(7, 8)), 50, "a", "b")
		alt, spd := 12.5, 3.0
		pts[3].Extras.Altitude, pts[3].Extras.Speed = &alt, &spd
		f.append(t, pts)
		msgs, err := c.XRange(context.Background(), f.schema.Stream(0), "-", "+").Result()
		if err != nil || len(msgs) != len(pts) {
			t.Fatalf("XRANGE: %d entries, %v", len(msgs), err)
		}
		for i, m := range msgs {
			got, err := point.FromValues(m.Values)
			if err != nil {
				t.Fatal(err)
			}
			want := pts[i]
			if got.DeviceID != want.DeviceID || got.TimeMs != want.TimeMs || got.LatE7 != want.LatE7 || got.LonE7 != want.LonE7 {
				t.Errorf("entry %d = %+v, want %+v", i, got, want)
			}
			if (got.Extras.Altitude == nil) != (want.Extras.Altitude == nil) ||
				got.Extras.Altitude != nil && *got.Extras.Altitude != *want.Extras.Altitude {
				t.Errorf("entry %d altitude = %v, want %v", i, got.Extras.Altitude, want.Extras.Altitude)
			}
		}
	})
}

// A retry with the same idempotency key stores nothing and reports what the
// first attempt stored (append.lua, invariant 2).
func TestAppendIdempotent(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		ctx := context.Background()
		pts := randomPoints(rand.New(rand.NewPCG(9, 10)), 7, "a")
		b := AppendBatch{
			Stream: f.schema.Stream(0), Marker: f.schema.Idempotency(0, "k1"),
			MarkerTTLMs: 60_000, Fingerprint: "fp-1",
		}
		for i := range pts {
			b.Add(&pts[i])
		}
		first, err := b.Run(ctx, c)
		if err != nil || first != (AppendResult{Stored: 7, Fingerprint: "fp-1"}) {
			t.Fatalf("first = %+v, %v", first, err)
		}
		b.Fingerprint = "fp-2" // a retry (or a misuse of the key with other content)
		again, err := b.Run(ctx, c)
		if err != nil || again != (AppendResult{Stored: 7, Replayed: true, Fingerprint: "fp-1"}) {
			t.Fatalf("retry = %+v, %v", again, err)
		}
		if n, _ := c.XLen(ctx, f.schema.Stream(0)).Result(); n != 7 {
			t.Fatalf("XLEN = %d, want 7", n)
		}
		if ttl, _ := c.PTTL(ctx, f.schema.Idempotency(0, "k1")).Result(); ttl <= 0 {
			t.Errorf("marker TTL = %v, want > 0", ttl)
		}
	})
}

// Over the backlog limit the call fails with ErrBacklog and writes nothing
// (append.lua, invariant 1).
func TestAppendAllOrNothing(t *testing.T) {
	backends.Each(t, func(t *testing.T, c *redis.Client) {
		f := newFixture(t, c)
		ctx := context.Background()
		f.append(t, randomPoints(rand.New(rand.NewPCG(11, 12)), 10, "a"))
		b := AppendBatch{Stream: f.schema.Stream(0), BacklogLimit: 10, Marker: f.schema.Idempotency(0, "k"), MarkerTTLMs: 1000}
		pts := randomPoints(rand.New(rand.NewPCG(13, 14)), 3, "a")
		for i := range pts {
			b.Add(&pts[i])
		}
		if _, err := b.Run(ctx, c); !errors.Is(err, ErrBacklog) {
			t.Fatalf("err = %v, want ErrBacklog", err)
		}
		if n, _ := c.Exists(ctx, f.schema.Idempotency(0, "k")).Result(); n != 0 {
			t.Error("marker written by a refused call: its retry would be lost")
		}
		b.BacklogLimit = 14
		if res, err := b.Run(ctx, c); err != nil || res.Stored != 3 {
			t.Fatalf("under the limit: %+v, %v", res, err)
		}
		// Malformed layouts: TestAppendCallMalformed.
		if n, _ := c.XLen(ctx, f.schema.Stream(0)).Result(); n != 13 {
			t.Errorf("XLEN = %d, want 13", n)
		}
	})
}

// Entries already counted but kept for replay (the processor's --retention)
// are not backlog: only undelivered and pending ones are. On miniredis,
// which does not track the group's lag, the stream length stands in.
func TestAppendBacklogIgnoresCountedEntries(t *testing.T) {
	ctx := context.Background()
	c := redistest.Start(t).Client()
	f := newFixture(t, c)
	f.append(t, randomPoints(rand.New(rand.NewPCG(15, 16)), 10, "a"))
	f.apply(t, f.read(t, "c", 10)) // all ten counted, still in the stream
	b := AppendBatch{Stream: f.schema.Stream(0), BacklogLimit: 5}
	pts := randomPoints(rand.New(rand.NewPCG(17, 18)), 3, "a")
	for i := range pts {
		b.Add(&pts[i])
	}
	if res, err := b.Run(ctx, c); err != nil || res.Stored != 3 {
		t.Fatalf("10 counted entries and a limit of 5: %+v, %v (counted entries are not backlog)", res, err)
	}
	f.read(t, "c", 2) // 2 pending + 1 undelivered = 3 < 5
	if _, err := b.Run(ctx, c); err != nil {
		t.Fatalf("backlog 3 of 5: %v", err)
	}
	// Now 2 pending + 4 undelivered = 6 ≥ 5.
	if _, err := b.Run(ctx, c); !errors.Is(err, ErrBacklog) {
		t.Fatalf("backlog 6 of 5: err = %v, want ErrBacklog", err)
	}
}

// wireRecorder is a go-redis client whose connection records the bytes the
// client writes, to see arguments exactly as Redis receives them.
type wireRecorder struct {
	c   *redis.Client
	mu  sync.Mutex
	buf bytes.Buffer
}

func newWireRecorder(t *testing.T) *wireRecorder {
	t.Helper()
	m := miniredis.RunT(t)
	w := &wireRecorder{}
	w.c = redis.NewClient(&redis.Options{
		Addr: m.Addr(), PoolSize: 1,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &recordingConn{Conn: conn, w: w}, nil
		},
	})
	t.Cleanup(func() { w.c.Close() })
	if err := w.c.Ping(context.Background()).Err(); err != nil { // connection set-up, not recorded
		t.Fatal(err)
	}
	return w
}

type recordingConn struct {
	net.Conn
	w *wireRecorder
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.w.mu.Lock()
	c.w.buf.Write(p)
	c.w.mu.Unlock()
	return c.Conn.Write(p)
}

// send writes a command of args (ECHO, which fails, but after the whole
// command has been written) and returns its bytes as sent.
func (w *wireRecorder) send(t *testing.T, args []any) []byte {
	t.Helper()
	w.mu.Lock()
	w.buf.Reset()
	w.mu.Unlock()
	_ = w.c.Do(context.Background(), append([]any{"ECHO"}, args...)...).Err()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len() == 0 {
		t.Fatal("nothing written")
	}
	return bytes.Clone(w.buf.Bytes())
}

// referenceEntries lays out pts as AppendBatch did when it sent the
// strings of point.AppendFields: per point F, then the F strings.
func referenceEntries(pts []point.Point) []any {
	var e []any
	for i := range pts {
		f := pts[i].AppendLegacyFields(nil)
		e = append(e, len(f))
		for _, s := range f {
			e = append(e, s)
		}
	}
	return e
}

func pointsWithExtras(r *rand.Rand, n int) []point.Point {
	pts := randomPoints(r, n, "a", "dev-0042", "x:y.z_w-1")
	floats := []float64{0, 1, -12.5, 359.99, 1e21, 1e-7, 123456789.125, 4.9e-324, 3.25}
	for i := range pts {
		if i%7 == 0 {
			pts[i].TimeMs, pts[i].LatE7, pts[i].LonE7 = 0, -5, 255 // small numbers
		}
		for _, dst := range []**float64{&pts[i].Extras.Altitude, &pts[i].Extras.Speed, &pts[i].Extras.Heading, &pts[i].Extras.Accuracy} {
			if r.IntN(3) == 0 {
				f := floats[r.IntN(len(floats))]
				*dst = &f
			}
		}
	}
	return pts
}

// The arguments of a batch reach Redis byte for byte as the strings of
// point.AppendFields would, in the layout append.lua reads (per entry F,
// then F field/value values), and stay so when more points are added after
// Args (the values live in blocks that are never overwritten).
func TestAppendBatchWireBytes(t *testing.T) {
	w := newWireRecorder(t)
	r := rand.New(rand.NewPCG(19, 20))
	for _, n := range []int{1, 2, 5, 600, 2500} {
		pts := pointsWithExtras(r, n)
		var b AppendBatch
		for i := range pts {
			b.Add(&pts[i])
		}
		if b.Len() != n {
			t.Fatalf("Len() = %d, want %d", b.Len(), n)
		}
		want := w.send(t, referenceEntries(pts))
		got := w.send(t, b.entries)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d points: entries sent as\n%.300q\nwant\n%.300q", n, got, want)
		}
		_, args := b.Args()
		sent := w.send(t, args)
		more := pointsWithExtras(r, 1500)
		for i := range more {
			b.Add(&more[i])
		}
		if again := w.send(t, args); !bytes.Equal(again, sent) {
			t.Fatalf("%d points: arguments taken before more Add calls changed", n)
		}
		if got, want := w.send(t, b.entries), w.send(t, referenceEntries(append(pts, more...))); !bytes.Equal(got, want) {
			t.Fatalf("%d+%d points: entries differ from point.AppendFields", n, len(more))
		}
	}
}

// Adding a point allocates nothing of its own (the batch's blocks and
// entries grow geometrically).
func TestAppendBatchAddAllocations(t *testing.T) {
	pts := randomPoints(rand.New(rand.NewPCG(21, 22)), 1000, "a", "b")
	allocs := testing.AllocsPerRun(20, func() {
		var b AppendBatch
		for i := range pts {
			b.Add(&pts[i])
		}
	})
	if perPoint := allocs / float64(len(pts)); perPoint > 0.1 {
		t.Errorf("%.0f allocations for %d points (%.2f a point), want next to none", allocs, len(pts), perPoint)
	}
}
