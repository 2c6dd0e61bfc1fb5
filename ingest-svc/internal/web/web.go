// Package web serves geostream's browser UI: a live map of the devices'
// last positions with the global averages, centroid and bounding box, and
// charts of the time series. Everything is embedded in the binary (no
// Node at build or run time); the front-end libraries are vendored from
// npm by scripts/vendor-web, and static/vendor/MANIFEST.tsv records each
// file's package, version, licence and sha256 (TestVendorManifest).
//
// The page and its assets need no API key: they hold no data. The page
// asks for a key (scope read) when the API answers 401.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed static
var static embed.FS

// TileOrigin is the one third-party origin the page may contact: the
// optional OpenStreetMap tile layer (off by default; the basemap is the
// embedded world outline).
const TileOrigin = "https://tile.openstreetmap.org"

// CSP is the Content-Security-Policy of every UI response: scripts,
// styles and API calls from this origin only, no inline code or style
// attributes, no eval; images from here and the tile origin.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' " + TileOrigin +
	"; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// asset is one embedded file as served.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// assets are the files under static, by path relative to it ("index.html",
// "vendor/leaflet.js"); built once at start-up.
var assets = mustLoad()

func mustLoad() map[string]asset {
	m := map[string]asset{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[strings.TrimPrefix(p, "static/")] = asset{body: b, ctype: contentType(p), etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: embedded files: " + err.Error()) // embedded at build time; TestAssets reads them all
	}
	return m
}

// contentType is a file's Content-Type by its extension; text types are
// UTF-8.
func contentType(p string) string {
	if strings.HasPrefix(path.Base(p), "LICENSE") {
		return "text/plain; charset=utf-8"
	}
	switch ext := path.Ext(p); ext {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".json":
		return "application/json"
	case ".tsv":
		return "text/plain; charset=utf-8" // the manifest
	default:
		if t := mime.TypeByExtension(ext); t != "" {
			return t
		}
		return "application/octet-stream"
	}
}

// Register adds GET / (the page) and GET /ui/{file} (its scripts, styles,
// vendored libraries and basemap) to r.
func Register(r gin.IRoutes) {
	r.GET("/", func(c *gin.Context) { serve(c, "index.html") })
	r.GET("/ui/*file", func(c *gin.Context) { serve(c, strings.TrimPrefix(c.Param("file"), "/")) })
}

// serve answers one asset, 404 when there is none by that name. Names are
// not versioned, so every answer is revalidated (no-cache) with its ETag:
// a new binary's files are seen at once, an unchanged file costs a 304.
func serve(c *gin.Context, name string) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	a, ok := assets[name]
	if !ok || name == "index.html" && c.Request.URL.Path != "/" {
		c.AbortWithStatusJSON(http.StatusNotFound, gin.H{"error": "no such file of the web UI: " + c.Request.URL.Path, "details": []any{}})
		return
	}
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", a.etag)
	if match := c.Request.Header.Get("If-None-Match"); match != "" && etagMatches(match, a.etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, a.ctype, a.body)
}

// etagMatches reports whether an If-None-Match header lists etag (or *).
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
