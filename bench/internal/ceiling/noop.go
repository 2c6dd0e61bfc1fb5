// Package ceiling measures what the machine can do without geostream's
// work in the way: a gin handler that only decodes a point, Redis's own
// XADD rate (redis-benchmark), and a bare consumer-group drain. Each is
// the denominator of one of the benchmark's ratios.
package ceiling

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/geostream/geostream/streamkit/agg"
	"github.com/geostream/geostream/streamkit/point"
)

// NoopRouter returns the no-op ingest: POST /upload reads the body,
// decodes its points with the same decoder as ingest-svc, and answers
// ingest-svc's 200 body without storing anything; GET /healthz answers
// 200. It is the HTTP + JSON ceiling of POST /upload on this machine.
// GET /retrieve answers a fixed summary of the shape ingest-svc answers,
// without reading anything: the floor of /retrieve's latency under the
// same generator and background load.
func NoopRouter() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.POST("/upload", func(c *gin.Context) {
		data, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, 8<<20))
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		pts, err := point.DecodeBytes(data, point.BodyJSON, point.DecodeOptions{})
		if err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"error": err.Error()})
			return
		}
		c.JSON(http.StatusOK, accepted{Message: "Data uploaded successfully", Accepted: int64(len(pts))})
	})
	e.GET("/retrieve", func(c *gin.Context) { c.JSON(http.StatusOK, cannedSummary) })
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	return e
}

// accepted is ingest-svc's answer to a stored upload, encoded the same way.
type accepted struct {
	Message  string `json:"message"`
	Accepted int64  `json:"accepted"`
}

// cannedSummary is a /retrieve answer of ingest-svc's type and size.
var cannedSummary = agg.Summary{
	AverageLatitude: 48.8566012, AverageLongitude: 2.3522019, DataCount: 1_000_000,
	Centroid:       &agg.Position{Latitude: 48.8565991, Longitude: 2.3521998},
	BBox:           agg.BBox{MinLatitude: 48.80001, MinLongitude: 2.25002, MaxLatitude: 48.90003, MaxLongitude: 2.45004},
	FirstTimestamp: "2026-11-28T10:00:00Z", LastTimestamp: "2026-11-28T10:16:40Z",
}

// ServeNoop serves NoopRouter on addr until ctx is done.
func ServeNoop(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: NoopRouter(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
