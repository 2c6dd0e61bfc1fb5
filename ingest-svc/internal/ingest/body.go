package ingest

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/geostream/geostream/streamkit/point"
)

// msgContentType names the header to send, for the 415 answer.
const msgContentType = "send the header Content-Type: application/json (one object or an array of objects), " +
	"Content-Type: application/x-ndjson (one object per line; application/jsonl is also accepted) " +
	"or Content-Type: application/geo+json (a FeatureCollection of Point Features)"

// bodyKind maps a Content-Type header to the framing of the body. A charset
// parameter, when given, must be UTF-8 (RFC 8259 §8.1).
func bodyKind(contentType string) (point.BodyKind, error) {
	if strings.TrimSpace(contentType) == "" {
		return 0, errors.New("the request has no Content-Type")
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, fmt.Errorf("Content-Type %q does not parse: %w", contentType, err)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return 0, fmt.Errorf("charset %q is not supported; JSON must be UTF-8", cs)
	}
	switch mt { // ParseMediaType lower-cases it
	case "application/json":
		return point.BodyJSON, nil
	case "application/x-ndjson", "application/jsonl":
		return point.BodyNDJSON, nil
	case "application/geo+json":
		return point.BodyGeoJSON, nil
	}
	if mt == "application/x-www-form-urlencoded" {
		return 0, errors.New(`Content-Type "application/x-www-form-urlencoded" is not supported (curl -d sends it unless told otherwise: add -H 'Content-Type: application/json')`)
	}
	return 0, fmt.Errorf("Content-Type %q is not supported", mt)
}

// gzipped reports whether the Content-Encoding header values ask for gzip;
// an error for any other encoding.
func gzipped(values []string) (bool, error) {
	var codings []string
	for _, v := range values {
		for _, c := range strings.Split(v, ",") {
			if c = strings.ToLower(strings.TrimSpace(c)); c != "" && c != "identity" {
				codings = append(codings, c)
			}
		}
	}
	switch {
	case len(codings) == 0:
		return false, nil
	case len(codings) == 1 && (codings[0] == "gzip" || codings[0] == "x-gzip"):
		return true, nil
	}
	return false, fmt.Errorf("Content-Encoding %q is not supported; send gzip or no encoding", strings.Join(codings, ", "))
}

// errInflatedTooLarge means a gzip body decompresses to more than the limit.
var errInflatedTooLarge = errors.New("decompressed body over the limit")

// badGzipError is a body that is not valid gzip.
type badGzipError struct{ err error }

func (e *badGzipError) Error() string { return "the body is not valid gzip: " + e.err.Error() }
func (e *badGzipError) Unwrap() error { return e.err }

// sourceReader remembers the error of the reader under a gzip stream, so
// that a failure of the body itself (too large, client gone) is not taken
// for bad gzip.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.err = err
	}
	return n, err
}

// gunzipReader decompresses src; its gzip header is read on the first Read,
// so that every error comes out of Read.
type gunzipReader struct {
	src *sourceReader
	zr  *gzip.Reader
}

func newGunzipReader(r io.Reader) *gunzipReader {
	return &gunzipReader{src: &sourceReader{r: r}}
}

func (g *gunzipReader) Read(p []byte) (int, error) {
	if g.zr == nil {
		zr, err := gzip.NewReader(g.src)
		if err != nil {
			return 0, g.wrap(err)
		}
		g.zr = zr
	}
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = g.wrap(err)
	}
	return n, err
}

func (g *gunzipReader) wrap(err error) error {
	if g.src.err != nil {
		return g.src.err
	}
	if err == io.EOF {
		err = errors.New("empty body")
	}
	return &badGzipError{err: err}
}

// limitReader fails with errInflatedTooLarge once more than n bytes come out
// of r (io.LimitReader would end silently, as if the body were complete).
type limitReader struct {
	r io.Reader
	n int64 // bytes still allowed
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// At the limit: the body must end here.
		var probe [1]byte
		n, err := l.r.Read(probe[:])
		if n > 0 {
			return 0, errInflatedTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// protocolOfKind names an /upload body's kind for the metrics' protocol
// label.
func protocolOfKind(k point.BodyKind) string {
	if k == point.BodyGeoJSON {
		return "geojson"
	}
	return "upload"
}
