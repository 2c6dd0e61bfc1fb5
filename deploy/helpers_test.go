package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
)

// bins are the service binaries, built once by TestMain.
var bins = map[string]string{}

// services maps a service module to its main package.
var services = map[string]string{
	"ingest-svc":    "./ingest-svc/cmd/ingest-svc",
	"processor-svc": "./processor-svc/cmd/processor-svc",
	"simulator":     "./simulator/cmd/simulator",
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "geostream-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		for name, pkg := range services {
			out := filepath.Join(dir, name)
			cmd := exec.Command("go", "build", "-o", out, pkg)
			cmd.Dir = ".."
			if b, err := cmd.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, b)
				return 1
			}
			bins[name] = out
		}
		return m.Run()
	}()
	os.Exit(code)
}

var envInUsage = regexp.MustCompile(`\[(GEOSTREAM_[A-Z0-9_]+)\]`)

// envNames returns the GEOSTREAM_* variables a service reads, from its own
// --help (every flag's usage names its variable).
func envNames(t *testing.T, module string, args ...string) map[string]bool {
	t.Helper()
	out, _ := exec.Command(bins[module], append(args, "-h")...).CombinedOutput()
	names := map[string]bool{}
	for _, m := range envInUsage.FindAllStringSubmatch(string(out), -1) {
		names[m[1]] = true
	}
	if len(names) < 5 {
		t.Fatalf("%s -h names only %d variables:\n%s", module, len(names), out)
	}
	return names
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
