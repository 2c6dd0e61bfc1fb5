package apikey

import (
	"net/http"
	"net/url"
	"strings"
)

// Where says where a request may carry its key.
type Where int

const (
	// Headers is "Authorization: Bearer <key>" or "X-API-Key: <key>": the API.
	Headers Where = iota
	// DeviceApps is Headers, Basic auth whose password is the key
	// (OwnTracks; the user name is the app's user, part of the device id),
	// or ?key= / ?access_token= in the URL (apps that cannot set headers;
	// weaker, see docs/security.md): the device apps' endpoints.
	DeviceApps
)

// CredentialsError is a request whose key cannot be read: Reason says
// what to fix, never the key.
type CredentialsError struct{ Reason string }

func (e *CredentialsError) Error() string { return "bad credentials: " + e.Reason }

func badCredentials(reason string) error { return &CredentialsError{Reason: reason} }

// Presented returns the key a request carries in the places where allows,
// "" when it carries none, or a *CredentialsError. Every place that holds
// a key must hold the same one.
func Presented(r *http.Request, where Where) (string, error) {
	var keys []string
	switch auth := r.Header.Values("Authorization"); len(auth) {
	case 0:
	case 1:
		scheme, tok, _ := strings.Cut(strings.TrimSpace(auth[0]), " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			keys = append(keys, strings.TrimSpace(tok))
		case strings.EqualFold(scheme, "Basic") && where == DeviceApps:
			_, pw, ok := r.BasicAuth()
			if !ok {
				return "", badCredentials("the Basic credentials do not decode")
			}
			keys = append(keys, pw)
		case where == DeviceApps:
			return "", badCredentials("the Authorization header must use the Bearer or Basic scheme")
		default:
			return "", badCredentials("the Authorization header must use the Bearer scheme")
		}
	default:
		return "", badCredentials("send one Authorization header")
	}
	switch x := r.Header.Values("X-API-Key"); len(x) {
	case 0:
	case 1:
		keys = append(keys, strings.TrimSpace(x[0]))
	default:
		return "", badCredentials("send one X-API-Key header")
	}
	if where == DeviceApps {
		q, _ := url.ParseQuery(r.URL.RawQuery) // a query that does not parse is the handler's 400
		for _, name := range []string{"key", "access_token"} {
			switch vs := q[name]; len(vs) {
			case 0:
			case 1:
				keys = append(keys, vs[0])
			default:
				return "", badCredentials("send " + name + " once")
			}
		}
	}
	if len(keys) == 0 {
		return "", nil
	}
	for _, k := range keys[1:] {
		if k != keys[0] {
			if where == Headers {
				return "", badCredentials("Authorization and X-API-Key hold different keys")
			}
			return "", badCredentials("the request holds different keys")
		}
	}
	if keys[0] == "" {
		return "", badCredentials("the key is empty")
	}
	return keys[0], nil
}
