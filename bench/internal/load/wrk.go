package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/geostream/geostream/bench/internal/harness"
)

// Result is what one load run measured.
type Result struct {
	Generator string        `json:"generator"` // "wrk" or "go"
	Requests  int64         `json:"requests"`  // responses received
	OK        int64         `json:"ok"`        // 2xx responses
	Errors    int64         `json:"errors"`    // other responses and socket errors
	Duration  time.Duration `json:"duration_ns"`
	P50       time.Duration `json:"p50_ns"`
	P90       time.Duration `json:"p90_ns"`
	P99       time.Duration `json:"p99_ns"`
	Max       time.Duration `json:"max_ns"`
}

// Rate returns 2xx responses per second.
func (r Result) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.OK) / r.Duration.Seconds()
}

// Spec is a closed-loop load: conns connections, each sending its next
// request as soon as the previous one is answered, for Duration.
type Spec struct {
	URL         string
	Method      string   // GET or POST
	ContentType string   // of the bodies
	Bodies      [][]byte // sent in turn; none for GET
	Conns       int
	Duration    time.Duration // whole seconds for wrk
}

// HaveWrk reports whether wrk is installed.
func HaveWrk() bool {
	_, err := exec.LookPath("wrk")
	return err == nil
}

// Wrk runs the load with wrk (2 threads, one a core) and returns what its
// done() hook reports. The bodies are embedded in a generated Lua script.
func Wrk(ctx context.Context, dir string, s Spec) (Result, error) {
	script := filepath.Join(dir, "wrk-"+strconv.FormatInt(time.Now().UnixNano(), 36)+".lua")
	if err := os.WriteFile(script, wrkScript(s), 0o644); err != nil {
		return Result{}, fmt.Errorf("wrk script: %w", err)
	}
	defer os.Remove(script)
	secs := max(1, int(s.Duration.Round(time.Second)/time.Second))
	threads := min(2, s.Conns)
	out, err := harness.Run(ctx, time.Duration(secs)*time.Second+30*time.Second, "wrk",
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(s.Conns), "-d", strconv.Itoa(secs)+"s",
		"--timeout", "10s", "-s", script, s.URL)
	if err != nil {
		return Result{}, err
	}
	i := strings.LastIndex(out, "BENCHJSON ")
	if i < 0 {
		return Result{}, fmt.Errorf("wrk printed no result:\n%s", out)
	}
	line, _, _ := strings.Cut(out[i+len("BENCHJSON "):], "\n")
	var w struct {
		Requests, DurationUs, Status, Connect, Read, Write, Timeout int64
		P50, P90, P99, Max                                          float64
	}
	if err := json.Unmarshal([]byte(line), &w); err != nil {
		return Result{}, fmt.Errorf("wrk result %q: %w", line, err)
	}
	us := func(v float64) time.Duration { return time.Duration(v * float64(time.Microsecond)) }
	return Result{
		Generator: "wrk", Requests: w.Requests, OK: w.Requests - w.Status,
		Errors:   w.Status + w.Connect + w.Read + w.Write + w.Timeout,
		Duration: time.Duration(w.DurationUs) * time.Microsecond,
		P50:      us(w.P50), P90: us(w.P90), P99: us(w.P99), Max: us(w.Max),
	}, nil
}

// wrkScript returns a Lua script that sends the spec's requests in turn
// (each thread starting at its own offset) and prints the summary as one
// JSON line.
func wrkScript(s Spec) []byte {
	var b bytes.Buffer
	b.WriteString("local bodies = {\n")
	for _, body := range s.Bodies {
		b.WriteString("[==[")
		b.Write(body)
		b.WriteString("]==],\n")
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "local method, ctype = %q, %q\n", s.Method, s.ContentType)
	b.WriteString(`
local reqs, idx = {}, 0
function init(args)
  local headers = {}
  if ctype ~= "" then headers["Content-Type"] = ctype end
  if #bodies == 0 then
    reqs[1] = wrk.format(method, nil, headers, nil)
  else
    for i, body in ipairs(bodies) do reqs[i] = wrk.format(method, nil, headers, body) end
  end
  idx = math.random(#reqs) - 1
end
function request()
  idx = idx % #reqs + 1
  return reqs[idx]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('BENCHJSON {"requests":%d,"durationus":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50":%f,"p90":%f,"p99":%f,"max":%f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`)
	return b.Bytes()
}

// Run runs the closed-loop load with wrk when useWrk is set, with the Go
// generator otherwise.
func Run(ctx context.Context, dir string, s Spec, useWrk bool) (Result, error) {
	if useWrk {
		return Wrk(ctx, dir, s)
	}
	return Closed(ctx, s, 0), nil
}
