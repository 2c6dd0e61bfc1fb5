// Command simulator generates load against the geostream API like a fleet
// of devices would (simulator run), and verifies end to end that what was
// acknowledged is what the API reports (simulator verify), and prints the
// points in a partition's stream (simulator inspect). Run "simulator help"
// for the flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/geostream/geostream/simulator/internal/cli"
	"github.com/geostream/geostream/simulator/internal/verify"
)

const usage = `simulator — load generator and verifier for the geostream API

Usage:
  simulator run [flags]      continuous load (simulated devices uploading positions)
  simulator verify [flags]   send a reproducible data set and check /retrieve's answers
  simulator inspect [flags]  print the points in a partition's Redis stream
  simulator help [command]   show this help, or a command's flags

Every flag can also be set with its GEOSTREAM_* environment variable, e.g.
--target / GEOSTREAM_TARGET (default http://127.0.0.1:8080).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// run dispatches to the subcommand named by args[0].
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", cli.ErrUsage)
	}
	switch args[0] {
	case "run":
		return cli.Run(ctx, args[1:], getenv, stdout, stderr)
	case "verify":
		return cli.Verify(ctx, args[1:], getenv, stdout, stderr)
	case "inspect":
		return cli.Inspect(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && (args[1] == "run" || args[1] == "verify" || args[1] == "inspect") {
			return run(ctx, []string{args[1], "-h"}, getenv, stdout, stdout)
		}
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", cli.ErrUsage, args[0])
}

// exitCode maps run's error to the exit status: 0 success (or help), 1 a
// failed verification or any other failure, 2 a usage error.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, verify.ErrMismatch):
		fmt.Fprintln(stderr, "simulator:", err)
		return 1
	case errors.Is(err, cli.ErrUsage):
		fmt.Fprintln(stderr, "simulator:", err)
		return 2
	}
	fmt.Fprintln(stderr, "simulator:", err)
	return 1
}
