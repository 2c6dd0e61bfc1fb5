package ingest

import "testing"

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
