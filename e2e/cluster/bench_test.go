//go:build geostream_bench

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/geostream/geostream/e2e/internal/procs"
	"github.com/geostream/geostream/streamkit/keys"
	"github.com/geostream/geostream/streamkit/redistest"
)

// The measurements behind docs/scaling.md. They take minutes and load the
// machine, so they are built only with the geostream_bench tag (a normal
// test run does not compile them, so nothing is skipped there):
//
//	go test -tags geostream_bench -count=1 -run 'TestThroughput|TestMemory' -v -timeout 30m ./e2e/cluster/
//
// GEOSTREAM_BENCH_POINTS sets the points per throughput run (default
// 200000).

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on every Linux platform Go supports).
const clockTicks = 100

// cpuSeconds returns the user+system CPU time a process has used so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	rest := string(b[strings.LastIndexByte(string(b), ')')+2:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields after the name", pid, len(f))
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / clockTicks, nil
}

// machineCPU returns the seconds of CPU the whole machine spent busy (user,
// nice, system, irq, softirq: all processes, ours and others') and stolen
// by the hypervisor, from /proc/stat.
func machineCPU() (busy, steal float64, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	v := make([]float64, len(f))
	for i := 1; i < len(f); i++ {
		v[i], _ = strconv.ParseFloat(f[i], 64)
	}
	return (v[1] + v[2] + v[3] + v[6] + v[7]) / clockTicks, v[8] / clockTicks, nil
}

// cpuMeter reads the CPU time of a set of named processes.
type cpuMeter struct {
	pids map[string][]int // component → pids
}

func (m *cpuMeter) add(component string, pid int) {
	if m.pids == nil {
		m.pids = map[string][]int{}
	}
	m.pids[component] = append(m.pids[component], pid)
}

// read returns the CPU seconds used so far per component.
func (m *cpuMeter) read(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for c, pids := range m.pids {
		for _, pid := range pids {
			s, err := cpuSeconds(pid)
			if err != nil {
				t.Logf("cpu of %s (pid %d): %v", c, pid, err)
				continue
			}
			out[c] += s
		}
	}
	return out
}

// throughputRow is one line of TestThroughput's table.
type throughputRow struct {
	shards, processors int
	points             int64
	wall               time.Duration // from the first POST to the last point counted
	sendWall           float64       // seconds the simulator took to get every point acknowledged
	retries            int64
	cpu                map[string]float64 // CPU seconds per component over wall
	machine, steal     float64            // CPU seconds the machine was busy (everyone) and stolen, over wall
}

// End-to-end throughput of `simulator run --count N --batch 500` (points/s
// from the first POST until /retrieve counts every point) with 1 and 3
// processors on a single redis-server (1 shard) and on a 3-master cluster
// (3 shards), with the CPU each component used. Everything shares this
// machine's cores: the table says how the work divides, not how far it
// scales.
func TestThroughput(t *testing.T) {
	n := int64(200_000)
	if v := os.Getenv("GEOSTREAM_BENCH_POINTS"); v != "" {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil {
			t.Fatalf("GEOSTREAM_BENCH_POINTS: %v", err)
		}
	}
	var rows []throughputRow
	for _, shards := range []int{1, 3} {
		for _, processors := range []int{1, 3} {
			t.Run(fmt.Sprintf("shards=%d/processors=%d", shards, processors), func(t *testing.T) {
				rows = append(rows, measureThroughput(t, shards, processors, n))
			})
		}
	}
	t.Log("\n" + throughputTable(rows))
}

