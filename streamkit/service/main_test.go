package service

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary act as a service whose run fails or
// succeeds, so that Main's exit code and message are seen from outside.
func TestMain(m *testing.M) {
	switch os.Getenv("SERVICE_MAIN_TEST") {
	case "fail":
		Main("svc", func(context.Context, []string, func(string) (string, bool), io.Writer, io.Writer) error {
			return errors.New("boom")
		})
	case "ok":
		Main("svc", func(_ context.Context, args []string, lookupEnv func(string) (string, bool), stdout, _ io.Writer) error {
			v, _ := lookupEnv("SERVICE_MAIN_TEST")
			_, err := io.WriteString(stdout, strings.Join(args, ",")+" "+v)
			return err
		})
	default:
		os.Exit(m.Run())
	}
	os.Exit(0)
}

func TestMainExitCode(t *testing.T) {
	for _, tt := range []struct {
		mode, wantOut string
		wantCode      int
	}{
		{"fail", "svc: boom\n", 1},
		{"ok", "-a,b ok", 0},
	} {
		cmd := exec.Command(os.Args[0], "-a", "b")
		cmd.Env = append(os.Environ(), "SERVICE_MAIN_TEST="+tt.mode)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != tt.wantCode || string(out) != tt.wantOut {
			t.Errorf("%s: exit %d, output %q; want %d, %q", tt.mode, code, out, tt.wantCode, tt.wantOut)
		}
	}
}
