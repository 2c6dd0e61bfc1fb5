package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc CPU times (100 on Linux).
const clockTick = 10 * time.Millisecond

// CPUTime returns the user + system CPU time process pid has used.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("cpu time: %w", err)
	}
	// The command name (field 2) may hold spaces; fields after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cpu time: short /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cpu time: /proc/%d/stat does not parse", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// MachineBusy returns the CPU time all cores have spent not idle.
func MachineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, fmt.Errorf("machine cpu: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0, fmt.Errorf("machine cpu: unexpected /proc/stat")
	}
	var busy int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick, nil
}

// CPUMeter measures the CPU time processes and the whole machine use over
// an interval.
type CPUMeter struct {
	pids  map[string]int
	start map[string]time.Duration
	wall  time.Time
}

// NewCPUMeter starts measuring the named processes (and the machine).
func NewCPUMeter(pids map[string]int) *CPUMeter {
	m := &CPUMeter{pids: pids, start: map[string]time.Duration{}, wall: time.Now()}
	for name, pid := range pids {
		m.start[name], _ = CPUTime(pid)
	}
	m.start["machine"], _ = MachineBusy()
	return m
}

// Add starts measuring a process started after NewCPUMeter: its CPU time
// counts from its start, not from the meter's.
func (m *CPUMeter) Add(name string, pid int) {
	m.pids[name] = pid
	m.start[name] = 0
}

// Used returns, per name (and "machine"), the CPU seconds used since
// NewCPUMeter, and the seconds of wall time since.
func (m *CPUMeter) Used() (cpu map[string]float64, wall float64) {
	wall = time.Since(m.wall).Seconds()
	cpu = map[string]float64{}
	for name, pid := range m.pids {
		t, err := CPUTime(pid)
		if err == nil {
			cpu[name] = (t - m.start[name]).Seconds()
		}
	}
	if t, err := MachineBusy(); err == nil {
		cpu["machine"] = (t - m.start["machine"]).Seconds()
	}
	return cpu, wall
}

// Cores returns cpu (from Used) as cores used on average over wall
// seconds: 1.0 is one core busy the whole time.
func Cores(cpu map[string]float64, wall float64) map[string]float64 {
	out := map[string]float64{}
	for name, s := range cpu {
		out[name] = round3(s / wall)
	}
	return out
}

func round3(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }
