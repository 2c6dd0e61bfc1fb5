//go:build !linux

package redistest

import "syscall"

// ChildProcAttr is the SysProcAttr of a process a test starts. Outside
// Linux there is no parent-death signal: a test process that dies leaves
// its children running until their own cleanup.
func ChildProcAttr() *syscall.SysProcAttr { return nil }
