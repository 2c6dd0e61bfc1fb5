package ingest

import (
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/ingest-svc/internal/apikey"
	"github.com/geostream/geostream/ingest-svc/internal/web"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/metrics"
	"github.com/geostream/geostream/streamkit/scripts"
	"github.com/geostream/geostream/streamkit/service"
	"github.com/geostream/geostream/streamkit/window"
)

// Deps are the handlers' dependencies.
type Deps struct {
	// Redis is the client; ingest-svc builds it without retries (see
	// redisconn.Options.MaxRetries).
	Redis redis.UniversalClient
	// Schema names the keys.
	Schema *keys.Schema
	// Log receives one error line per failed request and, at debug level,
	// one line per request; nil discards.
	Log *slog.Logger
	// Now is the clock, for points without a timestamp and for the time
	// ranges of /retrieve (window=, retention); nil means time.Now.
	Now func() time.Time
	// Windows are the time-bucket resolutions the processors keep (pinned
	// in Redis by redisconn.CheckMeta); nil means window.DefaultSpec.
	Windows window.Set
	// Metrics are served on GET /metrics; nil gets a private registry.
	Metrics *Metrics
	// Keys are the API keys; nil turns authentication off (every request
	// is let in, rate limits apply per client IP with RateLimitByIP).
	Keys *apikey.Set
}

// handlers serves the API; each route is one of its methods.
type handlers struct {
	cfg    RouterConfig
	rdb    redis.UniversalClient
	schema *keys.Schema
	log    *slog.Logger
	now    func() time.Time
	wins   window.Set
	m      *Metrics
	keys   *apikey.Set

	// inFlight holds a token per API request being served (MaxInFlight).
	inFlight chan struct{}
	// perClient counts each client's requests in flight
	// (MaxInFlightPerClient); nil when off.
	perClient *clientSlots
	// commit coalesces concurrent uploads' appends (group commit).
	commit *committer
	// markers is each partition's Idempotency-Key marker layout.
	markers []*scripts.Markers

	// uploads and reads are the token buckets of RateLimit (points) and
	// ReadRateLimit (requests); nil when off.
	uploads, reads *buckets
}

// NewRouter returns the API's gin engine: POST /upload, the device apps'
// POST /owntracks, GET|POST /osmand, POST /traccar and POST /overland, GET /retrieve,
// GET /devices, GET /devices/{id}, GET /devices/{id}/track, GET /positions, GET /openapi.json, GET /healthz,
// GET /readyz, GET /metrics, and the web UI (GET / and GET /ui/{file}, package web).
// Every error, 404 and 405 included, is JSON (see errorBody).
// openapi.json describes every route; TestOpenAPIMatchesRouter keeps the
// two in step.
//
// The API endpoints pass, in order: the in-flight limit (503), the API
// key and its scope (401, 403; with Deps.Keys), the client's in-flight
// limit and read rate limit (429), then the handler, which checks the
// key's device prefixes (403) and, for uploads, the points rate limit
// (429). The health endpoints, /openapi.json and the web UI's files are
// always open (the page asks for a key itself);
// /metrics needs scope metrics when keys are configured, unless
// MetricsPublic.
func NewRouter(cfg RouterConfig, d Deps) *gin.Engine {
	e, _ := newRouter(cfg, d)
	return e
}

