//go:build !linux

package redistest

import (
	"os"
	"syscall"
)

// ChildProcAttr is the SysProcAttr of a process a test starts. Outside
// Linux there is no parent-death signal: a test process that dies leaves
// its children running until their own cleanup.
func ChildProcAttr() *syscall.SysProcAttr { return nil }

// SignalGroup sends sig to pid (outside Linux, to the process alone).
func SignalGroup(pid int, sig syscall.Signal) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Signal(sig)
	}
}

// GroupGone reports true: outside Linux the group is not tracked.
func GroupGone(int) bool { return true }
