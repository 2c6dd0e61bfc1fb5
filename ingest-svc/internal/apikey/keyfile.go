package apikey

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/geostream/geostream/streamkit/point"
)

// Parse reads API key definitions: one key per line (or separated by
// ';', for an environment variable), fields separated by spaces or tabs:
//
//	<id> sha256:<64 hex digits> <scopes> [<device-id prefixes>]
//
// scopes and prefixes are comma-separated; '#' starts a comment. Example:
//
//	truck-fleet  sha256:9f86d0…  write,read  truck-,van-
//	dashboard    sha256:60303a…  read
//	prometheus   sha256:fd61a0…  metrics
//
// source names the input in errors ("file keys.txt"); errors name the
// line and the field, never the line's content.
func Parse(r io.Reader, source string) ([]*Key, error) {
	var keys []*Key
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		for _, def := range strings.Split(sc.Text(), ";") {
			def, _, _ = strings.Cut(def, "#")
			fields := strings.Fields(def)
			if len(fields) == 0 {
				continue
			}
			k, err := parseKey(fields)
			if err != nil {
				return nil, fmt.Errorf("API keys (%s) line %d: %w", source, line, err)
			}
			keys = append(keys, k)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("API keys (%s): %w", source, err)
	}
	return keys, nil
}

func parseKey(f []string) (*Key, error) {
	if len(f) < 3 || len(f) > 4 {
		return nil, fmt.Errorf("want <id> sha256:<hex> <scopes> [<prefixes>], got %d fields", len(f))
	}
	k := &Key{ID: f[0]}
	if len(k.ID) > MaxIDLen || point.ValidDeviceID(k.ID) != nil {
		return nil, fmt.Errorf("the id must be 1-%d characters of A-Z a-z 0-9 . _ : -", MaxIDLen)
	}
	hexSum, ok := strings.CutPrefix(f[1], hashScheme)
	if !ok {
		return nil, fmt.Errorf("key %s: the hash must start with %s (the key itself is never configured; see ingest-svc keygen)", k.ID, hashScheme)
	}
	sum, err := hex.DecodeString(hexSum)
	if err != nil || len(sum) != sha256.Size {
		return nil, fmt.Errorf("key %s: the hash must be %s and 64 hex digits", k.ID, hashScheme)
	}
	copy(k.hash[:], sum)
	for _, s := range strings.Split(f[2], ",") {
		sc := Scope(strings.ToLower(s))
		if !slices.Contains(allScopes, sc) {
			return nil, fmt.Errorf("key %s: unknown scope %q; scopes are write, read and metrics", k.ID, s)
		}
		if !k.Has(sc) {
			k.Scopes = append(k.Scopes, sc)
		}
	}
	if len(f) == 4 {
		for _, p := range strings.Split(f[3], ",") {
			if point.ValidDeviceID(p) != nil {
				return nil, fmt.Errorf("key %s: prefix %q: a device-id prefix must be 1-%d characters of A-Z a-z 0-9 . _ : -",
					k.ID, p, point.MaxDeviceIDLen)
			}
			k.Prefixes = append(k.Prefixes, p)
		}
		k.Prefixes = minimalPrefixes(k.Prefixes)
		if len(k.Prefixes) > MaxPrefixes {
			return nil, fmt.Errorf("key %s: more than %d device-id prefixes", k.ID, MaxPrefixes)
		}
	}
	return k, nil
}

// minimalPrefixes sorts prefixes and drops those a shorter one covers
// ("truck-1" under "truck-"), so that GET /devices reads each device once.
func minimalPrefixes(ps []string) []string {
	ps = slices.Clone(ps)
	slices.Sort(ps)
	ps = slices.Compact(ps)
	out := ps[:0]
	for _, p := range ps {
		if len(out) > 0 && strings.HasPrefix(p, out[len(out)-1]) {
			continue // sorted: a covering prefix comes right before
		}
		out = append(out, p)
	}
	return out
}

// maxKeysFileBytes bounds the key file read at start-up.
const maxKeysFileBytes = 1 << 20

// Load reads the keys of a key file and of a definition string (the
// environment's GEOSTREAM_API_KEYS), in the format of Parse. Neither
// given: nil, authentication off. Given but holding no key: an error, so
// that an empty or truncated file cannot turn authentication off.
func Load(file, defs string) (*Set, error) {
	if file == "" && strings.TrimSpace(defs) == "" {
		return nil, nil
	}
	var keys []*Key
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("API keys: %w", err)
		}
		defer f.Close()
		ks, err := Parse(io.LimitReader(f, maxKeysFileBytes), "file "+file)
		if err != nil {
			return nil, err
		}
		keys = append(keys, ks...)
	}
	ks, err := Parse(strings.NewReader(defs), "api-keys")
	if err != nil {
		return nil, err
	}
	keys = append(keys, ks...)
	return NewSet(keys)
}
