// Package scripts holds geostream's Lua scripts and the Go code that lays out
// their arguments. Each script touches the keys of one partition only (one
// hash tag), so it runs unchanged on Redis Cluster; each file states the
// invariants it keeps, and the tests beside it check them on miniredis and
// on a real redis-server.
package scripts

import (
	_ "embed"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed apply.lua
	applySrc string
	//go:embed append.lua
	appendSrc string
	//go:embed token.lua
	tokenSrc string
	//go:embed geoset.lua
	geosetSrc string
	//go:embed keytype.lua
	keytypeSrc string
	//go:embed markers.lua
	markersSrc string
	//go:embed checkkey.lua
	checkKeySrc string
)

// Apply counts a batch of stream entries into the aggregates, each exactly
// once (see apply.lua). Build its arguments with ApplyBatch.
var Apply = redis.NewScript(withPrelude(applySrc))

// Append appends one request's points of one partition (see append.lua).
// Build its arguments with AppendBatch.
var Append = redis.NewScript(joinFront(markersSrc, appendSrc))

// CheckKey reads an Idempotency-Key's marker in one partition (see
// checkkey.lua); CheckKeys runs it.
var CheckKey = redis.NewScript(joinFront(markersSrc, checkKeySrc))

// MaxApplyEntries bounds the entries of one Apply or ApplySums call, and
// MaxApplyPoints the points of one Apply call (apply.lua, invariant 3: sums
// must stay exact in Lua's doubles).
const (
	MaxApplyEntries = 10_000
	MaxApplyPoints  = 100_000
)

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// withPrelude returns src with the code of token.lua, geoset.lua and
// keytype.lua in front of it (joinFront).
func withPrelude(src string) string {
	return joinFront(tokenSrc+"\n"+geosetSrc+"\n"+keytypeSrc, src)
}

// joinFront returns src with the code of lib in front of it, on src's
// first line, which must be a comment: lib's comments are dropped and its
// lines joined with spaces, so that the line numbers Redis reports in a
// script's errors ("user_script:57") are those of src's own file. lib must
// therefore have no "--" other than its comments.
func joinFront(lib, src string) string {
	if !strings.HasPrefix(src, "--") {
		panic("scripts: a script the prelude is joined onto must start with a comment line")
	}
	var code []string
	for line := range strings.Lines(lib) {
		line, _, _ = strings.Cut(line, "--")
		if line = strings.TrimSpace(line); line != "" {
			code = append(code, line)
		}
	}
	return strings.Join(code, " ") + " " + src
}
