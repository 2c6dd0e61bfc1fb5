package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/geostream/geostream/streamkit/point"
	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/scripts"
)

// MaxIdempotencyKeyLen is the longest accepted Idempotency-Key.
const MaxIdempotencyKeyLen = 128

// uploadResponse is the body of a successful upload; "message" is the seed's.
type uploadResponse struct {
	Message  string `json:"message"`
	Accepted int64  `json:"accepted"`
}

// upload handles POST /upload: it validates the whole body, then stores
// every point, and answers 200 only once every point is in a stream.
func (h *handlers) upload(c *gin.Context) {
	kind, err := bodyKind(c.GetHeader("Content-Type"))
	if err != nil {
		abortError(c, http.StatusUnsupportedMediaType, msgContentType, errorDetail{Message: err.Error()})
		return
	}
	gz, err := gzipped(c.Request.Header.Values("Content-Encoding"))
	if err != nil {
		abortError(c, http.StatusUnsupportedMediaType, "Content-Encoding must be gzip or absent", errorDetail{Message: err.Error()})
		return
	}
	key, err := idempotencyKey(c.Request.Header)
	if err != nil {
		abortError(c, http.StatusBadRequest, err.Error())
		return
	}
	if c.Request.ContentLength > h.cfg.MaxBodyBytes {
		h.abortTooLarge(c, h.cfg.MaxBodyBytes, "")
		return
	}
	if !h.limitUploadStart(c) {
		return
	}

	body := io.Reader(http.MaxBytesReader(c.Writer, c.Request.Body, h.cfg.MaxBodyBytes))
	if gz {
		body = &limitReader{r: newGunzipReader(body), n: h.cfg.MaxDecompressedBytes}
	}
	var sum hash.Hash
	if key != "" {
		sum = sha256.New()
		sum.Write([]byte(kind.String() + "\n"))
		body = io.TeeReader(body, sum)
	}
	var pts []point.Point
	data, err := readBody(body, c.Request.ContentLength, gz)
	if err == nil {
		pts, err = point.DecodeBytes(data, kind, point.DecodeOptions{
			Now: h.now, MaxClockSkew: h.cfg.MaxClockSkew, MaxPoints: h.cfg.MaxBatch,
		})
	}
	if err != nil {
		h.abortBody(c, err, gz)
		return
	}
	var idem *idempotency
	if key != "" {
		// The fingerprint is of the body as decompressed, not of the decoded
		// points: a point without a timestamp gets the receive time, which
		// differs between a request and its retry.
		idem = newIdempotency(c, key, sum)
	}
	res, ok := h.commitPoints(c, protocolOfKind(kind), pts, idem)
	if !ok {
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", appendUploadResponse(make([]byte, 0, 64), res.Accepted))
}

// newIdempotency returns the idempotency of a request with Idempotency-Key
// key and the hash of its content.
func newIdempotency(c *gin.Context, key string, sum hash.Hash) *idempotency {
	idem := &idempotency{Key: key, Fingerprint: hex.EncodeToString(sum.Sum(nil)[:16])}
	if id := keyID(c); id != "" {
		// Each API key has its own Idempotency-Keys: one client cannot
		// replay or block another's by guessing its keys. Key ids never
		// hold '/'.
		idem.Key = id + "/" + key
	}
	return idem
}

// commitPoints is the common tail of every upload path (/upload and the
// device protocols): the key's device prefixes (403), the points rate
// limit (429), the store (422, 503), then the metrics. It returns false
// after answering an error; on success the caller writes the answer its
// client expects.
func (h *handlers) commitPoints(c *gin.Context, protocol string, pts []point.Point, idem *idempotency) (storeResult, bool) {
	if !h.allowUploadDevices(c, func(i int) string { return pts[i].DeviceID }, len(pts)) ||
		!h.limitUploadPoints(c, len(pts)) {
		return storeResult{}, false
	}
	res, err := h.store(c.Request.Context(), pts, idem)
	if err != nil {
		h.abortStore(c, err, res, len(pts), idem != nil)
		return res, false
	}
	if res.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	h.m.accept(res.Accepted, keyID(c), protocol)
	return res, true
}

// appendUploadResponse appends the JSON of uploadResponse for accepted
// points, as encoding/json writes it (TestUploadResponseEncoding), without
// reflection: it is written for every upload.
func appendUploadResponse(b []byte, accepted int64) []byte {
	b = append(b, `{"message":"Data uploaded successfully","accepted":`...)
	b = strconv.AppendInt(b, accepted, 10)
	return append(b, '}')
}

// readBody reads the whole body. A plain body's Content-Length (already
// checked against the limit) sizes the buffer, so that a 500-point body is
// not copied through a dozen growing buffers as io.ReadAll would.
func readBody(r io.Reader, contentLength int64, gz bool) ([]byte, error) {
	if gz || contentLength <= 0 {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return data, nil
	}
	buf := make([]byte, 0, contentLength)
	for len(buf) < cap(buf) {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
	}
	// Full: the body ends here, unless it is longer than it said.
	rest, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	return append(buf, rest...), nil
}

// idempotencyKey returns the request's Idempotency-Key, "" when it has none.
func idempotencyKey(hdr http.Header) (string, error) {
	vs := hdr.Values("Idempotency-Key")
	switch {
	case len(vs) == 0:
		return "", nil
	case len(vs) > 1:
		return "", errors.New("Idempotency-Key must be given once")
	}
	k := vs[0]
	ok := len(k) >= 1 && len(k) <= MaxIdempotencyKeyLen
	for i := 0; ok && i < len(k); i++ {
		ok = k[i] >= 0x20 && k[i] <= 0x7e
	}
	if !ok {
		return "", fmt.Errorf("Idempotency-Key must be 1-%d printable ASCII characters", MaxIdempotencyKeyLen)
	}
	return k, nil
}

// abortBody answers a body that could not be read or decoded.
func (h *handlers) abortBody(c *gin.Context, err error, gz bool) {
	var (
		de      *point.DecodeError
		tooBig  *http.MaxBytesError
		badGzip *badGzipError
	)
	switch {
	case errors.Is(err, point.ErrTooManyPoints):
		// 413, not 400: the points may all be fine, there are just too many
		// for one request, and the fix is to split the batch.
		abortError(c, http.StatusRequestEntityTooLarge,
			"the request holds more than "+strconv.Itoa(h.cfg.MaxBatch)+" points; split the batch into smaller requests")
	case errors.As(err, &de):
		abortError(c, http.StatusBadRequest, msgInvalidPoints, decodeDetails(de)...)
	case errors.As(err, &tooBig):
		h.abortTooLarge(c, h.cfg.MaxBodyBytes, "")
	case errors.Is(err, errInflatedTooLarge):
		h.abortTooLarge(c, h.cfg.MaxDecompressedBytes, " after gzip decompression")
	case errors.As(err, &badGzip):
		abortError(c, http.StatusBadRequest, "the request body is not valid gzip", errorDetail{Message: badGzip.Error()})
	default:
		// The client went away or sent less than its Content-Length.
		h.log.Debug("read upload body", "err", err, "gzip", gz)
		abortError(c, http.StatusBadRequest, "the request body could not be read completely", errorDetail{Message: err.Error()})
	}
}

func (h *handlers) abortTooLarge(c *gin.Context, limit int64, after string) {
	abortError(c, http.StatusRequestEntityTooLarge,
		"the request body is larger than "+strconv.FormatInt(limit, 10)+" bytes"+after+
			"; split the batch into smaller requests")
}

// abortStore answers a failed store: 422 for a reused idempotency key, 503
// for anything Redis did or did not do.
func (h *handlers) abortStore(c *gin.Context, err error, res storeResult, n int, keyed bool) {
	if errors.Is(err, errKeyReused) {
		abortError(c, http.StatusUnprocessableEntity,
			"the Idempotency-Key was already used for a request with other content; use a new key for new content")
		return
	}
	retry := "retry with the same Idempotency-Key to store each point once"
	if !keyed {
		retry = "a retry without an Idempotency-Key stores those again"
	}
	var details []errorDetail
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		details = append(details, errorDetail{Message: "Redis did not answer in time; some points may have been stored; " + retry})
	case mayHaveRun(err):
		// Not sent again without a key (retry.go): it may have run.
		details = append(details, errorDetail{Message: "the connection to Redis failed after the points were sent; some points may have been stored; " + retry})
	case res.Stored > 0:
		details = append(details, errorDetail{Message: fmt.Sprintf(
			"%d of %d points were stored before the failure; %s", res.Stored, n, retry)})
	}
	h.log.Warn("upload not stored", "points", n, "stored", res.Stored, "err", err)
	if errors.Is(err, redisconn.ErrNotReplicated) {
		c.Set(reasonKey, "not_replicated")
		abortUnavailable(c, msgNotReplicated, errorDetail{Message: err.Error()})
		return
	}
	if errors.Is(err, scripts.ErrBacklog) {
		c.Set(reasonKey, "backlog")
		abortUnavailable(c, msgBacklog, details...)
		return
	}
	abortUnavailable(c, msgStorageUnavailable, details...)
}
