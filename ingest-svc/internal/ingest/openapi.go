package ingest

import (
	_ "embed" // openapi.json
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPIDoc is the OpenAPI 3.0 description of the API, served as is.
//
//go:embed openapi.json
var openAPIDoc []byte

// serveOpenAPI handles GET /openapi.json.
func serveOpenAPI(c *gin.Context) {
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPIDoc)
}
