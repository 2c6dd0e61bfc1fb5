// Package apitest is an in-memory fake of the geostream API for tests: it
// parses uploads as strictly as the contract says, keeps Idempotency-Keys,
// aggregates with agg.Sums exactly as the processor does, and answers
// /retrieve from those sums (with from/to, from the points whose event
// time lies in [from, to)). Options inject faults (503/429 with
// Retry-After, hangs, dropped connections, a success whose answer is lost),
// visibility lag, and wrong answers, so that the client, the runner and the
// verifier can be tested against every behaviour they must handle.
package apitest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/point"
)

// Call describes one upload attempt as the fake saw it.
type Call struct {
	Seq     int    // 0-based index of the upload call
	Key     string // Idempotency-Key, "" when absent
	KeySeq  int    // 0-based index of the key's first appearance; -1 without key
	Attempt int    // 1-based attempt number for this key
	Points  int    // points in the body (0 when it did not parse)
}

// Fault is how the fake misbehaves for one upload call. The zero Fault is
// normal service.
type Fault struct {
	// Status, when non-zero, is answered instead of 200 with an API error
	// body.
	Status int
	// RetryAfter is sent as the Retry-After header when non-empty.
	RetryAfter string
	// StoreFirst stores the points before answering Status: a success whose
	// answer never reached the client.
	StoreFirst bool
	// Hang blocks until the client gives up on the attempt.
	Hang bool
	// Drop closes the connection without answering.
	Drop bool
}

// Option configures a Server.
type Option func(*Server)

// WithFault calls f for every upload call with a body that parsed.
func WithFault(f func(Call) Fault) Option { return func(s *Server) { s.fault = f } }

// WithRetrieveFault calls f for every /retrieve (n from 0); only the
// fault's Status and RetryAfter apply.
func WithRetrieveFault(f func(n int) Fault) Option { return func(s *Server) { s.retrieveFault = f } }

// WithApply sets what a stored point does to the aggregates: f returns the
// points to add (none drops it, two copies double-count it). i is the
// 0-based index of the point among all stored points.
func WithApply(f func(i int, p point.Point) []point.Point) Option {
	return func(s *Server) { s.apply = f }
}

// WithMutate lets f alter every /retrieve answer before it is sent; q is
// the request's query.
func WithMutate(f func(q url.Values, sum *agg.Summary)) Option {
	return func(s *Server) { s.mutate = f }
}

// WithLag makes stored points visible asynchronously: each /retrieve
// applies at most n pending points to the aggregates before answering, the
// way a processor catches up with its stream.
func WithLag(n int) Option { return func(s *Server) { s.lag = n } }

// Server is the fake API.
type Server struct {
	// URL is the base URL to give the simulator.
	URL string

	fault         func(Call) Fault
	retrieveFault func(int) Fault
	apply         func(int, point.Point) []point.Point
	mutate        func(url.Values, *agg.Summary)
	lag           int

	mu        sync.Mutex
	calls     []Call
	keys      map[string]int // key → first KeySeq
	stored    map[string]int // key → accepted count, for replays
	nStored   int
	pending   []point.Point
	global    agg.Sums
	devices   map[string]*agg.Sums
	applied   []point.Point // visible points, for ranged answers
	retrieves int
	ranged    int
}

// New starts a fake API on 127.0.0.1, closed when the test ends.
func New(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	s := &Server{keys: map[string]int{}, stored: map[string]int{}, devices: map[string]*agg.Sums{}}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", s.upload)
	mux.HandleFunc("GET /retrieve", s.retrieve)
	ts := httptest.NewServer(mux)
	tb.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// Calls returns every upload call so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// StoredPoints returns how many points were stored (before WithApply's
// changes), visible or not.
func (s *Server) StoredPoints() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nStored
}

// Retrieves returns how many /retrieve requests were answered.
func (s *Server) Retrieves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.retrieves
}

// RangedRetrieves returns how many /retrieve requests with from/to were
// answered.
func (s *Server) RangedRetrieves() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ranged
}

// store records pts under key (may be "") and queues them for the
// aggregates. The caller holds s.mu.
func (s *Server) store(key string, pts []point.Point) {
	if key != "" {
		s.stored[key] = len(pts)
	}
	for _, p := range pts {
		out := []point.Point{p}
		if s.apply != nil {
			out = s.apply(s.nStored, p)
		}
		s.nStored++
		s.pending = append(s.pending, out...)
	}
	if s.lag == 0 {
		s.catchUp(len(s.pending))
	}
}

// catchUp applies up to n pending points. The caller holds s.mu.
func (s *Server) catchUp(n int) {
	n = min(n, len(s.pending))
	for _, p := range s.pending[:n] {
		s.global.AddPoint(p)
		d := s.devices[p.DeviceID]
		if d == nil {
			d = &agg.Sums{}
			s.devices[p.DeviceID] = d
		}
		d.AddPoint(p)
		s.applied = append(s.applied, p)
	}
	s.pending = s.pending[n:]
}

// parseRange reads from and to (RFC 3339, both or neither); ok is false
// when there are neither.
func parseRange(q url.Values) (from, to int64, ok bool, err error) {
	if !q.Has("from") && !q.Has("to") {
		return 0, 0, false, nil
	}
	f, err1 := time.Parse(time.RFC3339Nano, q.Get("from"))
	t, err2 := time.Parse(time.RFC3339Nano, q.Get("to"))
	if err1 != nil || err2 != nil || !f.Before(t) {
		return 0, 0, false, fmt.Errorf("from and to must be RFC 3339 times, from before to")
	}
	return f.UnixMilli(), t.UnixMilli(), true, nil
}

func (s *Server) retrieve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for k := range q {
		if k != "device_id" && k != "from" && k != "to" {
			writeError(w, http.StatusBadRequest, "unknown query parameter "+k)
			return
		}
	}
	from, to, ranged, err := parseRange(q)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.mu.Lock()
	n := s.retrieves
	s.retrieves++
	if s.retrieveFault != nil {
		if f := s.retrieveFault(n); f.Status != 0 {
			s.mu.Unlock()
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			writeError(w, f.Status, fmt.Sprintf("injected %d", f.Status))
			return
		}
	}
	s.catchUp(s.lag) // with no lag, store applied everything already
	sums := s.global
	if id := q.Get("device_id"); q.Has("device_id") {
		if point.ValidDeviceID(id) != nil {
			s.mu.Unlock()
			writeError(w, http.StatusBadRequest, point.ErrBadDeviceID.Error())
			return
		}
		sums = agg.Sums{}
		if d := s.devices[id]; d != nil {
			sums = *d
		}
	}
	if ranged {
		s.ranged++
		sums = agg.Sums{}
		for _, p := range s.applied {
			if p.TimeMs >= from && p.TimeMs < to && (!q.Has("device_id") || p.DeviceID == q.Get("device_id")) {
				sums.AddPoint(p)
			}
		}
	}
	s.mu.Unlock()
	sum, ok := sums.Summary()
	if !ok {
		writeError(w, http.StatusBadRequest, "No data available for processing")
		return
	}
	if s.mutate != nil {
		s.mutate(q, &sum)
	}
	writeJSON(w, http.StatusOK, sum)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string, details ...any) {
	body := map[string]any{"error": msg}
	if len(details) > 0 {
		body["details"] = details
	}
	writeJSON(w, code, body)
}
