package redistest

import "syscall"

// ChildProcAttr is the SysProcAttr of a process a test starts: on Linux the
// kernel kills it (SIGKILL) when the test process dies, so a test binary
// killed by go test's -timeout, or by hand, leaves no redis-server or
// service behind; and it leads a process group of its own, so that
// SignalGroup reaches what it forks (SignalGroup).
func ChildProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}

// SignalGroup sends sig to the process group of pid, a process started
// with ChildProcAttr: redis-server forks for an AOF rewrite (a replica
// does after its first sync), and a child left running after its parent
// was killed kept writing into the test's directory while TempDir
// removed it.
func SignalGroup(pid int, sig syscall.Signal) { _ = syscall.Kill(-pid, sig) }

// GroupGone reports whether no process of pid's group is left.
func GroupGone(pid int) bool { return syscall.Kill(-pid, 0) == syscall.ESRCH }
