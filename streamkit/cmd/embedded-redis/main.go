// Command embedded-redis serves an in-memory miniredis on a loopback address
// until it is interrupted. The demo (make demo) runs it in place of a Redis
// server, so that the pipeline runs on a machine with nothing but Go. It keeps
// nothing on disk; key TTLs run on the wall clock as on Redis
// (redisconn.Embedded).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/geostream/geostream/streamkit/redisconn"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], log)
	stop()
	if err != nil {
		log.Error("embedded-redis", "err", err)
		os.Exit(1)
	}
}

// run serves until ctx is done.
func run(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("embedded-redis", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:6390", "listen address (keep it on loopback)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile to this file until stopped (go tool pprof)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		stopProfile, err := startCPUProfile(*cpuprofile)
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	m, err := redisconn.StartEmbedded(*addr)
	if err != nil {
		return err
	}
	defer m.Close()
	log.Info("embedded redis (miniredis, memory only) listening", "addr", m.Addr())
	<-ctx.Done()
	log.Info("embedded redis stopping")
	return nil
}

// startCPUProfile profiles the process into path until the returned func.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpuprofile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
