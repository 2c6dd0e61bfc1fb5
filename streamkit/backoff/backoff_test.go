package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name  string
		p     Policy
		retry int
		want  time.Duration
	}{
		{"first", Policy{Base: 20 * ms, Max: time.Second}, 1, 20 * ms},
		{"doubles", Policy{Base: 20 * ms, Max: time.Second}, 4, 160 * ms},
		{"capped", Policy{Base: 20 * ms, Max: 100 * ms}, 4, 100 * ms},
		{"no overflow", Policy{Base: 20 * ms, Max: time.Hour}, 1000, time.Hour},
		{"huge base", Policy{Base: 1 << 62, Max: time.Hour}, 3, time.Hour},
		{"retry 0 is the base", Policy{Base: 20 * ms, Max: time.Second}, 0, 20 * ms},
		{"zero", Policy{}, 3, 0},
		{"full jitter draws up to the delay", Policy{Base: 20 * ms, Max: time.Second, Jitter: func(n int64) int64 { return n - 1 }}, 2, 40 * ms},
		{"full jitter draws from zero", Policy{Base: 20 * ms, Max: time.Second, Jitter: func(int64) int64 { return 0 }}, 2, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Delay(tt.retry); got != tt.want {
				t.Fatalf("Delay(%d) = %v, want %v", tt.retry, got, tt.want)
			}
		})
	}
}

func TestJitterBound(t *testing.T) {
	var asked []int64
	p := Policy{Base: 10, Max: 50, Jitter: func(n int64) int64 { asked = append(asked, n); return 0 }}
	for retry := 1; retry <= 4; retry++ {
		p.Delay(retry)
	}
	want := []int64{11, 21, 41, 51}
	for i := range want {
		if asked[i] != want[i] {
			t.Fatalf("Jitter asked for %v, want %v", asked, want)
		}
	}
}

func TestRetryNextReset(t *testing.T) {
	r := Retry{Policy: Policy{Base: time.Millisecond, Max: 4 * time.Millisecond}}
	var got []time.Duration
	for range 4 {
		got = append(got, r.Next())
	}
	r.Reset()
	got = append(got, r.Next())
	want := []time.Duration{1, 2, 4, 4, 1}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep on a live context: %v", err)
	}
	if err := Sleep(context.Background(), 0); err != nil {
		t.Fatalf("Sleep(0) on a live context: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep(0) on a done context = %v, want Canceled", err)
	}
	start := time.Now()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep on a done context = %v, want Canceled", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep waited although its context was done")
	}
}
