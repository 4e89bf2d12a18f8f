package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"atrium/models"
	"atrium/models/testdb"
)

// TestReadPageBindsEachStatement: a page read sees only its workspace's rows, even through a
// statement without a WHERE clause (row-level security is bound for each statement); it is one
// round trip per statement once prepared; the binding does not outlive the statement on the
// pooled connection; a model function that needs a transaction refuses to run in it; and without
// prepared statements it is a transaction that reads the same.
func TestReadPageBindsEachStatement(t *testing.T) {
	d := testdb.Get(t)
	ctx := testdb.Ctx(t)
	now := testdb.Now(t)
	a, b := newFixture(t, d.App), newFixture(t, d.App)
	err := models.InWorkspace(ctx, d.App, b.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for i := range 2 {
			if _, err := tn.Tx().NewInsert().Model(&models.Agent{CreatedAt: testdb.Clock(), ID: models.NewID(), Name: fmt.Sprint("more ", i), Status: "active"}).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, noPrepare := range []bool{false, true} {
		db, tc := countedPool(t, d, noPrepare)
		for i := range 3 {
			for _, c := range []struct {
				ws     uuid.UUID
				agents int64
			}{{a.ws.ID, 1}, {b.ws.ID, 3}} {
				before := tc.RoundTrips.Load()
				err := models.ReadPage(ctx, db, c.ws, func(ctx context.Context, tn *models.Tenant) error {
					u, err := models.CurrentUsage(ctx, tn, models.TierPro, now)
					if err != nil {
						return err
					}
					all, err := models.CountAllRows(ctx, tn, "agents")
					if err != nil {
						return err
					}
					if u.Agents != c.agents || all != c.agents || u.MemberCount != 1 || u.RunningTasks != 1 {
						return fmt.Errorf("agents %d (unscoped %d), members %d, running %d; want %d agents, 1 member, 1 running",
							u.Agents, all, u.MemberCount, u.RunningTasks, c.agents)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("prepare off=%v: %v", noPrepare, err)
				}
				// Two statements, one round trip each; without prepared statements (asked, or behind
				// a transaction pooler) a transaction.
				want := int64(2)
				if !models.PreparesStatements(db) {
					want = 5 // BEGIN, the binding, the two statements, COMMIT
				}
				if n := tc.RoundTrips.Load() - before; i > 0 && n != want {
					t.Errorf("prepare off=%v: a page read of two statements took %d round trips, want %d", noPrepare, n, want)
				}
			}
		}
		var bound string
		if err := db.QueryRowContext(ctx, "SELECT coalesce(current_setting('app.workspace_id', true), '')").Scan(&bound); err != nil || bound != "" {
			t.Errorf("prepare off=%v: after the page read the connection is bound to %q (%v)", noPrepare, bound, err)
		}
		if models.PreparesStatements(db) {
			// The usage statement's plan is reused; the running tasks' count beside it is planned
			// with its argument at every call: its prepared twin, kept for its parameter types,
			// never runs, so no generic plan of it is ever used.
			var usageRuns, runningRuns int64
			err := db.QueryRowContext(ctx, `SELECT
				  coalesce(sum(generic_plans + custom_plans) FILTER (WHERE statement LIKE '%atrium_month_minutes%'), -1),
				  coalesce(sum(generic_plans + custom_plans) FILTER (WHERE statement LIKE 'SELECT count(*) FROM tasks WHERE%running%'), -1)
				FROM pg_prepared_statements`).Scan(&usageRuns, &runningRuns)
			if err != nil || usageRuns < 6 || runningRuns != 0 {
				t.Errorf("prepared runs: the usage statement %d (want 6), the running tasks' count %d (want 0) (%v)", usageRuns, runningRuns, err)
			}
		}
	}
	func() {
		if !models.PreparesStatements(d.App) {
			return // behind a transaction pooler a page read is the workspace's transaction
		}
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "needs InWorkspace") {
				t.Errorf("a bun query in a page read: recovered %v, want a refusal", r)
			}
		}()
		_ = models.ReadPage(ctx, d.App, a.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.UsageOver(ctx, tn, now, 1)
			return err
		})
	}()
	if err := models.ReadPage(ctx, d.App, uuid.Nil, func(context.Context, *models.Tenant) error { return nil }); !errors.Is(err, models.ErrNoWorkspace) {
		t.Errorf("a page read without a workspace: %v", err)
	}
}

// TestSupportReadsAreReadOnlyStatements: support's look at a workspace (readOnlyPage) sends each
// statement with a binding that also makes its implicit transaction read-only, and the support
// table (readAcrossTenantsOnce) its statement with the cross-tenant opening, read-only too: each
// is one round trip with prepared statements and without (as behind a transaction pooler), sees
// what it should (the one workspace; every workspace), refuses a write, and leaves nothing on the
// pooled connection.
func TestSupportReadsAreReadOnlyStatements(t *testing.T) {
	d := testdb.Get(t)
	ctx := testdb.Ctx(t)
	a, b := newFixture(t, d.App), newFixture(t, d.App)
	insert := `WITH x AS (INSERT INTO agents (workspace_id, id, name, status, created_at) VALUES ($1, $2, 'intruder', 'active', $3) RETURNING id)
		SELECT count(*) FROM x`
	for _, noPrepare := range []bool{false, true} {
		db, tc := countedPool(t, d, noPrepare)
		for i := range 3 {
			before := tc.RoundTrips.Load()
			err := models.ReadOnlyPage(ctx, db, a.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
				if !tn.ReadOnly() || tn.WorkspaceID() != a.ws.ID {
					t.Errorf("prepare off=%v: tenant read-only %v, workspace %s", noPrepare, tn.ReadOnly(), tn.WorkspaceID())
				}
				var agents int64
				var ro string
				if err := models.TenantQueryRow(ctx, tn, "SELECT count(*), current_setting('transaction_read_only') FROM agents").Scan(&agents, &ro); err != nil {
					return err
				}
				if agents != 1 || ro != "on" {
					t.Errorf("prepare off=%v: %d agents seen (want A's one), transaction_read_only %q", noPrepare, agents, ro)
				}
				var n int64
				err := models.TenantQueryRow(ctx, tn, insert, a.ws.ID, models.NewID(), testdb.Clock()).Scan(&n)
				if err == nil || !strings.Contains(err.Error(), "read-only") {
					t.Errorf("prepare off=%v: a write in the look's read: %v, want a read-only refusal", noPrepare, err)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("prepare off=%v: %v", noPrepare, err)
			}
			if n := tc.RoundTrips.Load() - before; i > 0 && n != 2 {
				t.Errorf("prepare off=%v: two statements took %d round trips, want 2", noPrepare, n)
			}

			before = tc.RoundTrips.Load()
			var seen int64
			err = models.AcrossTenantsOnce(ctx, db, "SELECT count(DISTINCT workspace_id) FROM agents WHERE workspace_id IN ($1, $2)",
				[]any{a.ws.ID, b.ws.ID}, &seen)
			if err != nil || seen != 2 {
				t.Errorf("prepare off=%v: the cross-tenant statement sees %d of the 2 workspaces (%v)", noPrepare, seen, err)
			}
			if n := tc.RoundTrips.Load() - before; i > 0 && n != 1 {
				t.Errorf("prepare off=%v: the cross-tenant statement took %d round trips, want 1", noPrepare, n)
			}
			var n int64
			err = models.AcrossTenantsOnce(ctx, db, insert, []any{b.ws.ID, models.NewID(), testdb.Clock()}, &n)
			if err == nil || !strings.Contains(err.Error(), "read-only") {
				t.Errorf("prepare off=%v: a write across tenants: %v, want a read-only refusal", noPrepare, err)
			}
		}
		var bound, cross, ro string
		err := db.QueryRowContext(ctx, `SELECT coalesce(current_setting('app.workspace_id', true), ''),
			coalesce(current_setting('app.cross_tenant', true), ''), current_setting('transaction_read_only')`).Scan(&bound, &cross, &ro)
		if err != nil || bound != "" || cross != "" || ro != "off" {
			t.Errorf("prepare off=%v: afterwards the connection is bound to %q, cross-tenant %q, read-only %q (%v)", noPrepare, bound, cross, ro, err)
		}
	}
	if err := models.ReadOnlyPage(ctx, d.App, uuid.Nil, func(context.Context, *models.Tenant) error { return nil }); !errors.Is(err, models.ErrNoWorkspace) {
		t.Errorf("a read-only page read without a workspace: %v", err)
	}
}
