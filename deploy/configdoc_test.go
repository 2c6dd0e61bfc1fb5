package deploy

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/configuration.md from the binaries' flags")

// setting is one flag as a binary's -h prints it.
type setting struct {
	flag, typ, env, def, usage string
}

var (
	flagLine  = regexp.MustCompile(`^  -(\S+)(?: (\S+))?$`)
	usageTail = regexp.MustCompile(`^(.*?) \[(GEOSTREAM_[A-Z0-9_]+)\](?: \(default (.*)\))?$`)
)

// settings parses the flag.PrintDefaults output of a binary.
func settings(t *testing.T, module string, args ...string) []setting {
	t.Helper()
	out, _ := exec.Command(bins[module], append(args, "-h")...).CombinedOutput()
	lines := strings.Split(string(out), "\n")
	var s []setting
	for i := 0; i < len(lines); i++ {
		m := flagLine.FindStringSubmatch(lines[i])
		if m == nil || i+1 >= len(lines) {
			continue
		}
		u := usageTail.FindStringSubmatch(strings.TrimSpace(lines[i+1]))
		if u == nil {
			continue // a flag without a variable (e.g. -h)
		}
		typ := m[2]
		if typ == "" {
			typ = "bool"
		}
		s = append(s, setting{flag: m[1], typ: typ, env: u[2], def: u[3], usage: u[1]})
		i++
	}
	if len(s) < 5 {
		t.Fatalf("%s -h: parsed only %d settings:\n%s", module, len(s), out)
	}
	return s
}

// configurationDoc renders docs/configuration.md.
func configurationDoc(t *testing.T) []byte {
	var b bytes.Buffer
	b.WriteString(`# Configuration

Every setting is a flag and an environment variable: the variable sets the
default, a flag on the command line wins. Secrets (the Redis URL's password)
are masked in the effective configuration each service logs once at
start-up. Settings marked *pinned* are stored in Redis on first start and
checked by every service: a service started with other values refuses to
start rather than mix incompatible data.

This file is generated from the binaries' own flags; a test
(deploy/configdoc_test.go) fails when it drifts. Regenerate it with

    go test ./deploy -run TestConfigurationDoc -update

`)
	for _, svc := range []struct {
		title, module string
		args          []string
	}{
		{"ingest-svc", "ingest-svc", nil},
		{"processor-svc", "processor-svc", nil},
		{"simulator run", "simulator", []string{"run"}},
		{"simulator verify", "simulator", []string{"verify"}},
		{"simulator inspect", "simulator", []string{"inspect"}},
	} {
		fmt.Fprintf(&b, "## %s\n\n| flag | environment | default | meaning |\n|---|---|---|---|\n", svc.title)
		for _, s := range settings(t, svc.module, svc.args...) {
			def := s.def
			switch host, _ := os.Hostname(); {
			case def == "" || def == `""`:
				def = "—"
			case host != "" && strings.Trim(def, `"`) == host:
				// --consumer defaults to the host name, which is not the
				// same on every machine that runs this test.
				def = "host name"
			default:
				def = "`" + strings.Trim(def, `"`) + "`"
			}
			usage := strings.ReplaceAll(s.usage, "|", `\|`)
			if s.flag == "partitions" || s.flag == "resolutions" {
				usage += " *(pinned)*"
			}
			fmt.Fprintf(&b, "| `--%s` (%s) | `%s` | %s | %s |\n", s.flag, s.typ, s.env, def, usage)
		}
		b.WriteString("\n")
	}
	return b.Bytes()
}

func TestConfigurationDoc(t *testing.T) {
	const path = "../docs/configuration.md"
	want := configurationDoc(t)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("docs/configuration.md is out of date with the binaries' flags (%v); run: go test ./deploy -run TestConfigurationDoc -update", err)
	}
}
