package redistest

import "syscall"

// ChildProcAttr is the SysProcAttr of a process a test starts: on Linux the
// kernel kills it (SIGKILL) when the test process dies, so a test binary
// killed by go test's -timeout, or by hand, leaves no redis-server or
// service behind.
func ChildProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
