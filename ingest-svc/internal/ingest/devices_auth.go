package ingest

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// msgDeviceKey answers a device app's request without a key.
const msgDeviceKey = "this endpoint needs an API key: send Authorization: Bearer <key>, " +
	"Basic auth with the key as the password (OwnTracks), or ?key=<key> (or ?access_token=) in the URL"

// deviceKey returns the API key of a device app's request, "" when it
// carries none. Apps send what they can: Authorization: Bearer (Overland,
// or any app with custom headers), Basic auth whose password is the key
// (OwnTracks; the user name is the app's user, part of the device id),
// X-API-Key, or ?key= / ?access_token= in the URL (apps that cannot set
// headers; weaker, see docs/security.md). Every place that holds a key
// must hold the same one.
func deviceKey(r *http.Request) (string, error) {
	var keys []string
	switch auth := r.Header.Values("Authorization"); len(auth) {
	case 0:
	case 1:
		scheme, tok, _ := strings.Cut(strings.TrimSpace(auth[0]), " ")
		switch {
		case strings.EqualFold(scheme, "Bearer"):
			keys = append(keys, strings.TrimSpace(tok))
		case strings.EqualFold(scheme, "Basic"):
			_, pw, ok := r.BasicAuth()
			if !ok {
				return "", fmt.Errorf("%w: the Basic credentials do not decode", errBadCredentials)
			}
			keys = append(keys, pw)
		default:
			return "", fmt.Errorf("%w: the Authorization header must use the Bearer or Basic scheme", errBadCredentials)
		}
	default:
		return "", fmt.Errorf("%w: send one Authorization header", errBadCredentials)
	}
	switch x := r.Header.Values("X-API-Key"); len(x) {
	case 0:
	case 1:
		keys = append(keys, strings.TrimSpace(x[0]))
	default:
		return "", fmt.Errorf("%w: send one X-API-Key header", errBadCredentials)
	}
	q, _ := url.ParseQuery(r.URL.RawQuery) // a query that does not parse is the handler's 400
	for _, name := range []string{"key", "access_token"} {
		switch vs := q[name]; len(vs) {
		case 0:
		case 1:
			keys = append(keys, vs[0])
		default:
			return "", fmt.Errorf("%w: send %s once", errBadCredentials, name)
		}
	}
	if len(keys) == 0 {
		return "", nil
	}
	for _, k := range keys[1:] {
		if k != keys[0] {
			return "", fmt.Errorf("%w: the request holds different keys", errBadCredentials)
		}
	}
	if keys[0] == "" {
		return "", fmt.Errorf("%w: the key is empty", errBadCredentials)
	}
	return keys[0], nil
}
