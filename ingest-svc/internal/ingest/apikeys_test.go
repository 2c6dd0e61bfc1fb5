package ingest

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseKeys(t *testing.T) {
	h := HashKey(keyWriter)
	h2 := HashKey(keyReader)
	for _, tt := range []struct {
		name    string
		in      string
		want    []string // "id scopes prefixes" of each key
		wantErr string
	}{
		{name: "empty", in: ""},
		{name: "comments and blank lines", in: "# keys\n\n   # more\n"},
		{name: "one key", in: "fleet " + h + " write", want: []string{"fleet write "}},
		{name: "tabs, comment, prefixes", in: "fleet\t" + h + "\twrite,read\ttruck-,van- # the trucks\n",
			want: []string{"fleet write,read truck-,van-"}},
		{name: "semicolons", in: "a " + h + " read; b " + h2 + " metrics", want: []string{"a read ", "b metrics "}},
		{name: "scopes are case-insensitive and deduplicated", in: "a " + h + " READ,read,Write", want: []string{"a read,write "}},
		{name: "upper-case hex", in: "a sha256:" + strings.ToUpper(h[len("sha256:"):]) + " read", want: []string{"a read "}},
		{name: "covered prefixes dropped", in: "a " + h + " read truck-1,truck-,van-,truck-22,van-", want: []string{"a read truck-,van-"}},
		{name: "two fields", in: "a " + h, wantErr: "line 1: want <id> sha256:<hex> <scopes> [<prefixes>], got 2 fields"},
		{name: "five fields", in: "\n\na " + h + " read x y", wantErr: "line 3: want"},
		{name: "bad id", in: "a/b " + h + " read", wantErr: "the id must be"},
		{name: "long id", in: strings.Repeat("a", MaxKeyIDLen+1) + " " + h + " read", wantErr: "the id must be"},
		{name: "a key instead of its hash", in: "a " + keyWriter + " read", wantErr: "the hash must start with sha256:"},
		{name: "short hash", in: "a sha256:abcd read", wantErr: "64 hex digits"},
		{name: "unknown scope", in: "a " + h + " admin", wantErr: `unknown scope "admin"`},
		{name: "empty scope", in: "a " + h + " read,", wantErr: `unknown scope ""`},
		{name: "bad prefix", in: "a " + h + " read truck/", wantErr: `prefix "truck/"`},
		{name: "too many prefixes", in: "a " + h + " read " + manyPrefixes(MaxKeyPrefixes+1), wantErr: "more than 16 device-id prefixes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys(strings.NewReader(tt.in), "test")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), keyWriter) || strings.Contains(err.Error(), h[10:]) {
					t.Errorf("the error repeats the line's content: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, k.ID+" "+strings.ReplaceAll(k.scopeList(), ", ", ",")+" "+strings.Join(k.Prefixes, ","))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("keys %q, want %q", got, tt.want)
			}
		})
	}
}

func manyPrefixes(n int) string {
	var ps []string
	for i := range n {
		ps = append(ps, "p"+string(rune('a'+i))+"-")
	}
	return strings.Join(ps, ",")
}

