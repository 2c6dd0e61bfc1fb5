package web

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// TestVendorManifest checks every vendored file against MANIFEST.tsv
// (written by scripts/vendor-web): each file is listed with its package,
// version, licence and the sha256 of the embedded bytes, and each listed
// file is embedded.
func TestVendorManifest(t *testing.T) {
	f, err := static.Open("static/vendor/MANIFEST.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 5 || cols[1] == "" || cols[3] == "" || !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(cols[2]) {
			t.Errorf("manifest line %q: want file, package, pinned version, licence, sha256", line)
			continue
		}
		name, sum := cols[0], cols[4]
		listed[name] = true
		b, err := static.ReadFile("static/vendor/" + name)
		if err != nil {
			t.Errorf("%s is in the manifest but not embedded: %v", name, err)
			continue
		}
		got := sha256.Sum256(b)
		if hex.EncodeToString(got[:]) != sum {
			t.Errorf("%s: sha256 %x, the manifest says %s (%s@%s); run scripts/vendor-web", name, got, sum, cols[1], cols[2])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	n := 0
	err = fs.WalkDir(static, "static/vendor", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == "static/vendor/MANIFEST.tsv" {
			return err
		}
		n++
		if name := strings.TrimPrefix(p, "static/vendor/"); !listed[name] {
			t.Errorf("%s is vendored but not in the manifest", name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("only %d vendored files", n)
	}
}

func newRouter() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	Register(e)
	return e
}

func get(e *gin.Engine, path string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, r)
	return w
}

// TestServe checks the answers: status, Content-Type, the CSP and
// cache headers, and 304 for a current ETag.
func TestServe(t *testing.T) {
	e := newRouter()
	for _, tt := range []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/ui/app.js", "text/javascript; charset=utf-8", 200},
		{"/ui/map.js", "text/javascript; charset=utf-8", 200},
		{"/ui/app.css", "text/css; charset=utf-8", 200},
		{"/ui/favicon.svg", "image/svg+xml", 200},
		{"/ui/vendor/leaflet.js", "text/javascript; charset=utf-8", 200},
		{"/ui/vendor/images/layers.png", "image/png", 200},
		{"/ui/vendor/countries-110m.json", "application/json", 200},
		{"/ui/vendor/MANIFEST.tsv", "text/plain; charset=utf-8", 200},
		{"/ui/nope.js", "application/json; charset=utf-8", 404},
		{"/ui/index.html", "application/json; charset=utf-8", 404}, // the page is at / only
		{"/ui/../web.go", "application/json; charset=utf-8", 404},
	} {
		w := get(e, tt.path)
		if w.Code != tt.status || w.Header().Get("Content-Type") != tt.ctype {
			t.Errorf("%s: %d %q, want %d %q", tt.path, w.Code, w.Header().Get("Content-Type"), tt.status, tt.ctype)
		}
		if got := w.Header().Get("Content-Security-Policy"); got != CSP {
			t.Errorf("%s: CSP %q", tt.path, got)
		}
		if w.Header().Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: no nosniff", tt.path)
		}
		if tt.status != 200 {
			continue
		}
		etag := w.Header().Get("ETag")
		if w.Header().Get("Cache-Control") != "no-cache" || etag == "" {
			t.Errorf("%s: Cache-Control %q, ETag %q", tt.path, w.Header().Get("Cache-Control"), etag)
		}
		if w := get(e, tt.path, "If-None-Match", `"x", `+etag); w.Code != http.StatusNotModified || w.Body.Len() != 0 {
			t.Errorf("%s with its ETag: %d, %d bytes", tt.path, w.Code, w.Body.Len())
		}
		if w := get(e, tt.path, "If-None-Match", `"other"`); w.Code != 200 {
			t.Errorf("%s with another ETag: %d", tt.path, w.Code)
		}
	}
}

// TestCSP checks the policy's parts: this origin only, no inline code or
// eval, images from the one tile origin.
func TestCSP(t *testing.T) {
	dirs := map[string]string{}
	for _, d := range strings.Split(CSP, ";") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), " ")
		dirs[name] = val
	}
	for name, want := range map[string]string{
		"default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "connect-src": "'self'",
		"img-src": "'self' " + TileOrigin, "object-src": "'none'", "frame-ancestors": "'none'",
	} {
		if dirs[name] != want {
			t.Errorf("%s %q, want %q", name, dirs[name], want)
		}
	}
	if strings.Contains(CSP, "unsafe") || strings.Contains(CSP, "data:") || strings.Contains(CSP, "*") {
		t.Errorf("CSP allows more than it should: %s", CSP)
	}
}

// TestPageNeedsNothingInline checks index.html and the UI's own files
// against the CSP: no inline scripts, style attributes, event handler
// attributes or eval; every file the page links is embedded; no
// third-party URL but the tile origin and the attribution links.
func TestPageNeedsNothingInline(t *testing.T) {
	page := string(assets["index.html"].body)
	for _, bad := range []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with content
		regexp.MustCompile(`\sstyle\s*=`),
		regexp.MustCompile(`\son[a-z]+\s*=`),
		regexp.MustCompile(`<style`),
	} {
		if m := bad.FindString(page); m != "" {
			t.Errorf("index.html holds %q, which the CSP blocks", m)
		}
	}
	refs := regexp.MustCompile(`(?:src|href)="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 7 {
		t.Fatalf("index.html links only %d files", len(refs))
	}
	for _, r := range refs {
		name, ok := strings.CutPrefix(r[1], "/ui/")
		if !ok || assets[name].body == nil {
			t.Errorf("index.html links %s, which is not an embedded file", r[1])
		}
	}
	urls := regexp.MustCompile(`https?://[^\s'"]+`)
	for _, name := range []string{"app.js", "api.js", "map.js", "charts.js", "app.css"} {
		src := string(assets[name].body)
		if src == "" {
			t.Fatalf("%s is not embedded", name)
		}
		if strings.Contains(src, "eval(") || strings.Contains(src, "new Function") || strings.Contains(src, "innerHTML") {
			t.Errorf("%s uses eval or innerHTML", name)
		}
		for _, u := range urls.FindAllString(src, -1) {
			if !strings.HasPrefix(u, TileOrigin+"/") && !slices.Contains([]string{"https://leafletjs.com", "https://www.openstreetmap.org/copyright", "https://www.naturalearthdata.com/"}, u) {
				t.Errorf("%s names the third-party URL %s", name, u)
			}
		}
	}
}

func TestContentType(t *testing.T) {
	for p, want := range map[string]string{
		"a.js": "text/javascript; charset=utf-8", "a.css": "text/css; charset=utf-8", "a.html": "text/html; charset=utf-8",
		"a.json": "application/json", "a.png": "image/png", "vendor/LICENSE.leaflet": "text/plain; charset=utf-8", "a.bin": "application/octet-stream", "MANIFEST.tsv": "text/plain; charset=utf-8",
	} {
		if got := contentType(p); got != want {
			t.Errorf("%s: %q, want %q", p, got, want)
		}
	}
}
