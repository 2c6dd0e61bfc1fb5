package ingest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/geostream/geostream/ingest-svc/internal/devproto"
	"github.com/geostream/geostream/streamkit/point"
)

// deviceRoutes maps the routes of the device apps to their protocol.
var deviceRoutes = map[string]string{
	"/owntracks": devproto.OwnTracks,
	"/osmand":    devproto.OsmAnd,
	"/traccar":   devproto.Traccar,
	"/overland":  devproto.Overland,
}

// owntracksTypes are the message types counted by name in the metrics;
// any other is "other".
var owntracksTypes = map[string]bool{
	"lwt": true, "transition": true, "waypoint": true, "waypoints": true, "status": true, "card": true,
	"cmd": true, "configuration": true, "steps": true, "encrypted": true, "request": true, "beacon": true,
}

// owntracks handles POST /owntracks, the OwnTracks apps' HTTP mode: one
// message per request, answered 200 with a JSON array (the app reads it
// for messages to itself; it has none here). A location is stored like an
// upload; any other message, and a location that cannot be stored because
// it is invalid, is answered 200 too and counted: the app puts anything
// but a 2xx back at the head of its queue and would send it forever.
func (h *handlers) owntracks(c *gin.Context) {
	data, idemKey, ok := h.readDeviceBody(c)
	if !ok {
		return
	}
	q, _ := url.ParseQuery(c.Request.URL.RawQuery)
	basicUser, _, _ := c.Request.BasicAuth()
	who := devproto.OwnTracksIdentity{
		User:   firstOf(c.GetHeader("X-Limit-U"), q.Get("u"), basicUser),
		Device: firstOf(c.GetHeader("X-Limit-D"), q.Get("d")),
	}
	res, err := devproto.ParseOwnTracks(data, who, h.decodeOptions())
	switch {
	case err != nil:
		h.m.protoDropped.WithLabelValues(devproto.OwnTracks).Inc()
		h.log.Warn("owntracks location dropped", "err", err, "user", who.User, "device", who.Device, "key", keyID(c))
	case res.Points == nil:
		typ := res.Type
		if typ == "" {
			typ = "empty"
		} else if !owntracksTypes[typ] {
			typ = "other"
		}
		h.m.protoIgnored.WithLabelValues(devproto.OwnTracks, typ).Inc()
	default:
		if _, ok := h.commitPoints(c, devproto.OwnTracks, res.Points, h.deviceIdempotency(c, idemKey, data)); !ok {
			return
		}
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", []byte("[]"))
}

// osmand handles GET and POST /osmand: the OsmAnd protocol's parameters
// in the query or a form body; 200 with no body, as Traccar answers.
func (h *handlers) osmand(c *gin.Context) {
	data, idemKey, ok := h.readDeviceBody(c)
	if !ok {
		return
	}
	params, ok := h.deviceParams(c, data)
	if !ok {
		return
	}
	pts, err := devproto.ParseOsmAnd(params, h.decodeOptions())
	h.storeDevice(c, devproto.OsmAnd, pts, err, idemKey, data, nil)
}

// traccar handles POST /traccar, every Traccar Client version: the 9.x
// JSON body, the 10.x form, the legacy parameters in the URL.
func (h *handlers) traccar(c *gin.Context) {
	data, idemKey, ok := h.readDeviceBody(c)
	if !ok {
		return
	}
	req := devproto.TraccarRequest{}
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if trimmed := bytes.TrimSpace(data); mt == "application/json" || (len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[')) {
		req.JSON = data
	} else if req.Query, ok = h.deviceParams(c, nil); !ok {
		return
	} else if req.Form, ok = h.deviceParams(c, data); !ok {
		return
	}
	pts, err := devproto.ParseTraccar(req, h.decodeOptions())
	h.storeDevice(c, devproto.Traccar, pts, err, idemKey, data, nil)
}

// overland handles POST /overland: a batch of GeoJSON locations, answered
// {"result": "ok"} only once all are stored (the app sends the batch
// again otherwise).
func (h *handlers) overland(c *gin.Context) {
	data, idemKey, ok := h.readDeviceBody(c)
	if !ok {
		return
	}
	q, _ := url.ParseQuery(c.Request.URL.RawQuery)
	pts, err := devproto.ParseOverland(data, q.Get("device_id"), h.decodeOptions())
	h.storeDevice(c, devproto.Overland, pts, err, idemKey, data, []byte(`{"result":"ok"}`))
}

// storeDevice answers a parsed device request: 400 or 413 for err, else
// the points are stored (none: nothing to do) and ok is the answer's JSON
// body (nil: an empty 200).
func (h *handlers) storeDevice(c *gin.Context, protocol string, pts []point.Point, err error, idemKey string, data, ok []byte) {
	if err != nil {
		h.abortDevice(c, err)
		return
	}
	if len(pts) > 0 {
		if _, stored := h.commitPoints(c, protocol, pts, h.deviceIdempotency(c, idemKey, data)); !stored {
			return
		}
	}
	if ok == nil {
		c.Status(http.StatusOK)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", ok)
}

// abortDevice answers a request the device parsers refused.
func (h *handlers) abortDevice(c *gin.Context, err error) {
	var de *devproto.Error
	switch {
	case errors.Is(err, point.ErrTooManyPoints):
		abortError(c, http.StatusRequestEntityTooLarge,
			"the request holds more than "+strconv.Itoa(h.cfg.MaxBatch)+" points; send fewer per request")
	case errors.As(err, &de):
		details := make([]errorDetail, 0, len(de.Problems))
		for _, p := range de.Problems {
			d := errorDetail{Field: p.Field, Message: p.String()}
			if p.Index != devproto.NoIndex {
				d.Index = &p.Index
			}
			details = append(details, d)
		}
		abortError(c, http.StatusBadRequest, msgInvalidPoints, details...)
	default:
		abortError(c, http.StatusBadRequest, msgInvalidPoints, errorDetail{Message: err.Error()})
	}
}

// readDeviceBody reads what every device request shares before parsing:
// its Idempotency-Key, the first token of the rate limit, and the body
// (bounded like /upload's, gzip allowed). It returns false after answering.
func (h *handlers) readDeviceBody(c *gin.Context) ([]byte, string, bool) {
	key, err := idempotencyKey(c.Request.Header)
	if err != nil {
		abortError(c, http.StatusBadRequest, err.Error())
		return nil, "", false
	}
	gz, err := gzipped(c.Request.Header.Values("Content-Encoding"))
	if err != nil {
		abortError(c, http.StatusUnsupportedMediaType, "Content-Encoding must be gzip or absent", errorDetail{Message: err.Error()})
		return nil, "", false
	}
	if c.Request.ContentLength > h.cfg.MaxBodyBytes {
		h.abortTooLarge(c, h.cfg.MaxBodyBytes, "")
		return nil, "", false
	}
	if !h.limitUploadStart(c) {
		return nil, "", false
	}
	body := io.Reader(http.MaxBytesReader(c.Writer, c.Request.Body, h.cfg.MaxBodyBytes))
	if gz {
		body = &limitReader{r: newGunzipReader(body), n: h.cfg.MaxDecompressedBytes}
	}
	data, err := readBody(body, c.Request.ContentLength, gz)
	if err != nil {
		h.abortBody(c, err, gz)
		return nil, "", false
	}
	return data, key, true
}

// deviceParams returns the parameters of the URL's query, with those of a
// form body (data, when not nil) added where the query lacks them.
func (h *handlers) deviceParams(c *gin.Context, data []byte) (url.Values, bool) {
	params, err := url.ParseQuery(c.Request.URL.RawQuery)
	if err != nil {
		abortError(c, http.StatusBadRequest, "the URL's query does not parse", errorDetail{Message: err.Error()})
		return nil, false
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return params, true
	}
	form, err := url.ParseQuery(string(bytes.TrimSpace(data)))
	if err != nil {
		abortError(c, http.StatusBadRequest, "the body is not a form (application/x-www-form-urlencoded)", errorDetail{Message: err.Error()})
		return nil, false
	}
	for k, v := range form {
		if !params.Has(k) {
			params[k] = v
		}
	}
	return params, true
}

// deviceIdempotency returns the idempotency of a device request with
// Idempotency-Key key ("" for none): its fingerprint covers the route,
// method, query and body.
func (h *handlers) deviceIdempotency(c *gin.Context, key string, data []byte) *idempotency {
	if key == "" {
		return nil
	}
	sum := sha256.New()
	sum.Write([]byte(c.FullPath() + "\n" + c.Request.Method + " " + c.Request.URL.RawQuery + "\n"))
	sum.Write(data)
	return newIdempotency(c, key, sum)
}

func (h *handlers) decodeOptions() point.DecodeOptions {
	return point.DecodeOptions{Now: h.now, MaxClockSkew: h.cfg.MaxClockSkew, MaxPoints: h.cfg.MaxBatch}
}

// firstOf returns the first of vs that is not empty.
func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
