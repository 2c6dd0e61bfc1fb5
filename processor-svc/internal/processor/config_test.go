package processor

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/geostream/geostream/streamkit/envflag"
	"github.com/geostream/geostream/streamkit/scripts"
)

func parseConfig(tb testing.TB, env map[string]string, args ...string) (Config, error) {
	tb.Helper()
	var cfg Config
	s := envflag.New("test", func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	s.SetOutput(&strings.Builder{})
	cfg.Register(s)
	err := s.Parse(args)
	return cfg, err
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := parseConfig(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	want := Config{
		Consumer: host, BatchSize: DefaultBatchSize, MaxCallKeys: DefaultMaxCallKeys, Linger: DefaultLinger, Block: DefaultBlock,
		ClaimInterval: DefaultClaimInterval, ClaimMinIdle: DefaultClaimMinIdle, ConsumerExpiry: DefaultConsumerExpiry,
		TrimInterval: DefaultTrimInterval, Retention: DefaultRetention, TrackRetention: DefaultTrackRetention, TrimStep: DefaultTrimStep,
		StatsInterval: DefaultStatsInterval,
	}
	want.Common = cfg.Common
	if cfg != want {
		t.Errorf("defaults\n got %+v\nwant %+v", cfg, want)
	}
	if cfg.HTTPAddr != DefaultHTTPAddr {
		t.Errorf("http-addr %q, want %q", cfg.HTTPAddr, DefaultHTTPAddr)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	var zero Config
	zero.SetDefaults()
	want.Common = zero.Common
	want.TrackRetention = 0 // 0 is "no tracks", not "unset"
	if zero != want {
		t.Errorf("SetDefaults\n got %+v\nwant %+v", zero, want)
	}
}

func TestConfigEnvAndFlags(t *testing.T) {
	cfg, err := parseConfig(t, map[string]string{
		"GEOSTREAM_CONSUMER":       "pod-1",
		"GEOSTREAM_BATCH_SIZE":     "100",
		"GEOSTREAM_CLAIM_MIN_IDLE": "1m",
		"GEOSTREAM_RETENTION":      "24h",
	}, "--batch-size", "200", "--trim-step", "5")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Consumer != "pod-1" || cfg.BatchSize != 200 || cfg.ClaimMinIdle != time.Minute ||
		cfg.Retention != 24*time.Hour || cfg.TrimStep != 5 {
		t.Errorf("got %+v", cfg)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string // "" = valid
	}{
		{"valid", []string{"--consumer", "a"}, ""},
		{"empty consumer", []string{"--consumer", ""}, "consumer is empty"},
		{"consumer with space", []string{"--consumer", "a b"}, "consumer"},
		{"zero batch", []string{"--batch-size", "0"}, "batch-size"},
		{"huge batch", []string{"--batch-size", strconv.Itoa(scripts.MaxApplyEntries + 1)}, "batch-size"},
		{"max batch", []string{"--batch-size", strconv.Itoa(scripts.MaxApplyEntries)}, ""},
		{"zero block", []string{"--block", "0s"}, "block"},
		{"sub-ms block", []string{"--block", "100us"}, "block"},
		{"zero claim interval", []string{"--claim-interval", "0s"}, "claim-interval"},
		{"negative min idle", []string{"--claim-min-idle", "-1s"}, "claim-min-idle"},
		{"zero trim interval", []string{"--trim-interval", "0s"}, "trim-interval"},
		{"negative retention", []string{"--retention", "-1h"}, "retention"},
		{"zero trim step", []string{"--trim-step", "0"}, "trim-step"},
		{"bad partitions", []string{"--partitions", "0"}, "partitions"},
		{"bad http addr", []string{"--http-addr", "nope"}, "http-addr"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseConfig(t, nil, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			err = cfg.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	_, c := newMiniredis(t)
	s := newSchema(t, 1)
	cfg := testConfig("a")
	cfg.BatchSize = -1
	if _, err := New(cfg, c, s, nil); err == nil || !strings.Contains(err.Error(), "batch-size") {
		t.Errorf("New with batch size -1: %v", err)
	}
}
