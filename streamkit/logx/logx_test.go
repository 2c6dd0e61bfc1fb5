package logx

import (
	"bytes"
	"strings"
	"testing"
)

func TestNew(t *testing.T) {
	tests := []struct {
		format, level string
		wantPrefix    string
		wantErr       bool
	}{
		{"auto", "info", "{", false}, // a buffer is not a terminal: JSON
		{"json", "debug", "{", false},
		{"text", "info", "time=", false},
		{"yaml", "info", "", true},
		{"json", "loud", "", true},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		l, err := New(&buf, tt.format, tt.level)
		if (err != nil) != tt.wantErr {
			t.Fatalf("New(%s, %s): err = %v", tt.format, tt.level, err)
		}
		if err != nil {
			continue
		}
		l.Info("hello", "k", "v")
		if !strings.HasPrefix(buf.String(), tt.wantPrefix) {
			t.Errorf("New(%s, %s) wrote %q", tt.format, tt.level, buf.String())
		}
	}
	var buf bytes.Buffer
	l, _ := New(&buf, "json", "warn")
	l.Info("dropped")
	if buf.Len() != 0 {
		t.Errorf("info logged at level warn: %q", buf.String())
	}
}
