//go:build !linux

package testdb

import (
	"errors"
	"os"
	"syscall"
)

// bouncerProcAttr: elsewhere pgbouncer runs as the test process's user, which must not be root.
func bouncerProcAttr() (*syscall.SysProcAttr, error) {
	if os.Geteuid() == 0 {
		return nil, errors.New("pgbouncer refuses to run as root: run the tests as another user")
	}
	return nil, nil
}
