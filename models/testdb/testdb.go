// Package testdb gives each test package its own throwaway PostgreSQL database, migrated, with an
// owner connection and a runtime (atrium_app) connection, and a scope guard on the latter.
//
// The server is TEST_DATABASE_URL when set, else the one on 127.0.0.1:5432 when it answers, else a
// private cluster started from the machine's PostgreSQL binaries for the duration of the run. With
// TEST_PGBOUNCER=1 the runtime connections go through a pgbouncer in transaction pooling mode
// (pgbouncer.go).
package testdb

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"atrium/migrations"
	"atrium/models"
	"atrium/models/pgembed"
)

// DB is one package's test database.
type DB struct {
	Name     string
	OwnerURL string
	Owner    *bun.DB // the migration owner; bypasses nothing but row-level security's owner_read
	App      *bun.DB // the runtime role, as the server uses it
	Guard    *ScopeGuard
	// Pooled is set when the runtime connections go through pgbouncer (TEST_PGBOUNCER=1);
	// PgbouncerAdminURL then reaches pgbouncer's admin console (SHOW POOLS, SHOW STATS).
	Pooled            bool
	PgbouncerAdminURL string
	appURL            string // the runtime role's URL through pgbouncer
}

var current *DB

// Main creates the package's database, runs the tests and drops it. Call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }
func Main(m *testing.M) int {
	ctx := context.Background()
	if os.Getenv("ATRIUM_TEST_LOG") != "1" {
		// Code under test logs through slog's default (cross-tenant reads, for one); keep the
		// test output to the tests' own.
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	}
	base, stop, err := serverURL(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testdb:", err)
		return 1
	}
	defer stop()
	var pb *bouncer
	if PgbouncerEnabled() {
		if pb, err = startPgbouncer(ctx, base); err != nil {
			fmt.Fprintln(os.Stderr, "testdb:", err)
			return 1
		}
		defer pb.close()
	} else if v := os.Getenv("TEST_PGBOUNCER"); v != "" && v != "0" {
		fmt.Fprintf(os.Stderr, "testdb: TEST_PGBOUNCER=%q: use 1 (through pgbouncer) or 0\n", v)
		return 1
	}
	db, drop, err := create(ctx, base, pb)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testdb:", err)
		return 1
	}
	current = db
	code := m.Run()
	if v := db.Guard.Unattributed(); len(v) > 0 {
		fmt.Fprintf(os.Stderr, "testdb: %d statements on tenant tables without a workspace scope:\n  %s\n",
			len(v), strings.Join(v, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	drop()
	return code
}

// Get returns the package's database; Main must have run.
func Get(t testing.TB) *DB {
	t.Helper()
	if current == nil {
		t.Fatal("testdb.Main was not called from TestMain")
	}
	return current
}

// Ctx returns a context whose tenant statements the scope guard reports against t.
func Ctx(t testing.TB) context.Context {
	return context.WithValue(context.Background(), testKey{}, t)
}

// AllowUnscoped returns a context on which the scope guard stays silent: for tests that use the
// query forms the hooks cannot see on purpose, to show the other walls hold.
func AllowUnscoped(ctx context.Context) context.Context {
	return context.WithValue(ctx, allowKey{}, true)
}

type testKey struct{}
type allowKey struct{}

// ScopeGuard is a bun query hook that flags any statement on a tenant table that does not mention
// workspace_id.
type ScopeGuard struct {
	mu           sync.Mutex
	unattributed []string
}

var tenantTable = regexp.MustCompile(`(?i)\b(?:from|join|update|into)\s+"?(workspace_members|invitations|api_keys|agents|tasks|messages|usage_hourly|usage_minutes_slots|audit_events)"?`)

// Unscoped reports whether the statement touches a tenant table without naming workspace_id.
func Unscoped(query string) bool {
	return tenantTable.MatchString(query) && !strings.Contains(query, "workspace_id")
}

// BeforeQuery checks the statement.
func (g *ScopeGuard) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if ctx.Value(allowKey{}) != nil || !Unscoped(e.Query) {
		return ctx
	}
	if t, ok := ctx.Value(testKey{}).(testing.TB); ok {
		t.Errorf("statement on a tenant table without a workspace scope: %s", e.Query)
		return ctx
	}
	g.mu.Lock()
	g.unattributed = append(g.unattributed, e.Query)
	g.mu.Unlock()
	return ctx
}

// AfterQuery does nothing.
func (g *ScopeGuard) AfterQuery(context.Context, *bun.QueryEvent) {}

// Unattributed returns the flagged statements made on contexts without a test.
func (g *ScopeGuard) Unattributed() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.unattributed...)
}

