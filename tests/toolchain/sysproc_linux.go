package toolchain

import "syscall"

// sysProcAttr makes the started tools die with the test process, so that a
// test binary killed by `go test -timeout` leaves no etcd or kube-apiserver
// behind. (Pdeathsig follows the OS thread that started the process; Go only
// ends threads of goroutines that exit while locked to their thread, which
// this package never does.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
