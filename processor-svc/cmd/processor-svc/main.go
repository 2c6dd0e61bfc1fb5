// Command processor-svc is geostream's stream processor: it reads the
// partition streams as a member of the consumer group "processors" and
// counts every point into the aggregates exactly once (see package
// processor). It serves /healthz and /readyz on --http-addr.
//
// Every flag has a GEOSTREAM_* environment variable; run with -h for the
// list.
package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/geostream/geostream/processor-svc/internal/processor"
	"github.com/geostream/geostream/streamkit/metrics"
	"github.com/geostream/geostream/streamkit/redisconn"
	"github.com/geostream/geostream/streamkit/service"
)

// startTimeout bounds the Redis calls made before processing starts.
const startTimeout = 10 * time.Second

func main() { service.Main("processor-svc", run) }

// run parses the configuration from args and the environment, connects to
// Redis and processes the streams until ctx is done. Logs go to stdout; flag
// errors and -h (which returns nil) to stderr.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	var cfg processor.Config
	log, err := service.Setup("processor-svc", &cfg, "", args, lookupEnv, stdout, stderr)
	if log == nil || err != nil {
		return err // nil after -h
	}
	ln, err := cfg.Listen()
	if err != nil {
		return err
	}
	defer ln.Close()

	schema, err := cfg.Schema()
	if err != nil {
		return err
	}
	// One connection per partition for its blocking read, plus a few for
	// claims, trimming and health checks.
	conn, err := cfg.Connect(ctx, redisconn.Options{PoolSize: cfg.Partitions + 8}, schema, startTimeout, log)
	if err != nil {
		return err
	}
	defer conn.Close()
	proc, err := processor.New(cfg, conn.Client, schema, log)
	if err != nil {
		return err
	}
	reg := metrics.NewRegistry()
	conn.Client.AddHook(metrics.NewRedisHook(reg))
	if err := proc.Register(reg); err != nil {
		return err
	}

	srv := &http.Server{
		Handler:           newMux(conn.Client, reg),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       time.Minute,
	}

	// The processor and the HTTP server run until ctx is done or one of
	// them fails, which stops the other.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	httpErr := make(chan error, 1)
	go func() {
		httpErr <- service.Serve(ctx, srv, ln, cfg.ShutdownGrace, log)
		stop()
	}()
	procErr := proc.Run(ctx)
	stop()
	return errors.Join(procErr, <-httpErr)
}
