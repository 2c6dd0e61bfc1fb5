package service

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/geostream/geostream/streamkit/envflag"
)

// Config is a service's configuration (a Common embedded): it registers
// its flags and validates them.
type Config interface {
	Register(s *envflag.Set)
	Validate() error
	Logger(w io.Writer) (*slog.Logger, error)
}

// Setup reads a service's configuration, the start of every main's run:
// cfg's flags from args, each defaulting to its GEOSTREAM_* variable read
// by lookupEnv; flag errors and -h go to stderr, usage (when not "")
// before the list of flags. It validates cfg and returns the logger
// writing to stdout, having logged "starting <name>" with the effective
// configuration (secrets masked). After -h it returns a nil logger and no
// error: the service exits at once, successfully.
func Setup(name string, cfg Config, usage string, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) (*slog.Logger, error) {
	fs := envflag.New(name, lookupEnv)
	fs.SetOutput(stderr)
	if usage != "" {
		fs.Usage = func() {
			fmt.Fprintln(stderr, usage)
			fs.PrintDefaults()
		}
	}
	cfg.Register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil
		}
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q: every setting is a flag", fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	log, err := cfg.Logger(stdout)
	if err != nil {
		return nil, err
	}
	log.Info("starting "+name, fs.Effective()...)
	return log, nil
}
