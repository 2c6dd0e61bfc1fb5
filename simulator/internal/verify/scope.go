package verify

import (
	"net/url"

	"github.com/geostream/geostream/streamkit/point"
)

// Scope is one /retrieve query the verifier checks, with a name for
// reports.
type Scope struct {
	// Name is how reports call the scope: "global", "device sim-0001".
	Name string
	// Query is the /retrieve query string; nil is the global summary.
	Query url.Values
}

// ScopeSet lists the scopes to check and says which of them each point
// belongs to. The verifier sums every acknowledged point into its scopes,
// asks the API for each scope, and compares.
//
// This is the extension point for time windows: when /retrieve gains
// from/to (and interval), a ScopeSet whose scopes carry from/to in Query
// and whose Of selects points by p.TimeMs makes the verifier check windows
// with no other change. (A series answer, one summary per interval bucket,
// additionally needs Compare to walk the buckets: give each bucket its own
// scope with from/to set to the bucket's bounds.)
type ScopeSet interface {
	// Scopes returns every scope, indexed as Of reports them.
	Scopes() []Scope
	// Of appends to dst the indexes of the scopes p belongs to.
	Of(dst []int, p *point.Point) []int
}

// DeviceScopes returns one scope per device id and, when global is true,
// first the global scope. The global scope is only right when nothing but
// this run writes to the API (see Config.Fresh).
func DeviceScopes(ids []string, global bool) ScopeSet {
	s := &deviceScopes{index: make(map[string]int, len(ids))}
	if global {
		s.scopes = append(s.scopes, Scope{Name: "global"})
		s.global = true
	}
	for _, id := range ids {
		s.index[id] = len(s.scopes)
		s.scopes = append(s.scopes, Scope{Name: "device " + id, Query: url.Values{"device_id": {id}}})
	}
	return s
}

type deviceScopes struct {
	scopes []Scope
	index  map[string]int
	global bool
}

func (s *deviceScopes) Scopes() []Scope { return s.scopes }

func (s *deviceScopes) Of(dst []int, p *point.Point) []int {
	if s.global {
		dst = append(dst, 0)
	}
	if i, ok := s.index[p.DeviceID]; ok {
		dst = append(dst, i)
	}
	return dst
}
