package apikey

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/geostream/geostream/ingest-svc/internal/apikey/apikeytest"
)

func TestParse(t *testing.T) {
	h := Hash(apikeytest.Writer)
	h2 := Hash(apikeytest.Reader)
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
		{name: "long id", in: strings.Repeat("a", MaxIDLen+1) + " " + h + " read", wantErr: "the id must be"},
		{name: "a key instead of its hash", in: "a " + apikeytest.Writer + " read", wantErr: "the hash must start with sha256:"},
		{name: "short hash", in: "a sha256:abcd read", wantErr: "64 hex digits"},
		{name: "unknown scope", in: "a " + h + " admin", wantErr: `unknown scope "admin"`},
		{name: "empty scope", in: "a " + h + " read,", wantErr: `unknown scope ""`},
		{name: "bad prefix", in: "a " + h + " read truck/", wantErr: `prefix "truck/"`},
		{name: "too many prefixes", in: "a " + h + " read " + manyPrefixes(MaxPrefixes+1), wantErr: "more than 16 device-id prefixes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := Parse(strings.NewReader(tt.in), "test")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), apikeytest.Writer) || strings.Contains(err.Error(), h[10:]) {
					t.Errorf("the error repeats the line's content: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, k := range keys {
				got = append(got, k.ID+" "+strings.ReplaceAll(k.ScopeList(), ", ", ",")+" "+strings.Join(k.Prefixes, ","))
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

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("keys.txt", "writer "+Hash(apikeytest.Writer)+" write\n")
	empty := write("empty.txt", "# nothing yet\n")
	dup := write("dup.txt", "writer "+Hash(apikeytest.Reader)+" read\n")
	sameHash := write("same.txt", "other "+Hash(apikeytest.Writer)+" read\n")
	for _, tt := range []struct {
		name, file, defs string
		wantKeys         int
		wantErr          string
	}{
		{name: "nothing configured: authentication off"},
		{name: "blank environment: off", defs: "  \n"},
		{name: "file", file: good, wantKeys: 1},
		{name: "environment", defs: apikeytest.Defs(Hash), wantKeys: 5},
		{name: "both", file: good, defs: "reader " + Hash(apikeytest.Reader) + " read", wantKeys: 2},
		{name: "empty file", file: empty, wantErr: "no API key is configured"},
		{name: "missing file", file: filepath.Join(dir, "nope.txt"), wantErr: "no such file"},
		{name: "id twice", file: good, defs: "writer " + Hash(apikeytest.Reader) + " read", wantErr: `id "writer" is used twice`},
		{name: "id twice in files", file: dup, defs: "writer " + Hash(apikeytest.Writer) + " read", wantErr: "used twice"},
		{name: "same key twice", file: sameHash, defs: "writer " + Hash(apikeytest.Writer) + " write", wantErr: "same hash"},
		{name: "bad line names the file", file: write("bad.txt", "\nx y\n"), wantErr: "API keys (file " + dir},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ks, err := Load(tt.file, tt.defs)
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
