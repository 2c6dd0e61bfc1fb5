package ingest

import (
	"strings"
	"testing"
)

func TestRouterConfigSetDefaults(t *testing.T) {
	var zero RouterConfig
	zero.SetDefaults()
	want := DefaultRouterConfig()
	// Zero means "off" for these: SetDefaults keeps it.
	want.BacklogLimit, want.MaxInFlightPerClient, want.RateLimit, want.ReadRateLimit = 0, 0, 0, 0
	if zero != want {
		t.Errorf("SetDefaults\n got %+v\nwant %+v", zero, want)
	}
	if err := zero.Validate(); err != nil {
		t.Errorf("defaults do not validate: %v", err)
	}
	set := RouterConfig{MaxBatch: 7, RedisTimeout: 3}
	set.SetDefaults()
	if set.MaxBatch != 7 || set.RedisTimeout != 3 {
		t.Errorf("SetDefaults changed set values: %+v", set)
	}
}

func TestRouterConfigValidate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		tune    func(*RouterConfig)
		wantErr string
	}{
		{"defaults", func(*RouterConfig) {}, ""},
		{"rate limits off", func(c *RouterConfig) { c.RateLimit, c.ReadRateLimit, c.RateBurst, c.ReadRateBurst = 0, 0, 0, 0 }, ""},
		{"burst under the batch", func(c *RouterConfig) { c.RateBurst = c.MaxBatch - 1 }, "rate-burst (9999) must be at least max-batch (10000)"},
		{"negative rate", func(c *RouterConfig) { c.RateLimit = -1 }, "rate-limit must be 0 (off) or a positive number"},
		{"read burst 0", func(c *RouterConfig) { c.ReadRateBurst = 0 }, "read-rate-burst must be at least 1"},
		{"in flight 0", func(c *RouterConfig) { c.MaxInFlight = 0 }, "max-in-flight must be 1..100000"},
		{"range buckets", func(c *RouterConfig) { c.MaxRangeBuckets = 0 }, "max-range-buckets must be 1..20000"},
		{"decompressed", func(c *RouterConfig) { c.MaxDecompressedBytes = 0 }, "max-decompressed-bytes must be"},
	} {
		c := DefaultRouterConfig()
		tt.tune(&c)
		err := c.Validate()
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.wantErr)
		}
	}
}
