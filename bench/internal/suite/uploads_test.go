package suite

import (
	"testing"
	"time"
)

func TestUploadSamplesAt(t *testing.T) {
	t0 := time.UnixMilli(1_000_000)
	s := &uploadSamples{}
	s.add(t0, 100)
	s.add(t0.Add(time.Second), 200)
	s.add(t0.Add(2*time.Second), 200)
	for _, c := range []struct {
		at   time.Duration
		want int64
		ok   bool
	}{{0, 100, true}, {500 * time.Millisecond, 150, true}, {1500 * time.Millisecond, 200, true}, {-time.Millisecond, 0, false}, {3 * time.Second, 0, false}} {
		if got, ok := s.at(t0.Add(c.at)); got != c.want || ok != c.ok {
			t.Errorf("at(+%v) = %d, %v, want %d, %v", c.at, got, ok, c.want, c.ok)
		}
	}
}

func TestPrevSliceStart(t *testing.T) {
	ttl := 8 * time.Second
	if got, want := prevSliceStart(time.UnixMilli(8000*10+1234), ttl), time.UnixMilli(8000*9); !got.Equal(want) {
		t.Errorf("prevSliceStart = %v, want %v", got, want)
	}
}
