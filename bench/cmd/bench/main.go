// Command bench is geostream's side-by-side performance benchmark
// (docs/performance.md). Run it through bench/run, which builds the
// binaries it measures:
//
//	bench run --bin DIR [--quick] [--reps N] [--out FILE] [--profile DIR]
//	bench report [--markdown] [--rewrite] FILE
//	bench noop-server --addr HOST:PORT
//
// "run" measures the ceilings and geostream in one run and prints the
// table of figures, ceilings and ratios; "report" prints the table of a
// results file again (recomputed from its repetitions); "noop-server" is
// the no-op gin ceiling, run as its own process like ingest-svc.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/geostream/geostream/bench/internal/ceiling"
	"github.com/geostream/geostream/bench/internal/load"
	"github.com/geostream/geostream/bench/internal/suite"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

const usage = "usage: bench run --bin DIR [--quick] [--reps N] [--out FILE] [--profile DIR]\n" +
	"       bench report [--markdown] [--rewrite] FILE\n" +
	"       bench noop-server --addr HOST:PORT"

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "run":
		return runBench(ctx, args[1:], stdout, stderr)
	case "report":
		return report(args[1:], stdout, stderr)
	case "noop-server":
		fs := flag.NewFlagSet("noop-server", flag.ContinueOnError)
		fs.SetOutput(stderr)
		addr := fs.String("addr", "127.0.0.1:8090", "listen address (loopback)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		return ceiling.ServeNoop(ctx, *addr)
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		bin     = fs.String("bin", "", "directory holding ingest-svc, processor-svc, simulator and bench")
		quick   = fs.Bool("quick", false, "smoke run: 1 repetition, 2 s loads, a 200k big store (figures not comparable)")
		reps    = fs.Int("reps", 0, "repetitions; figures are medians (default 3, quick 1)")
		dur     = fs.Duration("duration", 0, "length of each timed load (default 8s, quick 2s)")
		steady  = fs.Duration("steady", 0, "length of the steady simulator load (default 30s, quick 8s; at most 55s)")
		idemTTL = fs.Duration("idempotency-ttl", 0, "ingest-svc's --idempotency-ttl in the steady phase (default 10s, quick 3s)")
		out     = fs.String("out", "", "where to write the results as JSON (default bench/results/latest.json, quick bench/results/quick.json; \"-\": nowhere)")
		md      = fs.String("markdown", "", "also write the table as Markdown to this file")
		profile = fs.String("profile", "", "record perf profiles of the services and Redis during the first repetition into this directory")
		work    = fs.String("work-dir", "", "keep Redis's files and the services' logs here (default: a temporary directory, removed)")
		noWrk   = fs.Bool("go-load", false, "use the Go load generator even when wrk is installed")
		timeout = fs.Duration("timeout", 30*time.Minute, "give up after this long")
		pflags  = fs.String("processor-flags", "", "extra flags for every processor-svc, space-separated (e.g. --linger=1s)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := suite.Full()
	if *quick {
		cfg = suite.Quick()
	}
	if *reps > 0 {
		cfg.Reps = *reps
	}
	if *dur > 0 {
		cfg.Duration = *dur
	}
	if *steady > 0 {
		cfg.SteadyDuration = *steady
	}
	if *idemTTL > 0 {
		cfg.IdemTTL = *idemTTL
	}
	cfg.BinDir, cfg.WorkDir, cfg.ProfileDir = *bin, *work, *profile
	cfg.ProcessorFlags = strings.Fields(*pflags)
	cfg.UseWrk = load.HaveWrk() && !*noWrk
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	rep, err := suite.Run(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ngeostream benchmark: %d repetition(s), medians; %d CPUs, redis %s, load generator %s, %v\n\n",
		cfg.Reps, rep.Host.CPUs, rep.Host.Redis, rep.Host.Generator, rep.Elapsed.Round(time.Second))
	rep.WriteTable(stdout)
	if cfg.Quick {
		fmt.Fprintln(stdout, "\n(quick run: short loads and a smaller big store; not comparable with a full run)")
	}
	switch {
	case *out == "" && cfg.Quick:
		*out = "bench/results/quick.json"
	case *out == "":
		*out = "bench/results/latest.json"
	case *out == "-":
		*out = ""
	}
	if *out != "" {
		if err := writeJSON(*out, rep); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "\nresults:", *out)
	}
	if *md != "" {
		f, err := os.Create(*md)
		if err != nil {
			return err
		}
		rep.WriteMarkdown(f)
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// report prints the table of a results file, its figures recomputed from
// the repetitions it holds (so a new figure applies to an old run).
func report(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	md := fs.Bool("markdown", false, "print the table as Markdown")
	rewrite := fs.Bool("rewrite", false, "write the recomputed figures back to the file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("report: want one results file")
	}
	b, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	var rep suite.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("report: %s: %w", fs.Arg(0), err)
	}
	rep.Recompute()
	if *md {
		rep.WriteMarkdown(stdout)
	} else {
		rep.WriteTable(stdout)
	}
	if *rewrite {
		return writeJSON(fs.Arg(0), &rep)
	}
	return nil
}
