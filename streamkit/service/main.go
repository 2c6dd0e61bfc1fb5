package service

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// RunFunc is a service's run: it parses args and the environment
// (lookupEnv), logs to stdout, writes flag errors and -h to stderr, and
// serves until ctx is done.
type RunFunc func(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error

// Main calls run with the process's arguments, environment and output,
// under a context that SIGINT and SIGTERM cancel, and exits 1 with the
// error, prefixed by name, when run fails.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
