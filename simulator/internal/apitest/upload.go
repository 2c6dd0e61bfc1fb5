package apitest

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/geostream/geostream/streamkit/point"
)

// MaxBody is the fake's body limit, the API's default.
const MaxBody = 8 << 20

func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	if key != "" && !validKey(key) {
		writeError(w, http.StatusBadRequest, "Idempotency-Key must be 1-128 printable ASCII characters")
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/json" && ct != "application/x-ndjson" {
		writeError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json or application/x-ndjson")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		return // the client went away
	}
	if len(body) > MaxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "request body is larger than 8 MiB")
		return
	}
	kind := point.BodyJSON
	if ct == "application/x-ndjson" {
		kind = point.BodyNDJSON
	}
	// The API's own decoder, so that the fake accepts and refuses what the
	// API does.
	pts, err := point.DecodeBytes(body, kind, point.DecodeOptions{})
	var de *point.DecodeError
	switch {
	case errors.Is(err, point.ErrTooManyPoints):
		writeError(w, http.StatusRequestEntityTooLarge, "the request holds too many points; split the batch into smaller requests")
		return
	case errors.As(err, &de):
		details := make([]any, len(de.Details))
		for i, d := range de.Details {
			details[i] = map[string]string{"message": d.String()}
		}
		writeError(w, http.StatusBadRequest, "the request body holds invalid points; nothing was stored", details...)
		return
	case err != nil:
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}

	s.mu.Lock()
	c := Call{Seq: len(s.calls), Key: key, KeySeq: -1, Points: len(pts)}
	if key != "" {
		first, seen := s.keys[key]
		if !seen {
			first = len(s.keys)
			s.keys[key] = first
		}
		c.KeySeq = first
		for _, prev := range s.calls {
			if prev.Key == key {
				c.Attempt = max(c.Attempt, prev.Attempt)
			}
		}
	}
	c.Attempt++
	s.calls = append(s.calls, c)
	var f Fault
	if s.fault != nil {
		f = s.fault(c)
	}
	n, replay := s.stored[key]
	if f.StoreFirst && !(replay && key != "") {
		s.store(key, pts)
	}
	s.mu.Unlock()

	switch {
	case f.Hang:
		<-r.Context().Done()
		return
	case f.Drop:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case f.Status != 0:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		writeError(w, f.Status, fmt.Sprintf("injected %d", f.Status))
		return
	}
	if replay && key != "" {
		w.Header().Set("Idempotent-Replayed", "true")
		writeJSON(w, http.StatusOK, map[string]any{"message": "Data uploaded successfully", "accepted": n})
		return
	}
	s.mu.Lock()
	s.store(key, pts)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"message": "Data uploaded successfully", "accepted": len(pts)})
}

func validKey(k string) bool {
	if len(k) == 0 || len(k) > 128 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}
