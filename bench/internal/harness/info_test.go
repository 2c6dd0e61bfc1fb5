package harness

import (
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestParseCPU(t *testing.T) {
	for _, c := range []struct {
		name, info string
		want       RedisCPU
		wantErr    bool
	}{
		{name: "redis 7: the main thread's", info: "# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:2.25\r\n" +
			"used_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n" +
			"used_cpu_sys_main_thread:1.25\r\nused_cpu_user_main_thread:2.0\r\n",
			want: RedisCPU{Main: 3.25, Process: 3.75}},
		{name: "older: the process's", info: "# CPU\nused_cpu_sys:1\nused_cpu_user:2\n", want: RedisCPU{Main: 3, Process: 3}},
		{name: "no cpu fields", info: "# Server\nredis_version:7.0.15\n", wantErr: true},
		{name: "garbage value", info: "used_cpu_sys:x\nused_cpu_user:1\n", wantErr: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseCPU(c.info)
			if (err != nil) != c.wantErr || got != c.want {
				t.Fatalf("ParseCPU = %+v, %v; want %+v (error %v)", got, err, c.want, c.wantErr)
			}
		})
	}
}

func TestParseInfo(t *testing.T) {
	got := ParseInfo("# Memory\r\nused_memory:1048576\r\nused_memory_human:1.00M\r\n\r\n# Server\r\nredis_version:7.0.15\r\nbad line\r\n")
	if len(got) != 3 || got["used_memory"] != "1048576" || got["redis_version"] != "7.0.15" || got["used_memory_human"] != "1.00M" {
		t.Fatalf("ParseInfo = %v", got)
	}
}

func TestParseMemory(t *testing.T) {
	got, err := ParseMemory("# Memory\r\nused_memory:8584808\r\nused_memory_human:8.19M\r\nmem_clients_slaves:0\r\n" +
		"mem_clients_normal:123456\r\nmem_aof_buffer:512\r\n")
	if err != nil || got != (Memory{Used: 8584808, Buffers: 123968}) {
		t.Fatalf("ParseMemory = %+v, %v", got, err)
	}
	if got, err := ParseMemory("used_memory:100\n"); err != nil || got != (Memory{Used: 100}) {
		t.Errorf("without buffer fields: %+v, %v", got, err)
	}
	if _, err := ParseMemory("# Memory\n"); err == nil {
		t.Error("no used_memory: want an error")
	}
}

func TestSlowest(t *testing.T) {
	names := map[string]string{"abcdef0123456789abcdef0123456789abcdef01": "append"}
	entries := []redis.SlowLog{
		{Duration: 900 * time.Microsecond, Args: []string{"flushall"}, ClientName: HarnessClient},
		{Duration: 150 * time.Microsecond, Args: []string{"xreadgroup", "GROUP", "g", "c", "COUNT", "10000"}},
		{Duration: 420 * time.Microsecond, Args: []string{"evalsha", "ABCDEF0123456789abcdef0123456789abcdef01", "2", "gs:{p0}:points", "gs:{p0}:idem:k"}, ClientName: "ingest"},
		{Duration: 300 * time.Microsecond, Args: []string{"evalsha", "ffff0123456789abcdef0123456789abcdef0123", "1", "gs:{p1}:points", "0"}},
	}
	got := Slowest(entries, names)
	want := SlowCall{Micros: 420, Command: "EVALSHA append 2 keys gs:{p0}:points gs:{p0}:idem:k", Client: "ingest", Logged: 3}
	if got != want {
		t.Fatalf("Slowest = %+v, want %+v", got, want)
	}
	if got := Slowest(entries[:1], names); got != (SlowCall{}) {
		t.Errorf("only the harness's own calls: %+v, want none", got)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{strings.Fields("evalsha ffff0123456789abcdef0123456789abcdef0123 1 gs:{p1}:points 0"), "EVALSHA ffff0123… 1 keys gs:{p1}:points 0"},
		{strings.Fields("xadd s * a 1 b 2"), "XADD s * a …"},
		{[]string{"fcall"}, "FCALL"},
		{[]string{"eval", "return 1", "0"}, `EVAL "return 1" 0`},
		{[]string{"eval", "local function token(id) local ms, seq = string.match(id)", "3", "gs:{p0}:points"},
			`EVAL "local function token(id)…" 3 keys gs:{p0}:points`},
		{[]string{"eval", "return 2", "1", "k"}, "EVAL two.lua 1 keys k"},
	} {
		if got := Describe(c.args, map[string]string{"7f923f79fe76194c868d7e1d0820de36700eb649": "two.lua"}); got != c.want {
			t.Errorf("Describe(%q) = %q, want %q", c.args, got, c.want)
		}
	}
	if got := Describe(nil, nil); got != "?" {
		t.Errorf("Describe(nil) = %q", got)
	}
	if m := Merge(SlowCall{Micros: 5, Command: "A", Logged: 2}, SlowCall{Micros: 9, Command: "B", Logged: 1}); m != (SlowCall{Micros: 9, Command: "B", Logged: 3}) {
		t.Errorf("Merge = %+v", m)
	}
	if m := Merge(SlowCall{Micros: 9, Command: "A", Logged: 2}, SlowCall{}); m != (SlowCall{Micros: 9, Command: "A", Logged: 2}) {
		t.Errorf("Merge with nothing = %+v", m)
	}
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP geostream_ingest_points_accepted_total Points stored.
# TYPE geostream_ingest_points_accepted_total counter
geostream_ingest_points_accepted_total 1.2345e+06
geostream_ingest_batch_points_count 2469
geostream_ingest_uploads_rejected_total{reason="invalid"} 3
http_requests{path="/a b",code="200"} 7 1700000000000
broken_line
also_broken x
`
	got := ParseMetrics(text)
	want := map[string]float64{
		"geostream_ingest_points_accepted_total":                    1234500,
		"geostream_ingest_batch_points_count":                       2469,
		`geostream_ingest_uploads_rejected_total{reason="invalid"}`: 3,
		`http_requests{path="/a b",code="200"}`:                     7,
	}
	if len(got) != len(want) {
		t.Fatalf("ParseMetrics = %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
