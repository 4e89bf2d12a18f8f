package models_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// tenantModel describes one tenant-owned model for the isolation matrix.
type tenantModel struct {
	table string
	one   func() any // *Model
	many  func() any // *[]Model
}

var tenantModels = []tenantModel{
	{"workspace_members", func() any { return new(models.Member) }, func() any { return new([]models.Member) }},
	{"invitations", func() any { return new(models.Invitation) }, func() any { return new([]models.Invitation) }},
	{"api_keys", func() any { return new(models.APIKey) }, func() any { return new([]models.APIKey) }},
	{"agents", func() any { return new(models.Agent) }, func() any { return new([]models.Agent) }},
	{"tasks", func() any { return new(models.Task) }, func() any { return new([]models.Task) }},
	{"messages", func() any { return new(models.Message) }, func() any { return new([]models.Message) }},
	{"usage_hourly", func() any { return new(models.UsageHour) }, func() any { return new([]models.UsageHour) }},
	{"audit_events", func() any { return new(models.AuditEvent) }, func() any { return new([]models.AuditEvent) }},
}

// fixture is one workspace with one row in every tenant table.
type fixture struct {
	ws     *models.Workspace
	owner  *models.User
	agent  uuid.UUID
	task   uuid.UUID
	rowIDs map[string]uuid.UUID // table → the id column of its row (user_id / hour excluded)
}

var userSeq int