// newRouter is NewRouter, also returning the handlers (for tests).
func newRouter(cfg RouterConfig, d Deps) (*gin.Engine, *handlers) {
	gin.SetMode(gin.ReleaseMode)
	cfg.SetDefaults()
	h := &handlers{cfg: cfg, rdb: d.Redis, schema: d.Schema, log: d.Log, now: d.Now, wins: d.Windows, m: d.Metrics, keys: d.Keys}
	if h.m == nil {
		h.m = NewMetrics(nil)
	}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.wins == nil {
		h.wins = defaultWindows()
	}
	h.commit = newCommitter(d.Redis, cfg.RedisTimeout)
	h.markers = make([]*scripts.Markers, h.schema.Partitions())
	for p := range h.markers {
		h.markers[p] = scripts.NewMarkers(h.schema, p, cfg.IdempotencyTTL)
		h.markers[p].SetClock(h.now)
	}
	h.commit.minReplicas, h.commit.replicaTimeout = cfg.MinReplicasAcked, cfg.ReplicaAckTimeout
	if cfg.MaxInFlight > 0 {
		h.inFlight = make(chan struct{}, cfg.MaxInFlight)
	}
	if cfg.MaxInFlightPerClient > 0 {
		h.perClient = &clientSlots{max: cfg.MaxInFlightPerClient, n: map[string]int{}}
	}
	if cfg.RateLimit > 0 {
		h.uploads = newBuckets(cfg.RateLimit, cfg.RateBurst, h.now)
	}
	if cfg.ReadRateLimit > 0 {
		h.reads = newBuckets(cfg.ReadRateLimit, cfg.ReadRateBurst, h.now)
	}

	e := gin.New()
	e.HandleMethodNotAllowed = true
	// A path is the path: no redirects a client would follow with another
	// method or without its body.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	_ = e.SetTrustedProxies(nil) // nil cannot fail; no client IP is used anyway
	e.Use(h.m.instrument, h.logRequest, h.recoverPanic)
	e.NoRoute(h.noRoute)
	e.NoMethod(h.noMethod)

	write := func(f gin.HandlerFunc) []gin.HandlerFunc {
		return []gin.HandlerFunc{h.limitInFlight, h.authorize(apikey.ScopeWrite), h.limitClientInFlight, f} // upload rate-limits by points itself
	}
	read := func(f gin.HandlerFunc) []gin.HandlerFunc {
		return []gin.HandlerFunc{h.limitInFlight, h.authorize(apikey.ScopeRead), h.limitClientInFlight, h.limitReads, f}
	}
	e.POST("/upload", write(h.upload)...)
	// The device apps' URLs (docs/devices.md): keys also as Basic auth or
	// in the URL, since the apps cannot all send a Bearer header.
	device := func(f gin.HandlerFunc) []gin.HandlerFunc {
		return []gin.HandlerFunc{h.limitInFlight, h.authorizeWith(apikey.ScopeWrite, apikey.DeviceApps, msgDeviceKey), h.limitClientInFlight, f}
	}
	e.POST("/owntracks", device(h.owntracks)...)
	e.GET("/osmand", device(h.osmand)...)
	e.POST("/osmand", device(h.osmand)...)
	e.POST("/traccar", device(h.traccar)...)
	e.POST("/overland", device(h.overland)...)
	e.GET("/retrieve", read(h.retrieve)...)
	e.GET("/devices", read(h.listDevices)...)
	e.GET("/devices/:id", read(h.getDevice)...)
	e.GET("/devices/:id/track", read(h.getTrack)...)
	e.GET("/positions", read(h.listPositions)...)
	web.Register(e)
	e.GET("/openapi.json", serveOpenAPI)
	e.GET("/healthz", gin.WrapF(service.Healthz))
	e.GET("/readyz", gin.WrapF(service.Readyz(d.Redis)))
	metricsHandler := gin.WrapH(metrics.Handler(h.m.Registry()))
	if cfg.MetricsPublic {
		e.GET("/metrics", metricsHandler)
	} else {
		e.GET("/metrics", h.authorize(apikey.ScopeMetrics), metricsHandler)
	}
	return e, h
}

// routesHelp lists the endpoints, for the 404 answer.
const routesHelp = "the API has POST /upload, GET /retrieve, GET /devices, GET /devices/{id}, GET /devices/{id}/track, GET /positions, " +
	"POST /owntracks, GET|POST /osmand, POST /traccar, POST /overland, " +
	"GET /openapi.json, GET /healthz, GET /readyz and GET /metrics; the web UI is at GET /"

// defaultWindows returns the resolutions of window.DefaultSpec.
func defaultWindows() window.Set {
	s, err := window.Parse(window.DefaultSpec)
	if err != nil {
		panic("window.DefaultSpec does not parse: " + err.Error()) // a constant; TestParse checks it
	}
	return s
}

func (h *handlers) noRoute(c *gin.Context) {
	abortError(c, http.StatusNotFound, "no such endpoint: "+c.Request.Method+" "+c.Request.URL.Path+"; "+routesHelp)
}

func (h *handlers) noMethod(c *gin.Context) {
	// gin has set the Allow header.
	abortError(c, http.StatusMethodNotAllowed, "method "+c.Request.Method+" is not allowed on "+c.Request.URL.Path+
		"; use "+c.Writer.Header().Get("Allow"))
}

// recoverPanic turns a panicking handler into a logged JSON 500, so that one
// bad request cannot kill the process or get a text/plain answer.
func (h *handlers) recoverPanic(c *gin.Context) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if r == http.ErrAbortHandler { //nolint:errorlint // a sentinel value, as net/http compares it
			panic(r) // net/http's way to abort a response; it logs nothing
		}
		h.log.Error("panic in handler", "method", c.Request.Method, "path", c.Request.URL.Path,
			"panic", r, "stack", string(debug.Stack()))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		abortError(c, http.StatusInternalServerError, "internal error; it has been logged")
	}()
	c.Next()
}

// logRequest logs one line per request at debug level.
func (h *handlers) logRequest(c *gin.Context) {
	ctx := c.Request.Context()
	if !h.log.Enabled(ctx, slog.LevelDebug) {
		c.Next()
		return
	}
	start := time.Now()
	c.Next()
	h.log.LogAttrs(ctx, slog.LevelDebug, "request",
		slog.String("method", c.Request.Method),
		slog.String("path", c.Request.URL.Path),
		slog.String("key", keyID(c)), // the key's id, never the key
		slog.Int("status", c.Writer.Status()),
		slog.Int("bytes", c.Writer.Size()),
		slog.Duration("duration", time.Since(start)))
}
