package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/geostream/geostream/simulator/internal/apitest"
	"github.com/geostream/geostream/simulator/internal/load"
	"github.com/geostream/geostream/simulator/internal/verify"
	"github.com/geostream/geostream/streamkit/agg"
)

// fast keeps the verifier's waits short against the in-memory fake.
var fast = []string{"--poll-interval", "2ms", "--settle", "-1ns", "--timeout", "5s", "--log-level", "warn"}

func TestRun(t *testing.T) {
	perturbed := apitest.WithMutate(func(q url.Values, s *agg.Summary) {
		if q.Get("device_id") == "t-0003" {
			s.AverageLongitude += 1e-6
		}
	})
	for _, tc := range []struct {
		name     string
		args     []string
		env      map[string]string
		opts     []apitest.Option
		noTarget bool
		code     int
		stdout   []string // substrings
	}{
		{name: "help", args: []string{"help"}, noTarget: true, stdout: []string{"simulator run", "simulator verify"}},
		{name: "help verify", args: []string{"help", "verify"}, noTarget: true, stdout: []string{"--fresh", "GEOSTREAM_TARGET"}},
		{name: "no command", args: nil, noTarget: true, code: 2},
		{name: "unknown command", args: []string{"fly"}, noTarget: true, code: 2},
		{name: "bad flag", args: []string{"run", "--rate", "fast"}, code: 2},
		{name: "bad burst", args: []string{"run", "--rate", "10", "--burst", "4x"}, code: 2},
		{name: "bad start time", args: []string{"run", "--start-time", "yesterday"}, code: 2},
		{name: "run with count", args: []string{"run", "--count", "250", "--batch", "20", "--devices", "7"},
			stdout: []string{"points:    sent 250, acked 250, rejected 0, lost 0", "7 devices"}},
		{name: "run against a dead target", args: []string{"run", "--count", "3", "--max-retries", "0", "--target", "http://127.0.0.1:1"},
			code: 1, stdout: []string{"lost 3"}},
		{name: "verify exact", args: append([]string{"verify", "--fresh", "--count", "300", "--batch", "9", "--device-prefix", "t-", "--start-time", "2025-01-23T12:00:00Z"}, fast...),
			stdout: []string{"verify OK", "stored although unacknowledged: 0", "22 scopes (global and per device, all time and window 2025-01-23T12:00:00Z/2025-01-23T12:01:00Z)"}},
		{name: "verify without windows", args: append([]string{"verify", "--fresh", "--count", "300", "--device-prefix", "t-", "--start-time", "2025-01-23T12:00:00Z", "--window-step", "0"}, fast...),
			stdout: []string{"verify OK", "11 scopes (global and per device)"}},
		{name: "verify mismatch", args: append([]string{"verify", "--count", "300", "--device-prefix", "t-"}, fast...),
			opts: []apitest.Option{perturbed}, code: 1,
			stdout: []string{"verify FAILED", "device t-0003", "average_longitude"}},
		{name: "settings from the environment", args: append([]string{"verify"}, fast...),
			env:    map[string]string{"GEOSTREAM_COUNT": "120", "GEOSTREAM_DEVICES": "3", "GEOSTREAM_MODE": "uniform"},
			stdout: []string{"verify OK", "sent 120"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{}
			if !tc.noTarget {
				env["GEOSTREAM_TARGET"] = apitest.New(t, tc.opts...).URL
			}
			for k, v := range tc.env {
				env[k] = v
			}
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, func(k string) string { return env[k] }, &stdout, &stderr)
			if code := exitCode(err, &stderr); code != tc.code {
				t.Fatalf("exit %d (%v), want %d\nstdout:\n%s\nstderr:\n%s", code, err, tc.code, stdout.String(), stderr.String())
			}
			for _, want := range tc.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}

func TestJSONOutput(t *testing.T) {
	api := apitest.New(t)
	env := func(k string) string {
		if k == "GEOSTREAM_TARGET" {
			return api.URL
		}
		return ""
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"run", "--count", "40", "--json", "--log-level", "warn"}, env, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var sum load.Summary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil || sum.Points.Acked != 40 {
		t.Fatalf("run --json: %v, %+v\n%s", err, sum, out.String())
	}
	out.Reset()
	args := append([]string{"verify", "--count", "40", "--json"}, fast...)
	if err := run(context.Background(), args, env, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	var rep verify.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil || !rep.OK || rep.Points.Acked != 40 {
		t.Fatalf("verify --json: %v, %+v\n%s", err, rep, out.String())
	}
}
