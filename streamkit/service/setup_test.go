package service

import (
	"bytes"
	"strings"
	"testing"

	"github.com/geostream/geostream/streamkit/envflag"
)

// testConfig is a service's Config with one flag of its own.
type testConfig struct {
	Common
	Token string
}

func (c *testConfig) Register(s *envflag.Set) {
	c.Common.Register(s, "127.0.0.1:0")
	s.Secret(&c.Token, "token", "", "a secret")
}

func TestSetup(t *testing.T) {
	env := map[string]string{"GEOSTREAM_TOKEN": "s3cret-token", "GEOSTREAM_LOG_FORMAT": "json"}
	for _, tt := range []struct {
		name      string
		args      []string
		wantErr   string // "" for none
		wantLog   bool
		stderrHas string
	}{
		{name: "ok", args: nil, wantLog: true},
		{name: "help", args: []string{"-h"}, stderrHas: "usage: test-svc"},
		{name: "bad flag", args: []string{"--nope"}, wantErr: "flag provided but not defined", stderrHas: "usage: test-svc"},
		{name: "argument", args: []string{"extra"}, wantErr: `unexpected arguments ["extra"]`},
		{name: "invalid", args: []string{"--partitions", "0"}, wantErr: "invalid configuration:\npartitions must be"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			var cfg testConfig
			lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
			log, err := Setup("test-svc", &cfg, "usage: test-svc [flags]", tt.args, lookup, &stdout, &stderr)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if (log != nil) != tt.wantLog {
				t.Fatalf("logger %v, want one: %v", log, tt.wantLog)
			}
			if !strings.Contains(stderr.String(), tt.stderrHas) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderrHas)
			}
			if !tt.wantLog {
				return
			}
			if cfg.Token != "s3cret-token" {
				t.Errorf("token %q: not read from the environment", cfg.Token)
			}
			if out := stdout.String(); !strings.Contains(out, `"msg":"starting test-svc"`) || strings.Contains(out, "s3cret-token") {
				t.Errorf("start-up log %q: want the effective configuration, the secret masked", out)
			}
		})
	}
}
