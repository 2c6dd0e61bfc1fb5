package ingest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

// openAPI is the part of an OpenAPI 3.0 document the tests check.
type openAPI struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Summary     string `json:"summary"`
		Parameters  []struct {
			Name     string `json:"name"`
			In       string `json:"in"`
			Required bool   `json:"required"`
		} `json:"parameters"`
		Responses map[string]struct {
			Ref         string `json:"$ref"`
			Description string `json:"description"`
		} `json:"responses"`
		Security []map[string][]string `json:"security"`
	} `json:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
			In     string `json:"in"`
			Name   string `json:"name"`
		} `json:"securitySchemes"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) (openAPI, any) {
	t.Helper()
	var doc openAPI
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var raw any
	if err := json.Unmarshal(openAPIDoc, &raw); err != nil {
		t.Fatal(err)
	}
	return doc, raw
}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z0-9_]+)`)

// TestOpenAPIMatchesRouter walks the real router: every route must be
// documented, and every documented operation must be a route.
func TestOpenAPIMatchesRouter(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	e := newEnv(t)
	undoc, unserved := compareRoutes(e.router.Routes(), doc)
	for _, r := range undoc {
		t.Errorf("route %s is not in openapi.json", r)
	}
	for _, r := range unserved {
		t.Errorf("openapi.json documents %s, which the router does not serve", r)
	}
	if n := len(e.router.Routes()); n < 7 {
		t.Errorf("only %d routes", n)
	}

	// The comparison itself finds both kinds of difference.
	e.router.GET("/extra/:name/*rest", func(*gin.Context) {})
	doc.Paths["/gone"] = doc.Paths["/healthz"]
	undoc, unserved = compareRoutes(e.router.Routes(), doc)
	if !slices.Equal(undoc, []string{"get /extra/{name}/{rest}"}) || !slices.Equal(unserved, []string{"get /gone"}) {
		t.Errorf("compareRoutes missed a difference: %v, %v", undoc, unserved)
	}
}

// compareRoutes returns the router's routes that doc lacks and the
// operations of doc the router lacks, as "method /path/{param}".
func compareRoutes(routes gin.RoutesInfo, doc openAPI) (undocumented, unserved []string) {
	served := map[string]bool{}
	for _, r := range routes {
		path := ginParam.ReplaceAllString(r.Path, "{$1}") // /devices/:id → /devices/{id}
		served[strings.ToLower(r.Method)+" "+path] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			documented[method+" "+path] = true
		}
	}
	for r := range served {
		if !documented[r] {
			undocumented = append(undocumented, r)
		}
	}
	for d := range documented {
		if !served[d] {
			unserved = append(unserved, d)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unserved)
	return undocumented, unserved
}

// TestOpenAPIDocument checks the document's structure: version, info,
// operations with ids, summaries and described responses, path templates
// matching path parameters, and every $ref resolving.
func TestOpenAPIDocument(t *testing.T) {
	doc, raw := loadOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") || doc.Info.Title == "" || doc.Info.Version == "" {
		t.Fatalf("openapi %q, info %+v", doc.OpenAPI, doc.Info)
	}
	methods := []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}
	ids := map[string]bool{}
	for path, ops := range doc.Paths {
		if !strings.HasPrefix(path, "/") {
			t.Errorf("path %q does not start with /", path)
		}
		var templ []string
		for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
			templ = append(templ, m[1])
		}
		for method, op := range ops {
			where := method + " " + path
			if !slices.Contains(methods, method) {
				t.Errorf("%s: not an HTTP method", where)
			}
			if op.OperationID == "" || ids[op.OperationID] || op.Summary == "" {
				t.Errorf("%s: operationId %q missing or repeated, or no summary", where, op.OperationID)
			}
			ids[op.OperationID] = true
			if len(op.Responses) == 0 {
				t.Errorf("%s: no responses", where)
			}
			for code, r := range op.Responses {
				if r.Ref == "" && r.Description == "" {
					t.Errorf("%s %s: a response needs a description", where, code)
				}
			}
			var inPath []string
			for _, p := range op.Parameters {
				if p.In == "path" {
					inPath = append(inPath, p.Name)
					if !p.Required {
						t.Errorf("%s: path parameter %s must be required", where, p.Name)
					}
				}
			}
			slices.Sort(templ)
			slices.Sort(inPath)
			if !slices.Equal(templ, inPath) {
				t.Errorf("%s: path parameters %v, template has %v", where, inPath, templ)
			}
		}
	}
	// Every $ref points into this document.
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if s, ok := c.(string); ok && k == "$ref" {
					if resolve(raw, s) == nil {
						t.Errorf("$ref %s does not resolve", s)
					}
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(raw)
}

// resolve follows a local JSON pointer reference ("#/a/b"); nil when it
// does not resolve.
func resolve(doc any, ref string) any {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	cur := doc
	for _, part := range strings.Split(rest, "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		if cur, ok = m[part]; !ok {
			return nil
		}
	}
	return cur
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t)
	rec := e.get("/openapi.json")
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	if !bytes.Equal(rec.Body.Bytes(), openAPIDoc) {
		t.Error("GET /openapi.json does not serve openapi.json")
	}
}

// TestOpenAPISecurity checks that the document says which operations need
// an API key, and that the router agrees: with keys configured, every
// operation documented with security answers 401 without a key and
// documents 401, 403 (and 429 for the API), every other answers without
// one; without keys nothing answers 401.
func TestOpenAPISecurity(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	bearerScheme, apiKey := doc.Components.SecuritySchemes["bearerAuth"], doc.Components.SecuritySchemes["apiKeyHeader"]
	if bearerScheme.Type != "http" || bearerScheme.Scheme != "bearer" || apiKey.Type != "apiKey" || apiKey.In != "header" || apiKey.Name != "X-API-Key" {
		t.Fatalf("security schemes %+v", doc.Components.SecuritySchemes)
	}
	withKeys, without := newAuthEnv(t), newEnv(t)
	for path, ops := range doc.Paths {
		for method, op := range ops {
			where := method + " " + path
			if op.Security == nil {
				t.Errorf("%s: no security (want [] for an open operation)", where)
				continue
			}
			reqPath := strings.ReplaceAll(path, "{id}", "truck-1")
			body := ""
			if method == "post" {
				body = truckPoint
			}
			rec := withKeys.call(strings.ToUpper(method), reqPath, body, nil, "")
			protected := len(op.Security) > 0
			if protected != (rec.Code == http.StatusUnauthorized) {
				t.Errorf("%s: documented protected=%v, the router answers %d without a key", where, protected, rec.Code)
			}
			if rec := without.call(strings.ToUpper(method), reqPath, body, nil, ""); rec.Code == http.StatusUnauthorized {
				t.Errorf("%s: 401 with authentication off", where)
			}
			if !protected {
				continue
			}
			wantSec := []string{"bearerAuth", "apiKeyHeader"}
			if _, device := deviceRoutes[path]; device {
				// The device apps send what they can (deviceKey).
				wantSec = append(wantSec, "basicAuth", "keyQuery", "accessTokenQuery")
			}
			var gotSec []string
			for _, alt := range op.Security {
				for name := range alt {
					gotSec = append(gotSec, name)
				}
			}
			if !slices.Equal(gotSec, wantSec) {
				t.Errorf("%s: security %v, want %v", where, gotSec, wantSec)
			}
			want := []string{"401", "403", "429"}
			if path == "/metrics" {
				want = want[:2]
			}
			for _, code := range want {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s: response %s not documented", where, code)
				}
			}
		}
	}
}
