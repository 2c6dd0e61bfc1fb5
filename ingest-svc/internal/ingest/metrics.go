package ingest

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/geostream/geostream/streamkit/metrics"
)

// Metrics are ingest-svc's Prometheus metrics. Build them with NewMetrics;
// a zero Deps.Metrics gets unregistered ones, so handlers never check nil.
type Metrics struct {
	reg      *prometheus.Registry
	http     *metrics.HTTP
	accepted prometheus.Counter
	rejected *prometheus.CounterVec
	batch    prometheus.Histogram
	refusals *prometheus.CounterVec
	byKey    *prometheus.CounterVec

	// By protocol: /upload ("upload", "geojson") and the device apps.
	protoPoints   *prometheus.CounterVec
	protoRejected *prometheus.CounterVec
	protoDropped  *prometheus.CounterVec
	protoIgnored  *prometheus.CounterVec
}

// NewMetrics registers ingest's metrics on reg (nil: a private registry,
// for tests that do not scrape).
func NewMetrics(reg *prometheus.Registry) *Metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &Metrics{
		reg:  reg,
		http: metrics.NewHTTP(reg),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "points_accepted_total",
			Help: "Points stored in a stream and acknowledged to the client with a 200.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "uploads_rejected_total",
			Help: "Uploads refused, by reason (invalid, too_large, unsupported_media_type, idempotency_conflict, backlog, unavailable, ...).",
		}, []string{"reason"}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "batch_points",
			Help:    "Points per accepted upload.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000},
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "requests_refused_total",
			Help: "API requests refused before their work, by reason (missing_key, invalid_key, scope, device, rate_limited, concurrency, overloaded) and API key id (\"\" without a valid key).",
		}, []string{"reason", "key"}),
		byKey: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metrics.Namespace, Subsystem: "ingest", Name: "key_points_accepted_total",
			Help: "Points stored with a 200, by API key id (only with API keys configured).",
		}, []string{"key"}),
	}
	m.protoPoints = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "ingest", Name: "protocol_points_accepted_total",
		Help: "Points stored with a 2xx, by protocol (upload, geojson, owntracks, osmand, traccar, overland).",
	}, []string{"protocol"})
	m.protoRejected = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "ingest", Name: "protocol_requests_rejected_total",
		Help: "Requests of the device protocols answered 4xx or 5xx, by protocol and reason (as uploads_rejected_total).",
	}, []string{"protocol", "reason"})
	m.protoDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "ingest", Name: "protocol_points_dropped_total",
		Help: "Invalid locations answered 200 and not stored (OwnTracks: the app would resend them forever), by protocol.",
	}, []string{"protocol"})
	m.protoIgnored = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "ingest", Name: "protocol_messages_ignored_total",
		Help: "Messages without a position answered 200 (OwnTracks lwt, transition, waypoint, ...), by protocol and type.",
	}, []string{"protocol", "type"})
	reg.MustRegister(m.accepted, m.rejected, m.batch, m.refusals, m.byKey,
		m.protoPoints, m.protoRejected, m.protoDropped, m.protoIgnored)
	return m
}

// Registry returns the registry the metrics are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// reasonKey is the gin context key a handler sets when a status code alone
// does not say why an upload was refused (503: backlog or unavailable).
const reasonKey = "geostream.reject_reason"

// statusReason names the refusal of an upload by its status code.
var statusReason = map[int]string{
	http.StatusBadRequest:            "invalid",
	http.StatusUnauthorized:          "unauthorized",
	http.StatusForbidden:             "forbidden",
	http.StatusRequestEntityTooLarge: "too_large",
	http.StatusUnsupportedMediaType:  "unsupported_media_type",
	http.StatusUnprocessableEntity:   "idempotency_conflict",
	http.StatusTooManyRequests:       "rate_limited",
	http.StatusServiceUnavailable:    "unavailable",
}

// instrument records every request's route, status and duration; for
// /upload also why it was refused.
func (m *Metrics) instrument(c *gin.Context) {
	t0 := m.http.Begin()
	c.Next()
	code := c.Writer.Status()
	route := c.FullPath()
	m.http.Done(t0, route, c.Request.Method, code)
	protocol, device := deviceRoutes[route]
	if (route != "/upload" && !device) || code < 400 {
		return
	}
	reason := c.GetString(reasonKey)
	if reason == "" {
		reason = statusReason[code]
	}
	if reason == "" {
		reason = "other"
	}
	if device {
		m.protoRejected.WithLabelValues(protocol, reason).Inc()
		return
	}
	m.rejected.WithLabelValues(reason).Inc()
}

// accept records an upload stored with n points by key ("" without
// authentication) in protocol.
func (m *Metrics) accept(n int64, key, protocol string) {
	m.accepted.Add(float64(n))
	m.protoPoints.WithLabelValues(protocol).Add(float64(n))
	m.batch.Observe(float64(n))
	if key != "" {
		m.byKey.WithLabelValues(key).Add(float64(n))
	}
}

// refused records a request refused for reason. key is the API key id, ""
// without a valid key: the label's values are bounded by the configured
// keys (never a client address, never the presented key).
func (m *Metrics) refused(reason, key string) {
	m.refusals.WithLabelValues(reason, key).Inc()
}