func measureThroughput(t *testing.T, shards, processors int, n int64) throughputRow {
	var d *deployment
	var m cpuMeter
	if shards == 1 {
		d = newSingleDeployment(t)
		m.add("redis", d.single.Pid())
	} else {
		d = newClusterDeployment(t)
		for _, node := range d.cluster.Nodes {
			m.add("redis", node.Pid())
		}
	}
	m.add("ingest", d.ingest.Pid())
	for i := range processors {
		p := d.startProcessor(fmt.Sprintf("p%d", i+1))
		m.add("processors", p.Pid())
	}
	sim := exec.Command(bin.Simulator, "run", "--target", d.base, "--count", strconv.FormatInt(n, 10),
		"--batch", "500", "--concurrency", "8", "--devices", "200", "--seed", "11",
		"--json", "--log-format", "text", "--progress-interval", "10s")
	var out, logs strings.Builder
	sim.Stdout, sim.Stderr = &out, &logs
	before := m.read(t)
	busy0, steal0, err := machineCPU()
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := sim.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sim.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("simulator:\n%s", procs.Tail([]byte(logs.String()), 3000))
		}
	})
	redistest.WaitFor(t, 10*time.Minute, fmt.Sprintf("%d points counted", n), func() bool {
		got, err := d.globalCount()
		return err == nil && got >= n
	})
	wall := time.Since(t0)
	after := m.read(t)
	busy1, steal1, _ := machineCPU()
	if err := <-done; err != nil {
		t.Fatalf("simulator run: %v\n%s", err, procs.Tail([]byte(logs.String()), 3000))
	}
	// The simulator has exited by now (it waits for its last answer, and
	// the last point is counted after that answer): its own CPU time.
	before["simulator"] = 0
	after["simulator"] = (sim.ProcessState.UserTime() + sim.ProcessState.SystemTime()).Seconds()
	var sum struct {
		ElapsedSeconds float64 `json:"elapsed_seconds"`
		Retries        int64   `json:"retries"`
		Points         struct {
			Acked int64 `json:"acked"`
		} `json:"points"`
	}
	if err := json.Unmarshal([]byte(out.String()), &sum); err != nil {
		t.Fatalf("simulator summary: %v\n%s", err, out.String())
	}
	if sum.Points.Acked != n {
		t.Fatalf("acked %d points of %d", sum.Points.Acked, n)
	}
	row := throughputRow{shards: shards, processors: processors, points: n, wall: wall,
		sendWall: sum.ElapsedSeconds, retries: sum.Retries, cpu: map[string]float64{},
		machine: busy1 - busy0, steal: steal1 - steal0}
	for c, v := range after {
		row.cpu[c] = v - before[c]
	}
	t.Logf("%d shards, %d processors: %d points in %v = %.0f points/s; cpu %v", shards, processors, n,
		wall.Round(time.Millisecond), float64(n)/wall.Seconds(), row.cpu)
	return row
}

