// Package envflag binds command-line flags to GEOSTREAM_* environment
// variables: a flag's default comes from its variable when that is set, and a
// flag given on the command line wins over both. Every setting has one flag
// and one variable, listed by Settings so that docs and tests can check the
// names against the code.
package envflag

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment variable name.
const EnvPrefix = "GEOSTREAM_"

// Set is a flag.FlagSet whose flags also read environment variables.
type Set struct {
	*flag.FlagSet
	lookup   func(string) (string, bool)
	settings []Setting
	secret   map[string]bool
	errs     []error
}

// Setting describes one flag and its environment variable.
type Setting struct {
	Flag, Env, Default, Usage string
	Secret                    bool
}

// New returns a Set named after the program. lookup reads the environment;
// nil means os.LookupEnv.
func New(name string, lookup func(string) (string, bool)) *Set {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &Set{FlagSet: fs, lookup: lookup, secret: map[string]bool{}}
}

// EnvName returns the environment variable of a flag: "redis-url" →
// "GEOSTREAM_REDIS_URL".
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (s *Set) add(name, def, usage string) (string, bool) {
	env := EnvName(name)
	s.settings = append(s.settings, Setting{Flag: name, Env: env, Default: def, Usage: usage})
	return s.lookup(env)
}

// String defines a string setting.
func (s *Set) String(p *string, name, def, usage string) {
	if v, ok := s.add(name, def, usage); ok {
		def = v
	}
	s.StringVar(p, name, def, usage+" ["+EnvName(name)+"]")
}

// Secret defines a string setting whose value is masked by Effective.
func (s *Set) Secret(p *string, name, def, usage string) {
	s.String(p, name, def, usage)
	s.settings[len(s.settings)-1].Secret = true
	s.secret[name] = true
}

// Int defines an int setting.
func (s *Set) Int(p *int, name string, def int, usage string) {
	if v, ok := s.add(name, fmt.Sprint(def), usage); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not an integer", EnvName(name), v))
		}
		def = n
	}
	s.IntVar(p, name, def, usage+" ["+EnvName(name)+"]")
}

// Int64 defines an int64 setting.
func (s *Set) Int64(p *int64, name string, def int64, usage string) {
	if v, ok := s.add(name, fmt.Sprint(def), usage); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not an integer", EnvName(name), v))
		}
		def = n
	}
	s.Int64Var(p, name, def, usage+" ["+EnvName(name)+"]")
}

// Float64 defines a float64 setting.
func (s *Set) Float64(p *float64, name string, def float64, usage string) {
	if v, ok := s.add(name, fmt.Sprint(def), usage); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not a number", EnvName(name), v))
		}
		def = f
	}
	s.Float64Var(p, name, def, usage+" ["+EnvName(name)+"]")
}

// Bool defines a bool setting.
func (s *Set) Bool(p *bool, name string, def bool, usage string) {
	if v, ok := s.add(name, fmt.Sprint(def), usage); ok {
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			def = true
		case "0", "false", "no", "off", "":
			def = false
		default:
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not a boolean", EnvName(name), v))
		}
	}
	s.BoolVar(p, name, def, usage+" ["+EnvName(name)+"]")
}

// Duration defines a time.Duration setting ("1.5s", "15m").
func (s *Set) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	if v, ok := s.add(name, def.String(), usage); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			s.errs = append(s.errs, fmt.Errorf("%s=%q: not a duration", EnvName(name), v))
		} else {
			def = d
		}
	}
	s.DurationVar(p, name, def, usage+" ["+EnvName(name)+"]")
}

// Parse reads the environment errors collected while defining settings, then
// parses args.
func (s *Set) Parse(args []string) error {
	if len(s.errs) > 0 {
		return s.errs[0]
	}
	return s.FlagSet.Parse(args)
}

// Settings returns every setting defined, in definition order.
func (s *Set) Settings() []Setting { return append([]Setting(nil), s.settings...) }

// Effective returns the parsed values as flag → value, secrets masked
// (see Mask), ready to be logged once at start-up.
func (s *Set) Effective() []any {
	var names []string
	s.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	out := make([]any, 0, 2*len(names))
	for _, n := range names {
		v := s.Lookup(n).Value.String()
		if s.secret[n] {
			v = Mask(v)
		}
		out = append(out, n, v)
	}
	return out
}

// Mask hides the password of a URL-like secret ("redis://u:pw@h" →
// "redis://u:xxxxx@h") and any other non-empty secret entirely.
func Mask(v string) string {
	if v == "" {
		return ""
	}
	var parts []string
	for _, u := range strings.Split(v, ",") {
		scheme, rest, ok := strings.Cut(u, "://")
		if !ok {
			parts = append(parts, "xxxxx")
			continue
		}
		if at := strings.LastIndexByte(rest, '@'); at >= 0 {
			user, _, hasPw := strings.Cut(rest[:at], ":")
			if hasPw {
				rest = user + ":xxxxx" + rest[at:]
			} else {
				rest = "xxxxx" + rest[at:]
			}
		}
		if q := strings.IndexByte(rest, '?'); q >= 0 {
			rest = rest[:q] + "?xxxxx"
		}
		parts = append(parts, scheme+"://"+rest)
	}
	return strings.Join(parts, ",")
}
