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
		var tc testdb.WireCount
		opt := d.AppOptions(1)
		opt.Dial, opt.NoPrepare = tc.Dial, noPrepare
		db, err := models.Open(ctx, opt)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
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
