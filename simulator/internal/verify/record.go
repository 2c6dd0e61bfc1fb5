package verify

import (
	"sort"
	"sync"

	"github.com/geostream/geostream/simulator/internal/client"
	"github.com/geostream/geostream/simulator/internal/load"
	"github.com/geostream/geostream/streamkit/agg"
)

// contribution is what one request adds to one scope.
type contribution struct {
	scope int
	sums  agg.Sums
}

// pending is a request whose fate the verifier does not know: the client
// gave up on it, so its points may or may not be stored.
type pending struct {
	seq    int64
	key    string
	points int
	err    string
	parts  []contribution // sorted by scope
}

// rejection is a request the API refused: by the contract none of its
// points is stored.
type rejection struct {
	seq int64
	key string
	err string
}

// recorder turns request results into the expected sums of every scope. It
// is safe for concurrent use (results arrive from every sender).
type recorder struct {
	scopes ScopeSet

	mu       sync.Mutex
	acked    []agg.Sums // by scope
	lost     []pending
	rejected []rejection
	// replayed counts acked requests whose answer said an earlier attempt
	// had stored them: evidence that idempotency worked.
	replayed int
}

func newRecorder(scopes ScopeSet) *recorder {
	return &recorder{scopes: scopes, acked: make([]agg.Sums, len(scopes.Scopes()))}
}

// record is a load.WithResult callback.
func (r *recorder) record(req *load.Request, res client.Result) {
	parts := map[int]*agg.Sums{}
	var idx []int
	for i := range req.Points {
		idx = r.scopes.Of(idx[:0], &req.Points[i])
		for _, s := range idx {
			if parts[s] == nil {
				parts[s] = &agg.Sums{}
			}
			parts[s].AddPoint(req.Points[i])
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch res.Outcome {
	case client.Acked:
		for s, sums := range parts {
			r.acked[s].Merge(*sums)
		}
		if res.Replayed {
			r.replayed++
		}
	case client.Rejected:
		r.rejected = append(r.rejected, rejection{seq: req.Seq, key: req.Key, err: errString(res.Err)})
	default:
		p := pending{seq: req.Seq, key: req.Key, points: len(req.Points), err: errString(res.Err)}
		for s, sums := range parts {
			p.parts = append(p.parts, contribution{scope: s, sums: *sums})
		}
		sort.Slice(p.parts, func(i, j int) bool { return p.parts[i].scope < p.parts[j].scope })
		r.lost = append(r.lost, p)
	}
}

// lostMax returns, per scope, how many points unacknowledged requests
// could add.
func (r *recorder) lostMax() []int64 {
	m := make([]int64, len(r.acked))
	for _, p := range r.lost {
		for _, c := range p.parts {
			m[c.scope] += c.sums.Count
		}
	}
	return m
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