// serverURL finds a PostgreSQL server to make databases on.
func serverURL(ctx context.Context) (string, func(), error) {
	u := os.Getenv("TEST_DATABASE_URL")
	if u != "" && u != "embedded" {
		return u, func() {}, nil
	}
	// TEST_DATABASE_URL=embedded skips the local server, to exercise the embedded cluster.
	if c, err := net.DialTimeout("tcp", "127.0.0.1:5432", 500*time.Millisecond); u == "" && err == nil {
		c.Close()
		u := "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
		if db, err := models.Open(ctx, models.OpenOptions{URL: u, MaxConns: 1}); err == nil {
			db.Close()
			return u, func() {}, nil
		}
	}
	dir, err := os.MkdirTemp("", "atrium-testpg-")
	if err != nil {
		return "", nil, err
	}
	pg, err := pgembed.Start(ctx, pgembed.Options{DataDir: filepath.Join(dir, "data"), Fast: true})
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("no TEST_DATABASE_URL, nothing on 127.0.0.1:5432, and the embedded cluster failed: %w", err)
	}
	return pg.URL, func() { pg.Stop(); os.RemoveAll(dir) }, nil
}

// create makes and migrates a fresh database on the server at base; with pb, the runtime pool
// goes through that pgbouncer.
func create(ctx context.Context, base string, pb *bouncer) (*DB, func(), error) {
	admin, err := models.Open(ctx, models.OpenOptions{URL: base, MaxConns: 2})
	if err != nil {
		return nil, nil, err
	}
	b := make([]byte, 4)
	rand.Read(b)
	pkg := filepath.Base(os.Args[0])
	pkg = strings.TrimSuffix(pkg, ".test")
	pkg = regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(pkg), "_")
	name := fmt.Sprintf("atrium_t_%s_%s", pkg, hex.EncodeToString(b))
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("create database: %w", err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, nil, err
	}
	u.Path = "/" + name
	ownerURL := u.String()
	owner, err := models.Open(ctx, models.OpenOptions{URL: ownerURL, MaxConns: 10})
	if err != nil {
		return nil, nil, err
	}
	if _, err := migrations.Migrate(ctx, owner); err != nil {
		return nil, nil, err
	}
	d := &DB{Name: name, OwnerURL: ownerURL, Owner: owner, Guard: &ScopeGuard{}}
	if pb != nil {
		// The runtime role logs in through the pooler (as in production, APP_DATABASE_URL): a
		// per-connection SET ROLE would be session state. Roles are cluster-wide, so packages
		// running at once may alter it together; a concurrent update is tried again.
		stmt := "ALTER ROLE " + models.AppRole + " LOGIN"
		password := ""
		if pb.password {
			password = testAppPassword
			stmt += " PASSWORD '" + testAppPassword + "'"
		}
		for i := 0; ; i++ {
			if _, err = owner.ExecContext(ctx, stmt); err == nil || i == 20 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("let the runtime role log in through pgbouncer: %w", err)
		}
		d.Pooled = true
		d.appURL = pb.url(models.AppRole, password, name)
		d.PgbouncerAdminURL = pb.url(u.User.Username(), "", "pgbouncer")
	}
	app, err := models.Open(ctx, d.AppOptions(20))
	if err != nil {
		return nil, nil, err
	}
	d.App = app.WithQueryHook(d.Guard)
	drop := func() {
		d.App.Close()
		owner.Close()
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	return d, drop, nil
}

// AppOptions are the options of a runtime pool of maxConns connections on the package's database:
// the owner's URL switched to the runtime role, or with TEST_PGBOUNCER=1 the runtime role's own
// login through pgbouncer (OpenOptions.Pooler), its key notifications listening on a direct
// connection. Tests that open a pool of their own (with a counting dialer, say) start from these.
func (d *DB) AppOptions(maxConns int) models.OpenOptions {
	if d.Pooled {
		return models.OpenOptions{URL: d.appURL, Pooler: true, ListenURL: d.OwnerURL, MaxConns: maxConns}
	}
	return models.OpenOptions{URL: d.OwnerURL, SetRole: models.AppRole, MaxConns: maxConns}
}

// OpenApp opens another runtime pool on the package's database (for tests that need several
// "server processes" or a pool of a chosen size).
func (d *DB) OpenApp(ctx context.Context, maxConns int) (*bun.DB, error) {
	db, err := models.Open(ctx, d.AppOptions(maxConns))
	if err != nil {
		return nil, err
	}
	db = db.WithQueryHook(d.Guard)
	return db, nil
}
