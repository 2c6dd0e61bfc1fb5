package ingest

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// MaxLimitedClients bounds the client IPs with a rate limiter of their own
// (--rate-limit-by-ip): about 200 bytes each. Past it, idle clients are
// forgotten (a full bucket is the same as a new one); when none is idle,
// new clients share one bucket.
const MaxLimitedClients = 10_000

// buckets are token buckets, one per client (an API key id or a client
// IP): rate tokens a second, up to burst.
type buckets struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	m         map[string]*rate.Limiter
	shared    *rate.Limiter // for clients past MaxLimitedClients
	lastSweep time.Time
}

func newBuckets(perSecond float64, burst int, now func() time.Time) *buckets {
	return &buckets{
		rate: rate.Limit(perSecond), burst: burst, now: now,
		m: map[string]*rate.Limiter{}, shared: rate.NewLimiter(rate.Limit(perSecond), burst),
	}
}

// take takes n tokens from client's bucket and returns 0, or takes none
// and returns how long to wait until n tokens are there.
func (b *buckets) take(client string, n int) time.Duration {
	now := b.now()
	l := b.get(client, now)
	r := l.ReserveN(now, n)
	if !r.OK() { // n > burst; Validate keeps the largest batch within the burst
		return time.Duration(float64(n) / float64(b.rate) * float64(time.Second))
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

func (b *buckets) get(client string, now time.Time) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l, ok := b.m[client]; ok {
		return l
	}
	if len(b.m) >= MaxLimitedClients && now.Sub(b.lastSweep) >= time.Second {
		b.lastSweep = now
		for id, l := range b.m {
			if l.TokensAt(now) >= float64(b.burst) {
				delete(b.m, id)
			}
		}
	}
	if len(b.m) >= MaxLimitedClients {
		return b.shared
	}
	l := rate.NewLimiter(b.rate, b.burst)
	b.m[client] = l
	return l
}

// rateClient names the bucket of a request: its key id, or with
// --rate-limit-by-ip and authentication off its client IP; "" when the
// request is not rate limited.
func (h *handlers) rateClient(c *gin.Context) string {
	if k := apiKeyOf(c); k != nil {
		return "key:" + k.ID
	}
	if h.keys == nil && h.cfg.RateLimitByIP {
		return "ip:" + c.ClientIP()
	}
	return ""
}

// limitReads is the middleware of the read endpoints: one token of the
// client's read bucket per request (--read-rate-limit), or 429.
func (h *handlers) limitReads(c *gin.Context) {
	if h.reads == nil {
		return
	}
	if client := h.rateClient(c); client != "" {
		if wait := h.reads.take(client, 1); wait > 0 {
			h.abortRateLimited(c, wait, fmt.Sprintf("%g requests/s", h.cfg.ReadRateLimit))
		}
	}
}

// limitUploadStart takes one token of the client's upload bucket
// (--rate-limit, in points) before the body is read, so that a client over
// its limit costs no decoding; limitUploadPoints takes the rest once the
// points are counted. It returns false after answering 429.
func (h *handlers) limitUploadStart(c *gin.Context) bool {
	return h.limitUpload(c, 1)
}

// limitUploadPoints takes the tokens of an upload's points beyond the one
// limitUploadStart took.
func (h *handlers) limitUploadPoints(c *gin.Context, points int) bool {
	return h.limitUpload(c, points-1)
}

func (h *handlers) limitUpload(c *gin.Context, n int) bool {
	if h.uploads == nil || n < 1 {
		return true
	}
	client := h.rateClient(c)
	if client == "" {
		return true
	}
	if wait := h.uploads.take(client, n); wait > 0 {
		h.abortRateLimited(c, wait, fmt.Sprintf("%g points/s", h.cfg.RateLimit))
		return false
	}
	return true
}

// abortRateLimited answers 429 with Retry-After: the whole seconds until
// the bucket holds what the request needs.
func (h *handlers) abortRateLimited(c *gin.Context, wait time.Duration, limit string) {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	h.refuse(c, refusedRateLimited, apiKeyOf(c))
	c.Header("Retry-After", strconv.Itoa(secs))
	who := "this client"
	if k := apiKeyOf(c); k != nil {
		who = fmt.Sprintf("the API key %q", k.ID)
	}
	abortError(c, http.StatusTooManyRequests, fmt.Sprintf("%s is over its rate limit of %s; retry after %d s", who, limit, secs))
}

// clientSlots counts the requests in flight of each client; a client
// without any has no entry, so the map holds at most MaxInFlight entries.
type clientSlots struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

func (s *clientSlots) acquire(client string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[client] >= s.max {
		return false
	}
	s.n[client]++
	return true
}

func (s *clientSlots) release(client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[client]--; s.n[client] <= 0 {
		delete(s.n, client)
	}
}

// limitClientInFlight answers 429 when the request's client (key or IP,
// see rateClient) already has MaxInFlightPerClient requests in flight:
// one client's slow requests cannot hold every slot of limitInFlight.
func (h *handlers) limitClientInFlight(c *gin.Context) {
	if h.perClient == nil {
		return
	}
	client := h.rateClient(c)
	if client == "" {
		return
	}
	if !h.perClient.acquire(client) {
		h.refuse(c, refusedConcurrency, apiKeyOf(c))
		c.Header("Retry-After", "1")
		who := "this client"
		if k := apiKeyOf(c); k != nil {
			who = fmt.Sprintf("the API key %q", k.ID)
		}
		abortError(c, http.StatusTooManyRequests, fmt.Sprintf("%s already has %d requests in flight, its limit; wait for one to finish",
			who, h.cfg.MaxInFlightPerClient))
		return
	}
	defer h.perClient.release(client)
	c.Next()
}

// limitInFlight is the first middleware of the API endpoints: past
// --max-in-flight requests being served it answers 503 at once, so that a
// flood queues nowhere and memory stays bounded. Health and metrics
// endpoints are not limited: a probe must see a busy server as alive.
func (h *handlers) limitInFlight(c *gin.Context) {
	if h.inFlight == nil {
		return
	}
	select {
	case h.inFlight <- struct{}{}:
		defer func() { <-h.inFlight }()
		c.Next()
	default:
		h.refuse(c, refusedOverloaded, nil)
		c.Set(reasonKey, refusedOverloaded)
		abortUnavailable(c, fmt.Sprintf("the server is serving its limit of %d requests; retry later", h.cfg.MaxInFlight))
	}
}
