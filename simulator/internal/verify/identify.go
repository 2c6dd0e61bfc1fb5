package verify

import (
	"sort"

	"github.com/geostream/geostream/streamkit/agg"
)

// searchBudget bounds the identification search (nodes visited). Each
// scope is checked as soon as every request touching it is decided, so the
// search splits by scope: it costs about 2^n for the n unacknowledged
// requests of the worst scope, and the budget covers n ≈ 20 (a variable
// only so that tests can lower it). Losing more requests of one device
// than that means the deployment is in far worse trouble than the
// verifier needs to explain.
var searchBudget = 1 << 20

// identifyResult says how the search ended.
type identifyResult int

const (
	identified  identifyResult = iota // a subset explains every answer
	unexplained                       // no subset does
	exhausted                         // the budget ran out first
)

// identify looks for the unacknowledged requests the API stored: a subset
// of lost whose points, added to the acknowledged sums, reproduce every
// scope's answer exactly. A batch is all-or-nothing, so a request counts
// for all its scopes or for none. It returns the indexes (into lost) of
// the stored requests.
func identify(names []string, acked []agg.Sums, got []answer, lost []pending) ([]int, identifyResult) {
	if len(lost) == 0 {
		return nil, identified
	}
	s := &search{names: names, acked: acked, got: got, lost: lost,
		need: make([]int64, len(acked)), capacity: make([]int64, len(acked)),
		completes: make([][]int, len(lost))}
	last := map[int]int{}
	for r, p := range lost {
		for _, c := range p.parts {
			s.capacity[c.scope] += c.sums.Count
			last[c.scope] = r
		}
	}
	for scope, r := range last {
		s.need[scope] = got[scope].count() - acked[scope].Count
		if s.need[scope] < 0 || s.need[scope] > s.capacity[scope] {
			return nil, unexplained // a count outside [acked, acked+lost]
		}
		s.completes[r] = append(s.completes[r], scope)
	}
	if s.dfs(0) {
		return s.chosen, identified
	}
	if s.nodes > searchBudget {
		return nil, exhausted
	}
	return nil, unexplained
}

type search struct {
	names     []string
	acked     []agg.Sums
	got       []answer
	lost      []pending
	need      []int64 // per scope: points still to explain
	capacity  []int64 // per scope: points the undecided requests hold
	completes [][]int // request index → scopes it is the last to touch
	chosen    []int
	nodes     int
}

// dfs decides request r and the ones after it.
func (s *search) dfs(r int) bool {
	if s.nodes++; s.nodes > searchBudget {
		return false
	}
	if r == len(s.lost) {
		return true
	}
	parts := s.lost[r].parts
	for _, c := range parts {
		s.capacity[c.scope] -= c.sums.Count
	}
	defer func() {
		for _, c := range parts {
			s.capacity[c.scope] += c.sums.Count
		}
	}()
	for _, include := range [2]bool{true, false} {
		if include {
			s.chosen = append(s.chosen, r)
			for _, c := range parts {
				s.need[c.scope] -= c.sums.Count
			}
		}
		if s.feasible(parts) && s.complete(r) && s.dfs(r+1) {
			return true
		}
		if include {
			s.chosen = s.chosen[:len(s.chosen)-1]
			for _, c := range parts {
				s.need[c.scope] += c.sums.Count
			}
		}
		if s.nodes > searchBudget {
			return false
		}
	}
	return false
}

// feasible reports whether the scopes of parts can still be explained:
// no more points needed than the undecided requests hold, and not fewer
// than none.
func (s *search) feasible(parts []contribution) bool {
	for _, c := range parts {
		if n := s.need[c.scope]; n < 0 || n > s.capacity[c.scope] {
			return false
		}
	}
	return true
}

// complete checks the scopes whose requests are now all decided: the
// chosen requests must reproduce their answers exactly.
func (s *search) complete(r int) bool {
	for _, scope := range s.completes[r] {
		if s.need[scope] != 0 {
			return false
		}
		if len(Compare(s.names[scope], s.expected(scope), s.got[scope].sum, s.got[scope].noData)) > 0 {
			return false
		}
	}
	return true
}

// expected returns the acknowledged sums of scope plus the chosen
// requests' points in it.
func (s *search) expected(scope int) agg.Sums {
	sums := s.acked[scope]
	for _, r := range s.chosen {
		for _, c := range s.lost[r].parts {
			if c.scope == scope {
				sums.Merge(c.sums)
			}
		}
	}
	return sums
}

// sortLost orders lost requests so that each scope's requests are next to
// each other (by the highest scope they touch, a device with device
// scopes), which lets the search check scopes early.
func sortLost(lost []pending) {
	key := func(p pending) int {
		if len(p.parts) == 0 {
			return -1
		}
		return p.parts[len(p.parts)-1].scope
	}
	sort.SliceStable(lost, func(i, j int) bool {
		ki, kj := key(lost[i]), key(lost[j])
		if ki != kj {
			return ki < kj
		}
		return lost[i].seq < lost[j].seq
	})
}
