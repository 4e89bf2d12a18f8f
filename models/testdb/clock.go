package testdb

import (
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// The tests' one clock. With TEST_NOW unset it is the real time. With TEST_NOW set (RFC 3339, e.g.
// 2031-02-28T23:59:00Z) it starts at that instant when the test binary starts and runs on at real
// speed, so a test that depends on today's date, or on the database's now() meeting the caller's
// clock, fails under a date years away or at a month's last minute instead of on some future morning.

var (
	clockOnce  sync.Once
	clockStart time.Time // TEST_NOW, or zero
	clockBase  time.Time // when the clock started (monotonic)
	clockErr   error
)

func startClock() {
	clockBase = time.Now()
	v := os.Getenv("TEST_NOW")
	if v == "" {
		return
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		clockErr = fmt.Errorf("TEST_NOW=%q is not an RFC 3339 time: %w", v, err)
		return
	}
	clockStart = t.UTC()
}

// Now is the tests' current time: TEST_NOW plus the time since the test binary started, or the
// real time when TEST_NOW is unset. A bad TEST_NOW fails the test.
func Now(t testing.TB) time.Time {
	t.Helper()
	clockOnce.Do(startClock)
	if clockErr != nil {
		t.Fatal(clockErr)
	}
	return Clock()
}

// Clock is Now for code without a testing.TB (servers started by a test). A bad TEST_NOW panics.
func Clock() time.Time {
	clockOnce.Do(startClock)
	if clockErr != nil {
		panic(clockErr)
	}
	if clockStart.IsZero() {
		return time.Now().UTC()
	}
	return clockStart.Add(time.Since(clockBase))
}
