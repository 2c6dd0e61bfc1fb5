package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// request is one upload a test sends itself. Its points belong to devices
// of its own, so that what Redis holds of it can be read back exactly: a
// device count of 0 means not stored, of its points once, more twice.
type request struct {
	key     string           // Idempotency-Key, "" for none
	body    []byte           // JSON array
	devices map[string]int64 // points per device
	n       int64

	code     int    // status of the last attempt; 0 for a transport error
	answer   []byte // body of the last answer
	err      error  // transport error of the last attempt
	replayed bool   // the answer said an earlier attempt had stored it
	attempts int
	start    time.Time // of the last attempt
	end      time.Time
}

// newRequest returns a request of pts, with an Idempotency-Key when key is
// not empty.
func newRequest(key string, pts []wirePoint) *request {
	r := &request{key: key, devices: map[string]int64{}, n: int64(len(pts))}
	for _, p := range pts {
		r.devices[p.DeviceID]++
	}
	r.body, _ = json.Marshal(pts)
	return r
}

func (r *request) acked() bool { return r.code == http.StatusOK }

func (r *request) took() time.Duration { return r.end.Sub(r.start) }

// send posts the request once with client.
func (r *request) send(ctx context.Context, client *http.Client, base string) {
	r.attempts++
	r.start = time.Now()
	defer func() { r.end = time.Now() }()
	req, err := http.NewRequestWithContext(ctx, "POST", base+"/upload", bytes.NewReader(r.body))
	if err != nil {
		r.code, r.err = 0, err
		return
	}
	req.Header.Set("Content-Type", "application/json")
	if r.key != "" {
		req.Header.Set("Idempotency-Key", r.key)
	}
	resp, err := client.Do(req)
	if err != nil {
		r.code, r.err = 0, err
		return
	}
	r.answer, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	r.code, r.err = resp.StatusCode, err
	r.replayed = resp.Header.Get("Idempotent-Replayed") == "true"
}

// newClient returns an HTTP client with one idle connection per worker and
// a bound on every attempt.
func newClient(workers int, timeout time.Duration) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = workers
	return &http.Client{Transport: tr, Timeout: timeout}
}

// loader sends requests from several goroutines until stopped, each
// request once, and keeps them all.
type loader struct {
	base   string
	client *http.Client
	gen    func(r *rand.Rand, seq int64) *request
	pause  time.Duration

	mu    sync.Mutex
	reqs  []*request
	acks  atomic.Int64
	seq   atomic.Int64
	stopc chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// startLoader starts workers goroutines sending gen's requests to base,
// pausing between two requests of a goroutine (pacing, not
// synchronisation).
func startLoader(base string, workers int, seed uint64, pause time.Duration, gen func(r *rand.Rand, seq int64) *request) *loader {
	l := &loader{base: base, client: newClient(workers, 10*time.Second), gen: gen, pause: pause, stopc: make(chan struct{})}
	for w := range workers {
		l.wg.Go(func() {
			r := rand.New(rand.NewPCG(seed, uint64(w)))
			for {
				select {
				case <-l.stopc:
					return
				default:
				}
				req := l.gen(r, l.seq.Add(1))
				req.send(context.Background(), l.client, l.base)
				if req.acked() {
					l.acks.Add(1)
				}
				l.mu.Lock()
				l.reqs = append(l.reqs, req)
				l.mu.Unlock()
				select {
				case <-l.stopc:
					return
				case <-time.After(l.pause):
				}
			}
		})
	}
	return l
}

// acked returns the number of requests acknowledged so far.
func (l *loader) acked() int64 { return l.acks.Load() }

// since returns the requests that ended after t.
func (l *loader) since(t time.Time) []*request {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*request
	for _, r := range l.reqs {
		if r.end.After(t) {
			out = append(out, r)
		}
	}
	return out
}

// stop stops the goroutines, waits for their last requests and returns
// every request. It may be called again (at cleanup).
func (l *loader) stop() []*request {
	l.once.Do(func() { close(l.stopc) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reqs
}

// singleDeviceRequest returns a generator of requests of 1 to maxPoints
// points of a device of their own ("<prefix>-<seq>"), with an
// Idempotency-Key when keyed.
func singleDeviceRequest(prefix string, maxPoints int, keyed bool) func(r *rand.Rand, seq int64) *request {
	return func(r *rand.Rand, seq int64) *request {
		dev := fmt.Sprintf("%s-%d", prefix, seq)
		pts := randomWire(r, 1+r.IntN(maxPoints), func(int) string { return dev })
		key := ""
		if keyed {
			key = dev
		}
		return newRequest(key, pts)
	}
}

// outcome is what Redis holds of a set of requests, compared with their
// answers.
type outcome struct {
	requests, ackedReqs                    int
	sent, acked, counted, lost, duplicated int64
	// unacked counts the points of requests not answered 200, storedUnacked
	// those of them that are stored anyway (the answer was lost, or a 503
	// came after the store began), partial the requests that are stored
	// for some of their devices only.
	unacked, storedUnacked int64
	partial                int
	// lostReqs are the acknowledged requests with missing points.
	lostReqs []*request
	// problems lists every request that breaks "acknowledged means stored
	// once; unacknowledged means stored at most once, all or nothing per
	// device".
	problems []string
}

// judge reads every request's devices with count (device → points stored
// or counted) and compares them with the answers.
func judge(reqs []*request, count map[string]int64) outcome {
	var o outcome
	for _, r := range reqs {
		o.requests++
		o.sent += r.n
		if r.acked() {
			o.ackedReqs++
			o.acked += r.n
		} else {
			o.unacked += r.n
		}
		stored, whole := int64(0), 0
		for d, want := range r.devices {
			got := count[d]
			o.counted += got
			switch {
			case got >= want:
				whole++
				stored += want
				if got > want {
					o.duplicated += got - want
					o.problems = append(o.problems, fmt.Sprintf("request %s (status %d): device %s counted %d times for %d points", r.name(), r.code, d, got, want))
				}
			case got > 0:
				o.problems = append(o.problems, fmt.Sprintf("request %s (status %d): device %s holds %d of its %d points (not all or nothing)", r.name(), r.code, d, got, want))
			}
		}
		switch {
		case r.acked() && stored < r.n:
			o.lost += r.n - stored
			o.lostReqs = append(o.lostReqs, r)
		case !r.acked():
			o.storedUnacked += stored
			if whole > 0 && whole < len(r.devices) {
				o.partial++
			}
		}
	}
	return o
}

// requestDevices returns the devices of reqs.
func requestDevices(reqs []*request) []string {
	var out []string
	for _, r := range reqs {
		for d := range r.devices {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

func (r *request) name() string {
	if r.key != "" {
		return r.key
	}
	for d := range r.devices {
		return d
	}
	return "?"
}

// judgeCounted judges reqs against the aggregates in rc.
func judgeCounted(t *testing.T, rc *redis.Client, reqs []*request) outcome {
	t.Helper()
	return judge(reqs, deviceCounts(t, rc, requestDevices(reqs)))
}
