// Command embedded-redis serves an in-memory miniredis on a loopback address
// until it is interrupted. The demo (make demo) runs it in place of a Redis
// server, so that the pipeline runs on a machine with nothing but Go. It keeps
// nothing on disk.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/alicebob/miniredis/v2"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(os.Args[1:], log); err != nil {
		log.Error("embedded-redis", "err", err)
		os.Exit(1)
	}
}

func run(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("embedded-redis", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:6390", "listen address (keep it on loopback)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(*addr); err != nil {
		return fmt.Errorf("listen %s: %w", *addr, err)
	}
	defer m.Close()
	log.Info("embedded redis (miniredis, memory only) listening", "addr", m.Addr())
	<-ctx.Done()
	log.Info("embedded redis stopping")
	return nil
}
