package load

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"
)

// vclock is a virtual clock whose sleep advances time at once.
type vclock struct{ t time.Time }

func (c *vclock) now() time.Time { return c.t }
func (c *vclock) sleep(ctx context.Context, d time.Duration) error {
	c.t = c.t.Add(d)
	return ctx.Err()
}

func TestPacerTokenBucket(t *testing.T) {
	for _, tc := range []struct {
		name    string
		rate    float64
		batch   int
		burst   string
		points  int
		wantSec float64 // virtual time to let all points through
	}{
		// The bucket starts full (one batch), the rest trickles at the rate.
		{"100/s in batches of 10", 100, 10, "", 1000, 9.9},
		{"50/s one by one", 50, 1, "", 500, 9.98},
		{"fractional rate", 0.5, 1, "", 5, 8},
		// Every 5 s: 1 s at 400/s then 4 s at 100/s = 800 points per period.
		{"burst 4x", 100, 1, "1s:4x/5s", 3200, 20},
		// Every 10 s: 5 s paused, then 5 s at 100/s.
		{"burst pause", 100, 1, "5s:0x/10s", 1000, 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ParseBurst(tc.burst)
			if err != nil {
				t.Fatal(err)
			}
			clk := &vclock{t: time.Unix(1_000_000, 0)}
			start := clk.t
			p := NewPacer(tc.rate, tc.batch, b, clk.now, clk.sleep)
			for sent := 0; sent < tc.points; sent += tc.batch {
				if err := p.Wait(context.Background(), tc.batch); err != nil {
					t.Fatal(err)
				}
			}
			got := clk.t.Sub(start).Seconds()
			if math.Abs(got-tc.wantSec) > 0.05*tc.wantSec+0.02 {
				t.Fatalf("%d points took %.3fs of virtual time, want about %.3fs", tc.points, got, tc.wantSec)
			}
		})
	}
}

func TestPacerBurstShapesTheRate(t *testing.T) {
	b, err := ParseBurst("2s:5x/10s")
	if err != nil {
		t.Fatal(err)
	}
	clk := &vclock{t: time.Unix(0, 0)}
	p := NewPacer(10, 1, b, clk.now, clk.sleep)
	perSecond := map[int]int{}
	for range 1800 { // 180 per period of 10 s → 10 periods
		if err := p.Wait(context.Background(), 1); err != nil {
			t.Fatal(err)
		}
		perSecond[int(clk.t.Sub(time.Unix(0, 0)).Seconds())]++
	}
	for sec := 10; sec < 90; sec++ {
		want := 10
		if sec%10 < 2 {
			want = 50
		}
		if got := perSecond[sec]; got < want-2 || got > want+2 {
			t.Errorf("second %d: %d points, want about %d", sec, got, want)
		}
	}
}

func TestPacerUnlimitedAndTooLarge(t *testing.T) {
	clk := &vclock{t: time.Unix(0, 0)}
	p := NewPacer(0, 1, Burst{}, clk.now, clk.sleep)
	for range 1000 {
		if err := p.Wait(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
	}
	if !clk.t.Equal(time.Unix(0, 0)) {
		t.Fatal("an unlimited pacer waited")
	}
	p = NewPacer(10, 5, Burst{}, clk.now, clk.sleep)
	if err := p.Wait(context.Background(), 6); err == nil {
		t.Fatal("a request larger than the bucket was let through")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p = NewPacer(1, 1, Burst{}, clk.now, clk.sleep)
	p.Wait(ctx, 1)
	if err := p.Wait(ctx, 1); err == nil {
		t.Fatal("Wait on a cancelled context returned nil")
	}
}

func TestParseBurst(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Burst
		wantErr string
	}{
		{"", Burst{}, ""},
		{"5s:4x/25s", Burst{On: 5 * time.Second, Factor: 4, Period: 25 * time.Second}, ""},
		{"500ms:0.5x/2s", Burst{On: 500 * time.Millisecond, Factor: 0.5, Period: 2 * time.Second}, ""},
		{"10s:0x/1m", Burst{On: 10 * time.Second, Factor: 0, Period: time.Minute}, ""},
		{"5s:4/25s", Burst{}, "end in x"},
		{"5s4x/25s", Burst{}, "':'"},
		{"5s:4x", Burst{}, "'/'"},
		{"30s:4x/25s", Burst{}, "ON < PERIOD"},
		{"5s:-1x/25s", Burst{}, "FACTOR"},
		{"five:4x/25s", Burst{}, "ON is not"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseBurst(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseBurst(%q) error = %v, want one about %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseBurst(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			if again, err := ParseBurst(got.String()); err != nil || again != got {
				t.Fatalf("String() %q does not parse back: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, tc := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 500 * time.Millisecond}, {0.99, 990 * time.Millisecond}, {1, time.Second}} {
		got := h.quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*1.1 {
			t.Errorf("quantile(%v) = %v, want %v within +10%%", tc.q, got, tc.want)
		}
	}
	var empty histogram
	if empty.quantile(0.5) != 0 {
		t.Error("empty histogram has a non-zero median")
	}
}
