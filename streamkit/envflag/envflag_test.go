package envflag

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"default", nil, nil, "1 d 1s false"},
		{"env", map[string]string{"GEOSTREAM_PARTITIONS": "8", "GEOSTREAM_NAME": "e", "GEOSTREAM_BLOCK": "2s", "GEOSTREAM_ON": "yes"}, nil, "8 e 2s true"},
		{"flag wins", map[string]string{"GEOSTREAM_PARTITIONS": "8"}, []string{"--partitions", "3"}, "3 d 1s false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New("x", env(tt.env))
			var n int
			var name string
			var d time.Duration
			var on bool
			s.Int(&n, "partitions", 1, "")
			s.String(&name, "name", "d", "")
			s.Duration(&d, "block", time.Second, "")
			s.Bool(&on, "on", false, "")
			if err := s.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(n, " ", name, " ", d, " ", on); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBadEnvIsAnError(t *testing.T) {
	for _, e := range []map[string]string{
		{"GEOSTREAM_PARTITIONS": "four"},
		{"GEOSTREAM_PARTITIONS": "12abc"},
		{"GEOSTREAM_PARTITIONS": "1e3"},
		{"GEOSTREAM_BLOCK": "soon"},
		{"GEOSTREAM_ON": "maybe"},
	} {
		s := New("x", env(e))
		var n int
		var d time.Duration
		var on bool
		s.Int(&n, "partitions", 1, "")
		s.Duration(&d, "block", time.Second, "")
		s.Bool(&on, "on", false, "")
		if err := s.Parse(nil); err == nil || !strings.Contains(err.Error(), "GEOSTREAM_") {
			t.Errorf("env %v: err = %v, want one naming the variable", e, err)
		}
	}
}

func TestEffectiveMasksSecrets(t *testing.T) {
	s := New("x", env(map[string]string{"GEOSTREAM_REDIS_URL": "redis://u:hunter2@h:6379/0?password=hunter2"}))
	var url string
	s.Secret(&url, "redis-url", "", "")
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(s.Effective())
	if strings.Contains(got, "hunter2") || !strings.Contains(got, "redis://u:xxxxx@h:6379/0") {
		t.Errorf("Effective() = %s", got)
	}
	if st := s.Settings(); len(st) != 1 || st[0].Env != "GEOSTREAM_REDIS_URL" || !st[0].Secret {
		t.Errorf("Settings() = %+v", st)
	}
}

func TestMask(t *testing.T) {
	tests := map[string]string{
		"":                               "",
		"redis://h:1":                    "redis://h:1",
		"redis://:pw@h:1":                "redis://:xxxxx@h:1",
		"rediss://user:pw@h:1/2":         "rediss://user:xxxxx@h:1/2",
		"redis://token@h":                "redis://xxxxx@h",
		"redis://a:p1@h1,redis://:p2@h2": "redis://a:xxxxx@h1,redis://:xxxxx@h2",
		"plain-secret":                   "xxxxx",
	}
	for in, want := range tests {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}
