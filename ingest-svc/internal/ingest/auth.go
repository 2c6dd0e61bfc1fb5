package ingest

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/geostream/geostream/ingest-svc/internal/apikey"
)

// The realm of WWW-Authenticate.
const authRealm = `Bearer realm="geostream"`

// keyCtx is the gin context key of the request's *apikey.Key.
const keyCtx = "geostream.api_key"

// Why a request was refused before its handler ran, for
// geostream_ingest_requests_refused_total.
const (
	refusedMissingKey  = "missing_key"
	refusedInvalidKey  = "invalid_key"
	refusedScope       = "scope"
	refusedDevice      = "device"
	refusedRateLimited = "rate_limited"
	refusedConcurrency = "concurrency"
	refusedOverloaded  = "overloaded"
)

// authorize returns the middleware that lets a request through when it
// carries a key with scope (401 without a valid key, 403 without the
// scope), and stores the key for the handler (see apiKeyOf). With
// authentication off it lets every request through.
func (h *handlers) authorize(scope apikey.Scope) gin.HandlerFunc {
	return h.authorizeWith(scope, apikey.Headers,
		"this endpoint needs an API key: send the header Authorization: Bearer <key> (or X-API-Key: <key>)")
}

// msgDeviceKey answers a device app's request without a key.
const msgDeviceKey = "this endpoint needs an API key: send Authorization: Bearer <key>, " +
	"Basic auth with the key as the password (OwnTracks), or ?key=<key> (or ?access_token=) in the URL"

// authorizeWith is authorize with the key read from where, and missing
// as the answer to a request without one.
func (h *handlers) authorizeWith(scope apikey.Scope, where apikey.Where, missing string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if h.keys == nil {
			c.Next()
			return
		}
		presented, err := apikey.Presented(c.Request, where)
		if err == nil && presented == "" {
			h.refuse(c, refusedMissingKey, nil)
			c.Header("WWW-Authenticate", authRealm)
			abortError(c, http.StatusUnauthorized, missing)
			return
		}
		var k *apikey.Key
		if err == nil {
			k = h.keys.Authenticate(presented)
		}
		if k == nil {
			h.refuse(c, refusedInvalidKey, nil)
			c.Header("WWW-Authenticate", authRealm+`, error="invalid_token"`)
			var details []errorDetail
			if ce := (*apikey.CredentialsError)(nil); errors.As(err, &ce) {
				details = append(details, errorDetail{Message: ce.Reason})
			}
			abortError(c, http.StatusUnauthorized, "the API key is not valid; check it, or ask the operator for a new one", details...)
			return
		}
		c.Set(keyCtx, k)
		if !k.Has(scope) {
			h.refuse(c, refusedScope, k)
			c.Header("WWW-Authenticate", fmt.Sprintf(`%s, error="insufficient_scope", scope=%q`, authRealm, scope))
			abortError(c, http.StatusForbidden, fmt.Sprintf("the API key %q may not %s: that needs the scope %s, the key has %s",
				k.ID, scopeAction[scope], scope, k.ScopeList()))
			return
		}
		c.Next()
	}
}

// scopeAction says what a scope allows, for the 403 answer.
var scopeAction = map[apikey.Scope]string{
	apikey.ScopeWrite:   "upload points",
	apikey.ScopeRead:    "read summaries or devices",
	apikey.ScopeMetrics: "read the metrics",
}

// apiKeyOf returns the key of an authorized request, nil when
// authentication is off.
func apiKeyOf(c *gin.Context) *apikey.Key {
	v, _ := c.Get(keyCtx)
	k, _ := v.(*apikey.Key)
	return k
}

// keyID names a request's key in logs and metrics: "" without one.
func keyID(c *gin.Context) string {
	if k := apiKeyOf(c); k != nil {
		return k.ID
	}
	return ""
}

// allowDevice answers 403 and returns false when the request's key may not
// read or write device id (see apikey.Key.Prefixes).
func (h *handlers) allowDevice(c *gin.Context, id, verb string) bool {
	k := apiKeyOf(c)
	if k == nil || k.Allows(id) {
		return true
	}
	h.refuse(c, refusedDevice, k)
	abortError(c, http.StatusForbidden, fmt.Sprintf("the API key %q may only %s devices whose id starts with %s; device %q is not one of them",
		k.ID, verb, k.PrefixList(), id))
	return false
}

// allowAllDevices answers 403 and returns false when the request's key is
// limited to some devices: a summary of all devices includes the others.
func (h *handlers) allowAllDevices(c *gin.Context) bool {
	k := apiKeyOf(c)
	if k == nil || len(k.Prefixes) == 0 {
		return true
	}
	h.refuse(c, refusedDevice, k)
	abortError(c, http.StatusForbidden, fmt.Sprintf("the API key %q may only read devices whose id starts with %s; "+
		"give device_id (a summary of all devices would include the others)", k.ID, k.PrefixList()))
	return false
}

// maxDeviceDetails bounds the details of a 403 for an upload's devices.
const maxDeviceDetails = 10

// allowUploadDevices answers 403 and returns false when some point's
// device is outside the request key's prefixes; details name the first
// such points. The batch is all or nothing: nothing is stored.
func (h *handlers) allowUploadDevices(c *gin.Context, devices func(int) string, n int) bool {
	k := apiKeyOf(c)
	if k == nil || len(k.Prefixes) == 0 {
		return true
	}
	var details []errorDetail
	bad := 0
	for i := range n {
		id := devices(i)
		if k.Allows(id) {
			continue
		}
		if bad++; bad <= maxDeviceDetails {
			details = append(details, errorDetail{Index: &i, Field: "device_id",
				Message: fmt.Sprintf("device %q does not start with %s", id, k.PrefixList())})
		}
	}
	if bad == 0 {
		return true
	}
	if bad > maxDeviceDetails {
		details = append(details, errorDetail{Message: fmt.Sprintf("and %d more points", bad-maxDeviceDetails)})
	}
	h.refuse(c, refusedDevice, k)
	abortError(c, http.StatusForbidden, fmt.Sprintf("the API key %q may only write devices whose id starts with %s; nothing was stored",
		k.ID, k.PrefixList()), details...)
	return false
}

// refuse counts and logs (at debug level: a flood of bad requests must not
// flood the logs) a request refused for reason, with the key's id, never
// the key.
func (h *handlers) refuse(c *gin.Context, reason string, k *apikey.Key) {
	id := ""
	if k != nil {
		id = k.ID
	}
	h.m.refused(reason, id)
	h.log.Debug("request refused", "reason", reason, "key", id, "method", c.Request.Method, "path", c.Request.URL.Path)
}
