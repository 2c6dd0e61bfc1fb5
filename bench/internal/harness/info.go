package harness

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// ParseInfo returns the fields of an INFO answer (one section or several):
// "name:value" lines; headers ("# CPU") and blank lines are skipped.
func ParseInfo(info string) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(info) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// RedisCPU is INFO cpu: the CPU seconds Redis has used since it started.
type RedisCPU struct {
	// Main is the main thread's (commands and scripts run there), from
	// used_cpu_{sys,user}_main_thread; the whole process's where Redis does
	// not report it (before 6.2).
	Main float64 `json:"main_thread_s"`
	// Process is the whole process's, background threads (AOF fsync, lazy
	// free) included: used_cpu_sys + used_cpu_user.
	Process float64 `json:"process_s"`
}

// ParseCPU reads RedisCPU from an INFO cpu answer.
func ParseCPU(info string) (RedisCPU, error) {
	f := ParseInfo(info)
	num := func(k string) (float64, bool) {
		v, err := strconv.ParseFloat(f[k], 64)
		return v, err == nil
	}
	sys, ok1 := num("used_cpu_sys")
	user, ok2 := num("used_cpu_user")
	if !ok1 || !ok2 {
		return RedisCPU{}, fmt.Errorf("info cpu: no used_cpu_sys/used_cpu_user in %q", info)
	}
	c := RedisCPU{Process: sys + user, Main: sys + user}
	msys, ok1 := num("used_cpu_sys_main_thread")
	muser, ok2 := num("used_cpu_user_main_thread")
	if ok1 && ok2 {
		c.Main = msys + muser
	}
	return c, nil
}

// CPU returns Redis's INFO cpu.
func (r *Redis) CPU(ctx context.Context) (RedisCPU, error) {
	info, err := r.Client.Info(ctx, "cpu").Result()
	if err != nil {
		return RedisCPU{}, fmt.Errorf("info cpu: %w", err)
	}
	return ParseCPU(info)
}

// Memory is the part of INFO memory the benchmark reads, in bytes.
type Memory struct {
	// Used is used_memory: everything Redis allocated.
	Used int64 `json:"used_memory"`
	// Buffers are clients' buffers (mem_clients_normal, mem_clients_slaves)
	// and the AOF buffer (mem_aof_buffer): they come and go with the load,
	// not with the data.
	Buffers int64 `json:"buffers"`
}

// ParseMemory reads Memory from an INFO memory answer.
func ParseMemory(info string) (Memory, error) {
	f := ParseInfo(info)
	var m Memory
	var err error
	if m.Used, err = strconv.ParseInt(f["used_memory"], 10, 64); err != nil {
		return Memory{}, fmt.Errorf("info memory: used_memory: %w", err)
	}
	for _, k := range []string{"mem_clients_normal", "mem_clients_slaves", "mem_aof_buffer"} {
		v, _ := strconv.ParseInt(f[k], 10, 64) // absent in old versions: 0
		m.Buffers += v
	}
	return m, nil
}

// Memory returns Redis's INFO memory.
func (r *Redis) Memory(ctx context.Context) (Memory, error) {
	info, err := r.Client.Info(ctx, "memory").Result()
	if err != nil {
		return Memory{}, fmt.Errorf("info memory: %w", err)
	}
	return ParseMemory(info)
}
