package apitest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/geostream/geostream/streamkit/geo"
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
	pts, err := parse(body, ct == "application/x-ndjson")
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid upload", err.Error())
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

// wirePoint is the API's JSON point; pointers tell "absent" from zero.
type wirePoint struct {
	Timestamp *string  `json:"timestamp"`
	Latitude  *float64 `json:"latitude"`
	Longitude *float64 `json:"longitude"`
	DeviceID  *string  `json:"device_id"`
	Altitude  *float64 `json:"altitude"`
	Speed     *float64 `json:"speed"`
	Heading   *float64 `json:"heading"`
	Accuracy  *float64 `json:"accuracy"`
}

// parse decodes a body as the contract says: one object, an array, or one
// object per line; unknown fields and out-of-range values reject the
// whole batch.
func parse(body []byte, ndjson bool) ([]point.Point, error) {
	var raws []json.RawMessage
	switch {
	case ndjson:
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, MaxBody)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				raws = append(raws, append(json.RawMessage(nil), line...))
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	case len(bytes.TrimSpace(body)) > 0 && bytes.TrimSpace(body)[0] == '[':
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, err
		}
	default:
		raws = []json.RawMessage{body}
	}
	if len(raws) == 0 {
		return nil, errors.New("no points")
	}
	pts := make([]point.Point, len(raws))
	for i, raw := range raws {
		p, err := parsePoint(raw)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		pts[i] = p
	}
	return pts, nil
}

func parsePoint(raw json.RawMessage) (point.Point, error) {
	var w wirePoint
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return point.Point{}, err
	}
	if w.Latitude == nil || w.Longitude == nil {
		return point.Point{}, errors.New("latitude and longitude are required")
	}
	p := point.Point{DeviceID: point.DefaultDevice, TimeMs: time.Now().UnixMilli()}
	var err error
	if p.LatE7, err = geo.LatitudeE7(*w.Latitude); err != nil {
		return p, fmt.Errorf("latitude: %w", err)
	}
	if p.LonE7, err = geo.LongitudeE7(*w.Longitude); err != nil {
		return p, fmt.Errorf("longitude: %w", err)
	}
	if w.DeviceID != nil {
		if err := point.ValidDeviceID(*w.DeviceID); err != nil {
			return p, err
		}
		p.DeviceID = *w.DeviceID
	}
	if w.Timestamp != nil {
		t, err := time.Parse(time.RFC3339Nano, *w.Timestamp)
		if err != nil {
			return p, fmt.Errorf("timestamp: %w", err)
		}
		p.TimeMs = t.UnixMilli()
	}
	p.Extras = point.Extras{Altitude: w.Altitude, Speed: w.Speed, Heading: w.Heading, Accuracy: w.Accuracy}
	return p, nil
}
