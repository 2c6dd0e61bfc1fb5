// Command ingest-svc serves geostream's HTTP API: POST /upload stores points
// in the partition streams; GET /retrieve (all time, time ranges, series),
// GET /devices and GET /devices/{id} answer from the aggregates the
// processors keep; GET /openapi.json describes it all. Run it with -h for
// its settings; each flag also reads a GEOSTREAM_* environment variable.
//
// "ingest-svc keygen" makes an API key and the line of the key file that
// holds its hash (see docs/security.md).
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/geostream/geostream/ingest-svc/internal/ingest"
	"github.com/geostream/geostream/streamkit/metrics"
	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/scripts"
	"github.com/geostream/geostream/streamkit/service"
)

// usage comes before the list of flags in -h.
const usage = "usage: ingest-svc [flags]    (serve the API)\n       ingest-svc keygen -h     (make an API key)\nflags:"

// startTimeout bounds the start-up checks against Redis.
const startTimeout = 10 * time.Second

func main() { service.Main("ingest-svc", run) }

// run parses the configuration from args and the environment, connects to
// Redis and serves until ctx is done. Logs go to stdout; flag errors and -h
// (which returns nil) to stderr.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "keygen" {
		return keygen(args[1:], stdout, stderr)
	}
	var cfg ingest.Config
	log, err := service.Setup("ingest-svc", &cfg, usage, args, lookupEnv, stdout, stderr)
	if log == nil || err != nil {
		return err // nil after -h
	}
	ln, err := cfg.Listen()
	if err != nil {
		return err
	}
	defer ln.Close()
	apiKeys, err := cfg.Keys()
	if err != nil {
		return err
	}
	switch warning := cfg.OpenWarning(apiKeys); {
	case apiKeys != nil:
		log.Info("authentication on", "api_keys", apiKeys.Len(), "metrics_public", cfg.MetricsPublic)
	case warning != "":
		log.Warn(warning)
	default:
		log.Info("authentication off (no API keys configured); the API listens on loopback only")
	}
	schema, err := cfg.Schema()
	if err != nil {
		return err
	}
	wins, err := cfg.Windows()
	if err != nil {
		return err
	}
	// Redis must hold data of this configuration (or none), so that
	// /retrieve reads the buckets the processors keep.
	conn, err := cfg.Connect(ctx, redisconn.Options{
		// No go-redis retries: a retried append whose first attempt ran
		// would store its points twice.
		MaxRetries:  -1,
		DialTimeout: cfg.RedisTimeout, ReadTimeout: cfg.RedisTimeout, WriteTimeout: cfg.RedisTimeout,
	}, schema, startTimeout, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	// The append script is loaded, so that the first upload's EVALSHA finds it.
	lctx, cancel := context.WithTimeout(ctx, startTimeout)
	err = scripts.Append.Load(lctx, conn.Client).Err()
	if err == nil {
		err = scripts.CheckKey.Load(lctx, conn.Client).Err()
	}
	cancel()
	if err != nil {
		return fmt.Errorf("load append scripts: %w", err)
	}

	reg := metrics.NewRegistry()
	conn.Client.AddHook(metrics.NewRedisHook(reg))
	router := ingest.NewRouter(cfg.RouterConfig, ingest.Deps{
		Redis: conn.Client, Schema: schema, Log: log, Windows: wins, Metrics: ingest.NewMetrics(reg), Keys: apiKeys,
	})
	srv := cfg.HTTPServer(router)
	srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	return service.Serve(ctx, srv, ln, cfg.ShutdownGrace, log)
}
