package apikey

import (
	"strings"
	"testing"

	"github.com/geostream/geostream/ingest-svc/internal/apikey/apikeytest"
)

func TestAuthenticate(t *testing.T) {
	ks, err := Load("", apikeytest.Defs(Hash))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		presented, wantID string
	}{
		{apikeytest.Writer, "writer"}, {apikeytest.Reader, "reader"}, {apikeytest.Truck, "truck"}, {apikeytest.All, "all"},
		{apikeytest.Unknown, ""}, {"", ""}, {apikeytest.Writer[:MinLen-1], ""}, {apikeytest.Writer + " ", ""},
		{Hash(apikeytest.Writer), ""}, {strings.Repeat("x", MaxLen+1), ""},
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
	short, err := Load("", "s "+Hash("short-key")+" read")
	if err != nil {
		t.Fatal(err)
	}
	if short.Authenticate("short-key") != nil {
		t.Error("a key under MinLen was accepted")
	}
}

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		k, err := Generate()
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 46 || !strings.HasPrefix(k, "gs_") || len(k) < MinLen || seen[k] {
			t.Fatalf("key %q: want 46 characters starting with gs_, never repeated", k)
		}
		seen[k] = true
		ks, err := Load("", "k "+Hash(k)+" read")
		if err != nil || ks.Authenticate(k) == nil {
			t.Fatalf("a generated key does not authenticate: %v", err)
		}
	}
	if got := Hash("abc"); got != "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("Hash(abc) = %s: not the SHA-256 of the key (what sha256sum prints)", got)
	}
}

func TestKeyAllows(t *testing.T) {
	k := &Key{ID: "k", Prefixes: []string{"truck-", "van-"}}
	for id, want := range map[string]bool{"truck-1": true, "van-": true, "car-1": false, "truck": false, "trucks-1": false, "default": false} {
		if k.Allows(id) != want {
			t.Errorf("Allows(%q) = %v", id, !want)
		}
	}
	if !(&Key{}).Allows("anything") {
		t.Error("a key without prefixes must allow every device")
	}
}
