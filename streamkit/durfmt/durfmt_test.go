package durfmt

import (
	"testing"
	"time"
)

func TestHuman(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{250 * time.Millisecond, "250ms"},
		{5 * time.Minute, "5m"},
		{5*time.Minute + time.Millisecond, "5m0.001s"},
		{time.Hour + 30*time.Second, "1h0m30s"},
		{6 * time.Hour, "6h"},
		{48 * time.Hour, "2d"},
		{2160 * time.Hour, "90d"},
		{87600 * time.Hour, "3650d"},
		{26941*time.Hour + 29*time.Minute + 6250*time.Millisecond, "1122d 13h29m6.25s"},
		{-90 * time.Second, "-1m30s"},
	} {
		if got := Human(tt.d); got != tt.want {
			t.Errorf("Human(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
