// Package binaries builds the geostream service binaries the end-to-end
// tests run as processes, once per test binary (from its TestMain).
package binaries

import (
	"fmt"
	"os/exec"
	"path/filepath"
)

// Set holds the paths of the built binaries.
type Set struct {
	Ingest, Processor, Simulator string
}

// Build builds ingest-svc, processor-svc and the simulator from the
// repository at root into dir.
func Build(root, dir string) (Set, error) {
	var s Set
	for _, b := range []struct {
		dst *string
		pkg string
	}{
		{&s.Ingest, "./ingest-svc/cmd/ingest-svc"},
		{&s.Processor, "./processor-svc/cmd/processor-svc"},
		{&s.Simulator, "./simulator/cmd/simulator"},
	} {
		*b.dst = filepath.Join(dir, filepath.Base(b.pkg))
		cmd := exec.Command("go", "build", "-o", *b.dst, b.pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return Set{}, fmt.Errorf("build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return s, nil
}