func TestLoadKeys(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("keys.txt", "writer "+HashKey(keyWriter)+" write\n")
	empty := write("empty.txt", "# nothing yet\n")
	dup := write("dup.txt", "writer "+HashKey(keyReader)+" read\n")
	sameHash := write("same.txt", "other "+HashKey(keyWriter)+" read\n")
	for _, tt := range []struct {
		name, file, defs string
		wantKeys         int
		wantErr          string
	}{
		{name: "nothing configured: authentication off"},
		{name: "blank environment: off", defs: "  \n"},
		{name: "file", file: good, wantKeys: 1},
		{name: "environment", defs: testKeyDefs(), wantKeys: 5},
		{name: "both", file: good, defs: "reader " + HashKey(keyReader) + " read", wantKeys: 2},
		{name: "empty file", file: empty, wantErr: "no API key is configured"},
		{name: "missing file", file: filepath.Join(dir, "nope.txt"), wantErr: "no such file"},
		{name: "id twice", file: good, defs: "writer " + HashKey(keyReader) + " read", wantErr: `id "writer" is used twice`},
		{name: "id twice in files", file: dup, defs: "writer " + HashKey(keyWriter) + " read", wantErr: "used twice"},
		{name: "same key twice", file: sameHash, defs: "writer " + HashKey(keyWriter) + " write", wantErr: "same hash"},
		{name: "bad line names the file", file: write("bad.txt", "\nx y\n"), wantErr: "API keys (file " + dir},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := LoadKeys(tt.file, tt.defs)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantKeys == 0 {
				if ks != nil {
					t.Fatalf("keys %v, want nil (authentication off)", ks)
				}
				return
			}
			if ks.Len() != tt.wantKeys {
				t.Fatalf("%d keys, want %d", ks.Len(), tt.wantKeys)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	ks := testKeySet(t)
	for _, tt := range []struct {
		presented, wantID string
	}{
		{keyWriter, "writer"}, {keyReader, "reader"}, {keyTruck, "truck"}, {keyAll, "all"},
		{keyUnknown, ""}, {"", ""}, {keyWriter[:MinKeyLen-1], ""}, {keyWriter + " ", ""},
		{HashKey(keyWriter), ""}, {strings.Repeat("x", MaxKeyLen+1), ""},
	} {
		got := ""
		if k := ks.Authenticate(tt.presented); k != nil {
			got = k.ID
		}
		if got != tt.wantID {
			t.Errorf("Authenticate(%.12q…) = %q, want %q", tt.presented, got, tt.wantID)
		}
	}
	// A short key is refused even when its hash is configured: its hash
	// could be reversed by trying every short key.
	short, err := LoadKeys("", "s "+HashKey("short-key")+" read")
	if err != nil {
		t.Fatal(err)
	}
	if short.Authenticate("short-key") != nil {
		t.Error("a key under MinKeyLen was accepted")
	}
}

func TestGenerateKey(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k, err := GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 46 || !strings.HasPrefix(k, "gs_") || len(k) < MinKeyLen || seen[k] {
			t.Fatalf("key %q: want 46 characters starting with gs_, never repeated", k)
		}
		seen[k] = true
		ks, err := LoadKeys("", "k "+HashKey(k)+" read")
		if err != nil || ks.Authenticate(k) == nil {
			t.Fatalf("a generated key does not authenticate: %v", err)
		}
	}
	if got := HashKey("abc"); got != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashKey(abc) = %s: not the SHA-256 of the key (what sha256sum prints)", got)
	}
}

func TestAPIKeyAllows(t *testing.T) {
	k := &APIKey{ID: "k", Prefixes: []string{"truck-", "van-"}}
	for id, want := range map[string]bool{"truck-1": true, "van-": true, "car-1": false, "truck": false, "trucks-1": false, "default": false} {
		if k.Allows(id) != want {
			t.Errorf("Allows(%q) = %v", id, !want)
		}
	}
	if !(&APIKey{}).Allows("anything") {
		t.Error("a key without prefixes must allow every device")
	}
}

func TestOpenWarning(t *testing.T) {
	ks := testKeySet(t)
	for _, tt := range []struct {
		addr string
		keys *KeySet
		warn bool
	}{
		{"127.0.0.1:8080", nil, false},
		{"127.0.0.2:8080", nil, false},
		{"localhost:8080", nil, false},
		{"[::1]:8080", nil, false},
		{"0.0.0.0:8080", nil, true},
		{":8080", nil, true},
		{"[::]:8080", nil, true},
		{"10.1.2.3:8080", nil, true},
		{"ingest.example:8080", nil, true},
		{"0.0.0.0:8080", ks, false},
	} {
		c := Config{}
		c.HTTPAddr = tt.addr
		w := c.OpenWarning(tt.keys)
		if (w != "") != tt.warn {
			t.Errorf("%s, keys %v: warning %q, want one: %v", tt.addr, tt.keys != nil, w, tt.warn)
		}
		if w != "" && !strings.Contains(w, "AUTHENTICATION IS OFF") {
			t.Errorf("warning %q is not loud", w)
		}
	}
}

func TestRouterConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		tune    func(*RouterConfig)
		wantErr string
	}{
		{"defaults", func(*RouterConfig) {}, ""},
		{"rate limits off", func(c *RouterConfig) { c.RateLimit, c.ReadRateLimit, c.RateBurst, c.ReadRateBurst = 0, 0, 0, 0 }, ""},
		{"burst under the batch", func(c *RouterConfig) { c.RateBurst = c.MaxBatch - 1 }, "rate-burst (9999) must be at least max-batch (10000)"},
		{"negative rate", func(c *RouterConfig) { c.RateLimit = -1 }, "rate-limit must be 0 (off) or a positive number"},
		{"read burst 0", func(c *RouterConfig) { c.ReadRateBurst = 0 }, "read-rate-burst must be at least 1"},
		{"in flight 0", func(c *RouterConfig) { c.MaxInFlight = 0 }, "max-in-flight must be 1..100000"},
		{"range buckets", func(c *RouterConfig) { c.MaxRangeBuckets = 0 }, "max-range-buckets must be 1..20000"},
		{"decompressed", func(c *RouterConfig) { c.MaxDecompressedBytes = 0 }, "max-decompressed-bytes must be"},
	} {
		c := DefaultRouterConfig()
		tt.tune(&c)
		err := c.Validate()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}
