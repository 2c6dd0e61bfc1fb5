// Package apikey holds ingest-svc's API keys: their scopes and device-id
// prefixes, the key file, the stored hash, new keys, and the key a request
// presents. It knows net/http but no router; the HTTP answers (401, 403)
// are the ingest package's.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scope is a permission an API key grants.
type Scope string

// The scopes of an API key.
const (
	// ScopeWrite allows POST /upload.
	ScopeWrite Scope = "write"
	// ScopeRead allows GET /retrieve, GET /devices and GET /devices/{id}.
	ScopeRead Scope = "read"
	// ScopeMetrics allows GET /metrics when it is protected (auth on and
	// not --metrics-public).
	ScopeMetrics Scope = "metrics"
)

var allScopes = []Scope{ScopeWrite, ScopeRead, ScopeMetrics}

// Bounds of API keys.
const (
	// MinLen is the shortest key accepted in a request. Keys are stored
	// as SHA-256 hashes, which protect only keys too long to guess: a short
	// key's hash could be reversed by trying every key. Generate makes
	// 46-character keys.
	MinLen = 32
	// MaxLen is the longest key accepted in a request.
	MaxLen = 256
	// MaxIDLen is the longest key id.
	MaxIDLen = 64
	// MaxPrefixes bounds the device-id prefixes of one key: GET /devices
	// costs one read per prefix and partition.
	MaxPrefixes = 16
	// hashScheme starts a stored hash.
	hashScheme = "sha256:"
)

// Key is one configured key: its id (for logs and metrics; never the
// key itself), the SHA-256 of the key, its scopes and the device-id
// prefixes it is limited to.
type Key struct {
	// ID names the key in logs, metrics and error answers.
	ID string
	// Scopes are what the key may do.
	Scopes []Scope
	// Prefixes limit the devices the key may write and read to those whose
	// id starts with one of them; empty means every device.
	Prefixes []string

	hash [sha256.Size]byte
}

// Has reports whether the key grants s.
func (k *Key) Has(s Scope) bool { return slices.Contains(k.Scopes, s) }

// Allows reports whether the key may write and read device id.
func (k *Key) Allows(id string) bool {
	if len(k.Prefixes) == 0 {
		return true
	}
	for _, p := range k.Prefixes {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// ScopeList returns the key's scopes as "read, write".
func (k *Key) ScopeList() string {
	s := make([]string, len(k.Scopes))
	for i, sc := range k.Scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ", ")
}

// PrefixList returns the key's prefixes as "truck-, van-".
func (k *Key) PrefixList() string { return strings.Join(k.Prefixes, ", ") }

// Set is the configured API keys. A nil *Set means authentication is
// off.
type Set struct {
	keys []*Key
}

// NewSet checks that ids and hashes are unique and that there is at
// least one key.
func NewSet(keys []*Key) (*Set, error) {
	if len(keys) == 0 {
		return nil, errors.New("no API key is configured")
	}
	ids := map[string]bool{}
	hashes := map[[sha256.Size]byte]string{}
	for _, k := range keys {
		if ids[k.ID] {
			return nil, fmt.Errorf("API key id %q is used twice", k.ID)
		}
		ids[k.ID] = true
		if other, ok := hashes[k.hash]; ok {
			return nil, fmt.Errorf("API keys %q and %q have the same hash", other, k.ID)
		}
		hashes[k.hash] = k.ID
	}
	return &Set{keys: keys}, nil
}

// Len returns the number of keys.
func (s *Set) Len() int { return len(s.keys) }

// Authenticate returns the key whose hash is the hash of presented, nil for
// none. Every stored hash is compared, in constant time and without an
// early exit, so that the time taken says nothing about which hash came
// close.
func (s *Set) Authenticate(presented string) *Key {
	if len(presented) < MinLen || len(presented) > MaxLen {
		return nil
	}
	sum := sha256.Sum256([]byte(presented))
	var found *Key
	for _, k := range s.keys {
		if subtle.ConstantTimeCompare(sum[:], k.hash[:]) == 1 {
			found = k
		}
	}
	return found
}

// Hash returns the stored form of a key: "sha256:" and the hex SHA-256
// of the key. SHA-256 (not bcrypt or argon2) because keys are random and
// long (see MinLen): nobody can guess one from its hash however fast the
// hash is, and a slow hash on every request would hand any client a cheap
// way to burn the server's CPU.
func Hash(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hashScheme + hex.EncodeToString(sum[:])
}

// Generate returns a new random key: "gs_" and 32 random bytes in
// unpadded base64url (46 characters).
func Generate() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return "gs_" + base64.RawURLEncoding.EncodeToString(b), nil
}
