package models_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// TestTenantBoundPerTransactionOnSharedServerConnections: two client pools of one connection each
// take turns reading their own workspace. Directly, each client keeps its own server session;
// through pgbouncer (TEST_PGBOUNCER=1) they take turns on the same server connections, which is
// what transaction pooling means, and the test says so. Either way each transaction sees its own
// workspace alone, and a statement outside a workspace's transaction sees nothing and finds no
// binding left behind.
func TestTenantBoundPerTransactionOnSharedServerConnections(t *testing.T) {
	d := testdb.Get(t)
	ctx := testdb.AllowUnscoped(testdb.Ctx(t))
	a, b := newFixture(t, d.App), newFixture(t, d.App)
	open := func() *bun.DB {
		db, err := d.OpenApp(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	poolA, poolB := open(), open()
	pidsA, pidsB := map[int]bool{}, map[int]bool{}
	turn := func(db *bun.DB, own, other uuid.UUID, pids map[int]bool) {
		t.Helper()
		err := models.InWorkspace(ctx, db, own, func(ctx context.Context, tn *models.Tenant) error {
			var seen []uuid.UUID
			if err := tn.Tx().NewRaw("SELECT workspace_id FROM agents").Scan(ctx, &seen); err != nil {
				return err
			}
			if len(seen) == 0 {
				return errors.New("the workspace's own agent is not seen")
			}
			mustNotContain(t, "shared connection", seen, other)
			var pid int
			if err := tn.Tx().NewRaw("SELECT pg_backend_pid()").Scan(ctx, &pid); err != nil {
				return err
			}
			pids[pid] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		var binding sql.NullString
		if err := db.NewRaw("SELECT count(*), current_setting('app.workspace_id', true) FROM agents").Scan(ctx, &n, &binding); err != nil {
			t.Fatal(err)
		}
		if n != 0 || binding.String != "" {
			t.Fatalf("outside a workspace's transaction: %d agents seen, binding %q", n, binding.String)
		}
	}
	for range 20 {
		turn(poolA, a.ws.ID, b.ws.ID, pidsA)
		turn(poolB, b.ws.ID, a.ws.ID, pidsB)
	}
	shared := 0
	for pid := range pidsA {
		if pidsB[pid] {
			shared++
		}
	}
	if d.Pooled {
		if shared == 0 {
			t.Fatalf("through pgbouncer the two clients never shared a server connection (A %v, B %v): the pooler is not in transaction mode", pidsA, pidsB)
		}
		var modes []string
		// The admin console speaks only the simple protocol.
		admin, err := sql.Open("pgx", d.PgbouncerAdminURL+"&default_query_exec_mode=simple_protocol")
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		rows, err := admin.QueryContext(context.Background(), "SHOW POOLS")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			row := map[string]string{}
			for i, c := range cols {
				row[c] = vals[i].String
			}
			if row["database"] == d.Name && row["user"] == models.AppRole {
				modes = append(modes, row["pool_mode"])
			}
		}
		if strings.Join(modes, ",") != "transaction" {
			t.Fatalf("pgbouncer's pools of %s as %s: modes %v, want one in transaction mode", d.Name, models.AppRole, modes)
		}
		t.Logf("through pgbouncer: A ran on %d server connections, B on %d, %d shared", len(pidsA), len(pidsB), shared)
		return
	}
	if len(pidsA) != 1 || len(pidsB) != 1 || shared != 0 {
		t.Fatalf("directly each client keeps its own session: A %v, B %v", pidsA, pidsB)
	}
}

// TestPoolerRefusesSessionState: a pool behind a transaction pooler refuses a per-connection SET
// ROLE, prepares nothing, and its key cache does not listen without a direct address: it says so,
// caches nothing, and a revoked key is refused on the next call.
func TestPoolerRefusesSessionState(t *testing.T) {
	d := testdb.Get(t)
	if _, err := models.Open(context.Background(), models.OpenOptions{URL: d.OwnerURL, SetRole: models.AppRole, Pooler: true}); err == nil || !strings.Contains(err.Error(), "SET ROLE") {
		t.Fatalf("a pooled pool with SET ROLE: %v", err)
	}
	// Directly, the owner stands in for the runtime role's own login (the lookups are functions).
	opt := models.OpenOptions{URL: d.OwnerURL, Pooler: true, MaxConns: 2}
	if d.Pooled {
		opt = d.AppOptions(2)
		opt.ListenURL = ""
	}
	db, err := models.Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if models.PreparesStatements(db) {
		t.Fatal("a pool behind a transaction pooler prepares statements")
	}
	now := testdb.Now(t).UTC()
	tm := newKeyTeam(t, d.App)
	k, token := keyCreate(t, d.App, tm.ws.ID, tm.actor(tm.owner), "read", 0, now)
	kc := models.NewKeyCache(db, nil)
	kc.SetTTL(time.Hour)
	done := make(chan struct{})
	go func() { kc.Listen(testdb.Ctx(t)); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Listen behind a pooler without a direct address did not return")
	}
	if kc.Listening() {
		t.Fatal("the key cache listens through the pooler")
	}
	if _, err := kc.Authenticate(testdb.Ctx(t), token, now); err != nil {
		t.Fatal(err)
	}
	err = keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.RevokeKey(ctx, tn, tm.actor(tm.owner), k.ID, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kc.Authenticate(testdb.Ctx(t), token, now); !errors.Is(err, models.ErrBadKey) {
		t.Fatalf("a revoked key right after the revocation, without a cache: %v", err)
	}
}
