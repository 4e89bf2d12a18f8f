//go:build unix

package pgembed

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// testLog mirrors progress lines into the test log and keeps them for assertions.
type testLog struct {
	t   *testing.T
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.t.Logf("embedded: %s", strings.TrimRight(string(p), "\n"))
	return l.buf.Write(p)
}

func (l *testLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func requirePostgresBin(t *testing.T) {
	t.Helper()
	if _, err := FindBinaries(); err != nil {
		t.Skipf("no PostgreSQL server binaries: %v", err)
	}
}

// startForTest starts a Fast cluster and stops it when the test ends.
func startForTest(t *testing.T, ctx context.Context, dir string, logw *testLog) *Cluster {
	t.Helper()
	begin := time.Now()
	e, err := Start(ctx, Options{DataDir: dir, Log: logw, Fast: true})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v (port %d, dir %s)", time.Since(begin).Round(time.Millisecond), e.Port, e.DataDir)
	t.Cleanup(func() { _ = e.Stop() })
	return e
}

func assertAtriumDB(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(ctx)
	var one int
	var db string
	if err := conn.QueryRow(ctx, "select 1, current_database()").Scan(&one, &db); err != nil {
		t.Fatalf("select 1: %v", err)
	}
	if one != 1 || db != "atrium" {
		t.Fatalf("got (%d, %q), want (1, \"atrium\")", one, db)
	}
}

func assertPortClosed(t *testing.T, port int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("port %d still accepts connections after Stop", port)
	}
}

func TestEmbeddedStartStop(t *testing.T) {
	requirePostgresBin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	dir := filepath.Join(t.TempDir(), "pg")
	if os.Geteuid() == 0 {
		// t.TempDir's parent is 0700; open it so this test covers the
		// direct path and TestEmbeddedFallbackDir covers the fallback.
		if err := os.Chmod(filepath.Dir(filepath.Dir(dir)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	logw := &testLog{t: t}
	e := startForTest(t, ctx, dir, logw)
	if e.DataDir != dir {
		t.Fatalf("DataDir = %s, want %s (log: %s)", e.DataDir, dir, logw)
	}
	if !strings.Contains(logw.String(), "initializing PostgreSQL cluster in "+dir) {
		t.Errorf("no initializing line in log: %q", logw)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Fatalf("no cluster in %s: %v", dir, err)
	}
	assertAtriumDB(t, ctx, e.URL)

	// A second process on the same cluster must get a clear error, not a hang.
	if _, err := Start(ctx, Options{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Start on a running cluster: err = %v, want \"already running\"", err)
	}

	if err := e.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := e.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	assertPortClosed(t, e.Port)

	// Restarting reuses the cluster (no initdb) and the existing database.
	logw2 := &testLog{t: t}
	e2 := startForTest(t, ctx, dir, logw2)
	if strings.Contains(logw2.String(), "initializing") {
		t.Errorf("restart re-initialized the cluster: %q", logw2)
	}
	assertAtriumDB(t, ctx, e2.URL)
	if err := e2.Stop(); err != nil {
		t.Fatalf("Stop after restart: %v", err)
	}
	assertPortClosed(t, e2.Port)
}

func TestEmbeddedFallbackDir(t *testing.T) {
	requirePostgresBin(t)
	if os.Geteuid() != 0 {
		t.Skip("the fallback only applies when running as root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	private := filepath.Join(t.TempDir(), "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(private, "pg")
	logw := &testLog{t: t}
	e := startForTest(t, ctx, dir, logw)
	t.Cleanup(func() { _ = os.RemoveAll(e.DataDir) }) // runs after Stop

	if e.DataDir == dir || !strings.HasPrefix(e.DataDir, filepath.Join(os.TempDir(), "atrium-postgres-")) {
		t.Fatalf("DataDir = %s, want a fallback under %s", e.DataDir, os.TempDir())
	}
	if !strings.Contains(logw.String(), "not reachable by the postgres user") || !strings.Contains(logw.String(), e.DataDir) {
		t.Errorf("fallback not reported in log: %q", logw)
	}
	assertAtriumDB(t, ctx, e.URL)
	if err := e.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	assertPortClosed(t, e.Port)
}
