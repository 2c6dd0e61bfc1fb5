package harness

import (
	"context"
	"crypto/sha1"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// HarnessClient is the client name of the benchmark's own Redis
// connection: its commands (FLUSHALL, MEMORY USAGE, INFO) are left out of
// the slow-log figures, which are about geostream's calls.
const HarnessClient = "geostream-bench"

// SlowlogThreshold is the slow log's threshold during a run: every command
// or script call of 100 µs or more is logged. SlowlogMaxLen bounds the
// entries kept between two reads (~2 KB each).
const (
	SlowlogThreshold = 100 * time.Microsecond
	SlowlogMaxLen    = 20_000
)

// SlowCall is the longest call of a slow log.
type SlowCall struct {
	Micros  int64  `json:"us"`
	Command string `json:"command"` // its name and first arguments, scripts named
	Client  string `json:"client,omitempty"`
	Logged  int    `json:"calls_logged"` // calls at or over the threshold
}

// Slowest returns the longest of entries not made by the harness's own
// client. names maps a script's SHA1 to a name for EVALSHA.
func Slowest(entries []redis.SlowLog, names map[string]string) SlowCall {
	var s SlowCall
	for _, e := range entries {
		if e.ClientName == HarnessClient {
			continue
		}
		s.Logged++
		if us := e.Duration.Microseconds(); us > s.Micros || s.Command == "" {
			s.Micros, s.Command, s.Client = us, Describe(e.Args, names), e.ClientName
		}
	}
	return s
}

// Describe names a logged command: its name and up to three arguments,
// EVALSHA's script by name when names knows its SHA1 (EVAL's by the start
// of its body, which is all the slow log keeps), long arguments cut.
func Describe(args []string, names map[string]string) string {
	if len(args) == 0 {
		return "?"
	}
	out := []string{strings.ToUpper(args[0])}
	rest := args[1:]
	script := out[0] == "EVAL" || out[0] == "EVAL_RO"
	if (script || out[0] == "EVALSHA" || out[0] == "EVALSHA_RO") && len(rest) > 0 {
		sha := strings.ToLower(rest[0])
		if script { // the slow log keeps 128 bytes of the body: name it by them
			sha = fmt.Sprintf("%x", sha1.Sum([]byte(rest[0])))
		}
		switch n, ok := names[sha]; {
		case ok:
			out[0] += " " + n
		case script:
			out[0] += " " + strconv.Quote(cut(rest[0], 24))
		default:
			out[0] += " " + cut(rest[0], 8)
		}
		rest = rest[1:]
		if len(rest) > 0 {
			if k, err := strconv.Atoi(rest[0]); err == nil && len(rest) > 1 {
				out = append(out, strconv.Itoa(k)+" keys")
				rest = rest[1:]
			}
		}
	}
	for i, a := range rest {
		if i == 3 {
			out = append(out, "…")
			break
		}
		out = append(out, cut(a, 40))
	}
	return strings.Join(out, " ")
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// ResetSlowlog empties the slow log.
func (r *Redis) ResetSlowlog(ctx context.Context) error {
	return r.Client.Do(ctx, "SLOWLOG", "RESET").Err()
}

// TakeSlowlog returns every entry of the slow log and empties it.
func (r *Redis) TakeSlowlog(ctx context.Context) ([]redis.SlowLog, error) {
	entries, err := r.Client.SlowLogGet(ctx, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("slowlog get: %w", err)
	}
	return entries, r.ResetSlowlog(ctx)
}

// Merge returns the longer of two SlowCalls, with both counts of logged
// calls.
func Merge(a, b SlowCall) SlowCall {
	logged := a.Logged + b.Logged
	if b.Micros > a.Micros || a.Command == "" {
		a = b
	}
	a.Logged = logged
	return a
}
