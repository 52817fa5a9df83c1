//go:build !linux

package toolchain

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