func newUser(t *testing.T, db bun.IDB) *models.User {
	t.Helper()
	userSeq++
	u, err := models.CreateUser(context.Background(), db, models.NewUser{
		Email: fmt.Sprintf("u%d-%s@example.com", userSeq, uuid.NewString()[:8]), Name: "Test User", Password: "correct horse battery",
	}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// newFixture makes a workspace through the runtime role, the way the app does.
func newFixture(t *testing.T, db bun.IDB) *fixture {
	t.Helper()
	ctx := context.Background()
	owner := newUser(t, db)
	slug := "ws-" + uuid.NewString()[:8]
	ws, err := models.CreateWorkspace(ctx, db, owner, "Workspace "+slug, slug, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ws: ws, owner: owner, rowIDs: map[string]uuid.UUID{}}
	err = models.InWorkspace(ctx, db, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		a := &models.Agent{CreatedAt: testdb.Clock(), ID: models.NewID(), Name: "agent of " + slug, Status: "active"}
		now := testdb.Now(t)
		tk := &models.Task{CreatedAt: testdb.Clock(), ID: models.NewID(), AgentID: a.ID, Status: models.TaskRunning, StartedAt: &now}
		msg := &models.Message{CreatedAt: testdb.Clock(), ID: models.NewID(), TaskID: tk.ID, Role: "user", Body: "secret of " + slug}
		key := &models.APIKey{CreatedAt: testdb.Clock(), ID: models.NewID(), Name: "k", Prefix: uuid.NewString()[:8], SecretHash: []byte("h"), Scope: "read"}
		inv := &models.Invitation{CreatedAt: testdb.Clock(), ID: models.NewID(), Email: "invitee@example.com", Role: models.RoleMember,
			TokenHash: uuid.NewString(), ExpiresAt: now.Add(time.Hour)}
		uh := &models.UsageHour{Hour: now.UTC().Truncate(time.Hour), APICalls: 5}
		for _, m := range []any{a, tk, msg, key, inv, uh} {
			if _, err := tn.Tx().NewInsert().Model(m).Exec(ctx); err != nil {
				return fmt.Errorf("insert %T: %w", m, err)
			}
		}
		f.agent, f.task = a.ID, tk.ID
		f.rowIDs["agents"], f.rowIDs["tasks"], f.rowIDs["messages"] = a.ID, tk.ID, msg.ID
		f.rowIDs["api_keys"], f.rowIDs["invitations"] = key.ID, inv.ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// workspacesOf returns the workspace of every element of a *[]Model.
func workspacesOf(slice any) []uuid.UUID {
	v := reflect.ValueOf(slice).Elem()
	out := make([]uuid.UUID, v.Len())
	for i := range out {
		out[i] = v.Index(i).Addr().Interface().(interface{ Workspace() uuid.UUID }).Workspace()
	}
	return out
}

func mustNotContain(t *testing.T, form string, ids []uuid.UUID, b uuid.UUID) {
	t.Helper()
	for _, id := range ids {
		if id == b {
			t.Errorf("%s: saw a row of the other workspace", form)
			return
		}
	}
}

// countAs counts a table's rows of one workspace as the owner sees them (the ground truth).
func countAs(t *testing.T, owner *bun.DB, table string, ws uuid.UUID) int {
	t.Helper()
	var n int
	if err := owner.NewRaw("SELECT count(*) FROM ? WHERE workspace_id = ?", bun.Ident(table), ws).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestHookScopesModelQueries checks wall 1 alone: on the owner connection, which row-level
// security does not restrict, the model hooks must still keep workspace A's queries off B's rows.
func TestHookScopesModelQueries(t *testing.T) {
	d := testdb.Get(t)
	a, b := newFixture(t, d.App), newFixture(t, d.App)
	ctx := models.HookContext(testdb.Ctx(t), a.ws.ID)
	for _, m := range tenantModels {
		t.Run(m.table, func(t *testing.T) {
			rows := m.many()
			if err := d.Owner.NewSelect().Model(rows).Scan(ctx); err != nil {
				t.Fatal(err)
			}
			ids := workspacesOf(rows)
			if len(ids) == 0 {
				t.Fatal("select saw none of A's own rows")
			}
			mustNotContain(t, "select", ids, b.ws.ID)

			res, err := d.Owner.NewUpdate().Model(m.one()).Set("workspace_id = workspace_id").
				Where("?TableAlias.workspace_id = ?", b.ws.ID).Exec(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != 0 {
				t.Errorf("update in A touched %d rows of B", n)
			}
			before := countAs(t, d.Owner, m.table, b.ws.ID)
			if _, err := d.Owner.NewDelete().Model(m.one()).Where("?TableAlias.workspace_id = ?", b.ws.ID).Exec(ctx); err != nil {
				t.Fatal(err)
			}
			if after := countAs(t, d.Owner, m.table, b.ws.ID); after != before {
				t.Errorf("delete in A removed %d rows of B", before-after)
			}
		})
	}
	t.Run("insert naming another workspace", func(t *testing.T) {
		ag := &models.Agent{CreatedAt: testdb.Clock(), Scoped: models.Scoped{WorkspaceID: b.ws.ID}, ID: models.NewID(), Name: "intruder", Status: "active"}
		_, err := d.Owner.NewInsert().Model(ag).Exec(ctx)
		if !errors.Is(err, models.ErrNoWorkspace) {
			t.Fatalf("insert of B's row in A: err = %v, want ErrNoWorkspace", err)
		}
	})
	t.Run("insert is stamped", func(t *testing.T) {
		ag := &models.Agent{CreatedAt: testdb.Clock(), ID: models.NewID(), Name: "stamped", Status: "active"}
		if _, err := d.Owner.NewInsert().Model(ag).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		if ag.WorkspaceID != a.ws.ID {
			t.Fatalf("workspace_id = %s, want A", ag.WorkspaceID)
		}
	})
	t.Run("belongs-to join", func(t *testing.T) {
		var tasks []models.Task
		if err := d.Owner.NewSelect().Model(&tasks).Relation("Agent").Scan(ctx); err != nil {
			t.Fatal(err)
		}
		if len(tasks) == 0 {
			t.Fatal("no tasks")
		}
		for _, tk := range tasks {
			if tk.WorkspaceID != a.ws.ID || tk.Agent == nil || tk.Agent.WorkspaceID != a.ws.ID {
				t.Fatalf("task %s joined across workspaces", tk.ID)
			}
		}
	})
}

// TestRowLevelSecurity checks wall 2 alone: in A's transaction on the runtime role, the query forms
// the hooks cannot see must still see and change nothing of B.
func TestRowLevelSecurity(t *testing.T) {
	d := testdb.Get(t)
	a, b := newFixture(t, d.App), newFixture(t, d.App)
	ctx := testdb.AllowUnscoped(testdb.Ctx(t))
	inA := func(t *testing.T, fn func(ctx context.Context, tn *models.Tenant) error) {
		t.Helper()
		if err := models.InWorkspace(ctx, d.App, a.ws.ID, fn); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range tenantModels {
		t.Run(m.table, func(t *testing.T) {
			wantA := countAs(t, d.Owner, m.table, a.ws.ID)
			bBefore := countAs(t, d.Owner, m.table, b.ws.ID)
			inA(t, func(ctx context.Context, tn *models.Tenant) error {
				n, err := tn.Tx().NewSelect().Model(m.one()).Count(ctx)
				if err != nil {
					return err
				}
				if int(n) != wantA {
					t.Errorf("Count = %d, want A's %d", n, wantA)
				}
				ex, err := tn.Tx().NewSelect().Model(m.one()).Where("?TableAlias.workspace_id = ?", b.ws.ID).Exists(ctx)
				if err != nil {
					return err
				}
				if ex {
					t.Error("Exists found B's rows")
				}
				var ids []uuid.UUID
				if err := tn.Tx().NewSelect().Table(m.table).Column("workspace_id").Scan(ctx, &ids); err != nil {
					return err
				}
				mustNotContain(t, "Table()", ids, b.ws.ID)
				ids = nil
				if err := tn.Tx().NewRaw("SELECT workspace_id FROM ?", bun.Ident(m.table)).Scan(ctx, &ids); err != nil {
					return err
				}
				mustNotContain(t, "NewRaw", ids, b.ws.ID)
				if len(ids) != wantA {
					t.Errorf("NewRaw saw %d rows, want %d", len(ids), wantA)
				}
				rows, err := tn.Tx().NewSelect().Table(m.table).Column("workspace_id").Rows(ctx)
				if err != nil {
					return err
				}
				for rows.Next() {
					var id uuid.UUID
					if err := rows.Scan(&id); err != nil {
						return err
					}
					mustNotContain(t, "Rows", []uuid.UUID{id}, b.ws.ID)
				}
				rows.Close()
				// Top-level WhereOr defeats the hook's AND; the policy still holds.
				many := m.many()
				if err := tn.Tx().NewSelect().Model(many).Where("false").WhereOr("true").Scan(ctx); err != nil {
					return err
				}
				mustNotContain(t, "WhereOr", workspacesOf(many), b.ws.ID)
				if m.table == "audit_events" {
					return nil // append-only: the runtime role may not update or delete at all (below)
				}
				res, err := tn.Tx().NewRaw("UPDATE ? SET workspace_id = workspace_id WHERE workspace_id = ?", bun.Ident(m.table), b.ws.ID).Exec(ctx)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n != 0 {
					t.Errorf("raw UPDATE changed %d rows of B", n)
				}
				res, err = tn.Tx().NewRaw("DELETE FROM ? WHERE workspace_id = ?", bun.Ident(m.table), b.ws.ID).Exec(ctx)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n != 0 {
					t.Errorf("raw DELETE removed %d rows of B", n)
				}
				return nil
			})
			if got := countAs(t, d.Owner, m.table, b.ws.ID); got != bBefore {
				t.Errorf("B's rows went from %d to %d", bBefore, got)
			}
		})
	}
	t.Run("audit log is append-only", func(t *testing.T) {
		for _, stmt := range []string{"UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"} {
			err := models.InWorkspace(ctx, d.App, a.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
				_, err := tn.Tx().NewRaw(stmt).Exec(ctx)
				return err
			})
			if err == nil {
				t.Errorf("%s succeeded for the runtime role", stmt)
			}
		}
	})
	t.Run("subquery", func(t *testing.T) {
		inA(t, func(ctx context.Context, tn *models.Tenant) error {
			var ids []uuid.UUID
			sub := tn.Tx().NewSelect().Table("tasks").Column("agent_id")
			err := tn.Tx().NewSelect().Table("agents").Column("workspace_id").Where("id IN (?)", sub).Scan(ctx, &ids)
			mustNotContain(t, "subquery", ids, b.ws.ID)
			return err
		})
	})
	t.Run("upsert on conflict do update", func(t *testing.T) {
		err := models.InWorkspace(ctx, d.App, a.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := tn.Tx().NewRaw(`INSERT INTO agents (workspace_id, id, name, status, created_at) VALUES (?, ?, 'hijacked', 'x', ?)
				ON CONFLICT (workspace_id, id) DO UPDATE SET name = EXCLUDED.name`, b.ws.ID, b.agent, testdb.Clock()).Exec(ctx)
			return err
		})
		if err == nil {
			t.Error("upsert naming B's row succeeded")
		}
		var name string
		if err := d.Owner.NewRaw("SELECT name FROM agents WHERE workspace_id = ? AND id = ?", b.ws.ID, b.agent).Scan(context.Background(), &name); err != nil {
			t.Fatal(err)
		}
		if name == "hijacked" {
			t.Fatal("B's agent was overwritten through an upsert")
		}
	})
	t.Run("raw insert into another workspace", func(t *testing.T) {
		err := models.InWorkspace(ctx, d.App, a.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := tn.Tx().NewRaw("INSERT INTO agents (workspace_id, id, name, created_at) VALUES (?, ?, 'x', ?)", b.ws.ID, models.NewID(), testdb.Clock()).Exec(ctx)
			return err
		})
		if err == nil {
			t.Fatal("raw insert into B from A succeeded")
		}
	})
	t.Run("workspace row", func(t *testing.T) {
		inA(t, func(ctx context.Context, tn *models.Tenant) error {
			var slugs []string
			if err := tn.Tx().NewRaw("SELECT slug FROM workspaces").Scan(ctx, &slugs); err != nil {
				return err
			}
			if len(slugs) != 1 || slugs[0] != a.ws.Slug {
				t.Errorf("workspaces visible in A: %v", slugs)
			}
			return nil
		})
	})
}

// TestNoWorkspaceFailsClosed: a model query with no workspace errors, and the database shows an
// unbound connection nothing.
func TestNoWorkspaceFailsClosed(t *testing.T) {
	d := testdb.Get(t)
	newFixture(t, d.App)
	ctx := testdb.Ctx(t)
	for _, m := range tenantModels {
		t.Run(m.table, func(t *testing.T) {
			if err := d.App.NewSelect().Model(m.many()).Scan(ctx); !errors.Is(err, models.ErrNoWorkspace) {
				t.Errorf("select: err = %v, want ErrNoWorkspace", err)
			}
			if _, err := d.App.NewDelete().Model(m.one()).Where("true").Exec(ctx); !errors.Is(err, models.ErrNoWorkspace) {
				t.Errorf("delete: err = %v, want ErrNoWorkspace", err)
			}
			var n int
			if err := d.App.NewRaw("SELECT count(*) FROM ?", bun.Ident(m.table)).Scan(testdb.AllowUnscoped(ctx), &n); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Errorf("unbound connection saw %d rows", n)
			}
		})
	}
	if _, err := d.App.NewInsert().Model(&models.Agent{CreatedAt: testdb.Clock(), ID: models.NewID(), Name: "x"}).Exec(ctx); !errors.Is(err, models.ErrNoWorkspace) {
		t.Errorf("insert: err = %v, want ErrNoWorkspace", err)
	}
}

// TestPooledConnectionDoesNotLeak: one connection used for A, then unbound, then for B.
func TestPooledConnectionDoesNotLeak(t *testing.T) {
	d := testdb.Get(t)
	a, b := newFixture(t, d.App), newFixture(t, d.App)
	one, err := d.OpenApp(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	ctx := testdb.AllowUnscoped(testdb.Ctx(t))
	if err := models.InWorkspace(ctx, one, a.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		var agents []models.Agent
		return tn.Tx().NewSelect().Model(&agents).Scan(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := one.NewRaw("SELECT count(*) FROM agents").Scan(ctx, &n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("after A's transaction the pooled connection still sees %d agents", n)
	}
	if err := models.InWorkspace(ctx, one, b.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		var ids []uuid.UUID
		if err := tn.Tx().NewRaw("SELECT workspace_id FROM agents").Scan(ctx, &ids); err != nil {
			return err
		}
		mustNotContain(t, "pooled B", ids, a.ws.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestCatalogEveryTenantTableHasForcedRLS walks the catalog: any table with a workspace_id column
// must have row-level security enabled and forced and a policy with USING and WITH CHECK.
func TestCatalogEveryTenantTableHasForcedRLS(t *testing.T) {
	d := testdb.Get(t)
	var rows []struct {
		Table   string `bun:"table_name"`
		Enabled bool   `bun:"enabled"`
		Forced  bool   `bun:"forced"`
		Guarded bool   `bun:"guarded"`
	}
	err := d.Owner.NewRaw(`
		SELECT c.relname AS table_name, c.relrowsecurity AS enabled, c.relforcerowsecurity AS forced,
		       EXISTS (SELECT 1 FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname
		               AND p.cmd = 'ALL' AND p.qual LIKE '%workspace_id%' AND p.with_check LIKE '%workspace_id%') AS guarded
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r'
		  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'workspace_id' AND NOT a.attisdropped)
		ORDER BY 1`).Scan(context.Background(), &rows)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < len(tenantModels) {
		t.Fatalf("found %d tenant tables, want at least %d", len(rows), len(tenantModels))
	}
	for _, r := range rows {
		if !r.Enabled || !r.Forced || !r.Guarded {
			t.Errorf("%s: rls enabled=%v forced=%v tenant policy=%v", r.Table, r.Enabled, r.Forced, r.Guarded)
		}
	}
	var role struct {
		Super, Bypass bool
	}
	if err := d.Owner.NewRaw("SELECT rolsuper AS super, rolbypassrls AS bypass FROM pg_roles WHERE rolname = ?", models.AppRole).Scan(context.Background(), &role.Super, &role.Bypass); err != nil {
		t.Fatal(err)
	}
	if role.Super || role.Bypass {
		t.Fatalf("runtime role: superuser=%v bypassrls=%v", role.Super, role.Bypass)
	}
}

// TestScopeGuard checks the test-only hook's own judgement.
func TestScopeGuard(t *testing.T) {
	cases := map[string]bool{
		`SELECT "a"."id" FROM "agents" AS "a"`:                                true,
		`SELECT "a"."id" FROM "agents" AS "a" WHERE "a"."workspace_id" = '1'`: false,
		`UPDATE tasks SET status = 'x'`:                                       true,
		`SELECT 1`:                                                            false,
		`SELECT * FROM users`:                                                 false,
	}
	for q, want := range cases {
		if got := testdb.Unscoped(q); got != want {
			t.Errorf("Unscoped(%q) = %v, want %v", q, got, want)
		}
	}
}