func throughputTable(rows []throughputRow) string {
	var b strings.Builder
	comps := []string{"redis", "ingest", "processors", "simulator"}
	fmt.Fprintf(&b, "| shards | processors | points | wall s | points/s end to end | points/s acked | retries |")
	for _, c := range comps {
		fmt.Fprintf(&b, " %s CPU s |", c)
	}
	fmt.Fprintf(&b, " cores ours | cores others | cores stolen | points per CPU s: redis / ingest / processors |\n|")
	for range 10 + len(comps) {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range rows {
		total := 0.0
		for _, c := range comps {
			total += r.cpu[c]
		}
		fmt.Fprintf(&b, "| %d | %d | %d | %.2f | %.0f | %.0f | %d |", r.shards, r.processors, r.points,
			r.wall.Seconds(), float64(r.points)/r.wall.Seconds(), float64(r.points)/r.sendWall, r.retries)
		for _, c := range comps {
			fmt.Fprintf(&b, " %.2f |", r.cpu[c])
		}
		per := func(c string) string {
			if r.cpu[c] == 0 {
				return "-"
			}
			return fmt.Sprintf("%.0f", float64(r.points)/r.cpu[c])
		}
		w := r.wall.Seconds()
		fmt.Fprintf(&b, " %.2f | %.2f | %.2f | %s / %s / %s |\n", total/w, max(0, r.machine/w-total/w), r.steal/w,
			per("redis"), per("ingest"), per("processors"))
	}
	return b.String()
}

// Redis memory per stored point (stream entries, MEMORY USAGE of the
// partition streams / their entries) and per aggregate hash (total, device,
// time buckets at each resolution), for the simulator's two data modes:
// "uniform" (the seed's points: device, time, lat, lon) and "tracks" (with
// altitude, speed, heading and accuracy).
func TestMemory(t *testing.T) {
	const n = 100_000
	for _, mode := range []string{"uniform", "tracks"} {
		t.Run(mode, func(t *testing.T) {
			d := newSingleDeployment(t)
			rdb := d.single.Client()
			ctx := context.Background()
			s := d.schema()
			used0 := usedMemory(t, rdb)
			// No processor yet: the streams keep every point.
			sim := exec.Command(bin.Simulator, "run", "--target", d.base, "--count", strconv.Itoa(n),
				"--batch", "500", "--concurrency", "4", "--devices", "100", "--mode", mode,
				"--device-prefix", "mem-", "--log-format", "text")
			if out, err := sim.CombinedOutput(); err != nil {
				t.Fatalf("simulator run: %v\n%s", err, procs.Tail(out, 3000))
			}
			// Points from the backlog counters (stored, not yet counted):
			// an entry holds many points.
			var entries, points, bytes int64
			for p := range s.Partitions() {
				l, err := rdb.XLen(ctx, s.Stream(p)).Result()
				if err != nil {
					t.Fatal(err)
				}
				b, err := rdb.Get(ctx, s.Backlog(p)).Int64()
				if err != nil {
					t.Fatal(err)
				}
				u, err := rdb.MemoryUsage(ctx, s.Stream(p), 0).Result() // SAMPLES 0: every entry
				if err != nil {
					t.Fatal(err)
				}
				entries += l
				points += b
				bytes += u
			}
			if points != n {
				t.Fatalf("backlog counters hold %d points, want %d", points, n)
			}
			used1 := usedMemory(t, rdb)
			t.Logf("%s: stream memory %d bytes / %d points (%d entries) = %.1f bytes per point; used_memory grew %.1f bytes per point (with idempotency markers)",
				mode, bytes, points, entries, float64(bytes)/float64(points), float64(used1-used0)/n)

			d.startProcessor("p1")
			d.waitCount(n, 2*time.Minute)
			var lines []string
			for _, pat := range []string{"total", "dev:*", "devices", "b:1m:*", "b:1h:*", "b:1d:*", "db:1m:*", "db:1h:*", "db:1d:*"} {
				cnt, avg := keyBytes(t, rdb, s, pat)
				lines = append(lines, fmt.Sprintf("  %-8s %6d keys, %6.0f bytes each", pat, cnt, avg))
			}
			t.Logf("%s: aggregate hashes after %d points of 100 devices (MEMORY USAGE):\n%s", mode, n, strings.Join(lines, "\n"))
		})
	}
}

func usedMemory(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(context.Background(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no used_memory in INFO memory")
	return 0
}

// keyBytes returns how many keys of every partition match pattern (after
// the partition's prefix) and their mean MEMORY USAGE.
func keyBytes(t *testing.T, rdb *redis.Client, s *keys.Schema, pattern string) (int, float64) {
	t.Helper()
	ctx := context.Background()
	var sizes []int64
	for p := range s.Partitions() {
		prefix := strings.TrimSuffix(s.Total(p), "total")
		iter := rdb.Scan(ctx, 0, prefix+pattern, 1000).Iterator()
		for iter.Next(ctx) {
			u, err := rdb.MemoryUsage(ctx, iter.Val(), 0).Result()
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, u)
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if len(sizes) == 0 {
		return 0, 0
	}
	var sum int64
	for _, v := range sizes {
		sum += v
	}
	return len(sizes), float64(sum) / float64(len(sizes))
}
