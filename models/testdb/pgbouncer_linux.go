package testdb

import (
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"
)

// bouncerProcAttr runs pgbouncer as the postgres system user when the tests run as root (it
// refuses root), and ends it with the test process.
func bouncerProcAttr() (*syscall.SysProcAttr, error) {
	attr := &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if os.Geteuid() != 0 {
		return attr, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf(`pgbouncer refuses to run as root and there is no "postgres" system user to run it as: %w`, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("the postgres system user has a non-numeric uid or gid")
	}
	attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return attr, nil
}
