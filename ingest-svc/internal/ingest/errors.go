package ingest

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/geostream/geostream/streamkit/point"
)

// errorBody is the body of every error answer:
//
//	{"error": "<one sentence a person can act on>", "details": [...]}
//
// details is always present, empty when there is nothing more to say.
type errorBody struct {
	Error   string        `json:"error"`
	Details []errorDetail `json:"details"`
}

// errorDetail is one entry of errorBody.Details. For an invalid point it
// names the item (0-based index among the body's points), the NDJSON line
// (1-based) and the field; a problem of the whole body has no index.
type errorDetail struct {
	Index   *int   `json:"index,omitempty"`
	Line    int    `json:"line,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Error messages a client may match on. The seed's one is part of the
// compatibility contract.
const (
	msgNoData             = "No data available for processing"
	msgStorageUnavailable = "storage unavailable, retry later"
	msgBacklog            = "the processors are behind: the backlog of unprocessed points is over its limit, retry later"
	msgNotReplicated      = "the points are stored on the Redis master but not yet on enough of its replicas; retry with the same Idempotency-Key: they are stored once"
	msgInvalidPoints      = "the request body holds invalid points; nothing was stored"
)

// abortError answers status with an errorBody and stops the handler chain.
func abortError(c *gin.Context, status int, msg string, details ...errorDetail) {
	if details == nil {
		details = []errorDetail{}
	}
	c.AbortWithStatusJSON(status, errorBody{Error: msg, Details: details})
}

// abortUnavailable answers 503 with Retry-After: the client should retry.
func abortUnavailable(c *gin.Context, msg string, details ...errorDetail) {
	c.Header("Retry-After", "1")
	abortError(c, http.StatusServiceUnavailable, msg, details...)
}

// decodeDetails converts the details of a decode error.
func decodeDetails(e *point.DecodeError) []errorDetail {
	out := make([]errorDetail, 0, len(e.Details)+1)
	for _, d := range e.Details {
		ed := errorDetail{Line: d.Line, Field: d.Field, Message: d.String()}
		if d.Index != point.BodyIndex {
			ed.Index = &d.Index
		}
		out = append(out, ed)
	}
	if e.Truncated {
		out = append(out, errorDetail{Message: "stopped after these problems; the body may hold more"})
	}
	return out
}
