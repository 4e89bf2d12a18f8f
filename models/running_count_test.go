package models_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// tasksEntriesRead is what this transaction has read of tasks so far: the entries its index scans
// returned from every index of tasks and the rows its sequential scans read (the backend's own
// counters, not yet sent to the statistics, so exact within the transaction).
func tasksEntriesRead(ctx context.Context, t *testing.T, tx bun.Tx) int64 {
	t.Helper()
	var n int64
	err := tx.QueryRowContext(ctx, `SELECT coalesce(sum(pg_stat_get_xact_tuples_returned(c.oid)), 0)::bigint FROM pg_class c
		WHERE c.oid = 'tasks'::regclass OR c.oid IN (SELECT i.indexrelid FROM pg_index i WHERE i.indrelid = 'tasks'::regclass)`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStartTaskCountsTheRunningTasksOnlyUnderAGenericPlan: among 2,000 small workspaces (10
// finished tasks each), a workspace on a tier with a concurrent-task limit and its concurrency
// alerts on has run 20,000 tasks, all finished, and has 2 running; after VACUUM ANALYZE the
// running tasks' partial indexes have many emptied pages and few entries, so a generic plan of
// `workspace_id = $1 AND status = 'running'`, made for an average workspace of 10 tasks, prefers a
// full index with a filter, and for this workspace reads every task. A start counts the running
// tasks twice (its limit check in atrium_start_task, the alert's in atrium_quota_use_alert),
// inside PL/pgSQL, whose statements get cached generic plans after five calls; under
// force_generic_plan, which PL/pgSQL obeys, a start still reads about as many entries of tasks as
// there are running tasks.
func TestStartTaskCountsTheRunningTasksOnlyUnderAGenericPlan(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, tm := meterCaller(t, d.App, models.TierStarter, now) // 5 slots
	alertsOn(t, d.App, tm, models.LimitConcurrentTasks, "80", models.RecipientsOwners, "", now)
	agent := meterAgent(t, d.App, c)
	// Two tasks running, started as the server starts them (before the churn, so that whichever
	// vacuum removes the finished tasks' entries counts these two).
	for i := 0; i < 2; i++ {
		if _, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "now", now); err != nil {
			t.Fatal(err)
		}
	}
	// The many small workspaces a generic plan is made for, each bound in turn. The package's
	// other tests measure plans over tasks too: the test leaves the table as it found it, its rows
	// deleted and the indexes the churn emptied rebuilt.
	slugs := "rc-" + uuid.NewString()[:8] + "-"
	t.Cleanup(func() {
		ctx := context.Background()
		for _, q := range []string{fmt.Sprintf(`DO $$
			DECLARE
			  w uuid;
			BEGIN
			  FOR w IN SELECT s.id FROM workspaces s WHERE s.slug LIKE %s OR s.id = %s LOOP
			    PERFORM set_config('app.workspace_id', w::text, true);
			    DELETE FROM workspaces WHERE id = w;
			  END LOOP;
			END $$`, pgQuote(slugs+"%"), pgQuote(c.WorkspaceID.String())), "VACUUM tasks", "REINDEX TABLE tasks", "ANALYZE tasks"} {
			if _, err := d.Owner.ExecContext(ctx, q); err != nil {
				t.Errorf("clean up: %v", err)
			}
		}
	})
	_, err := d.Owner.ExecContext(context.Background(), fmt.Sprintf(`DO $$
		DECLARE
		  w uuid;
		  a uuid;
		  at timestamptz := %s;
		BEGIN
		  FOR i IN 1..2000 LOOP
		    w := gen_random_uuid();
		    a := gen_random_uuid();
		    PERFORM set_config('app.workspace_id', w::text, true);
		    INSERT INTO workspaces (id, name, slug, created_at) VALUES (w, 'Small ' || i, %s || i, at);
		    INSERT INTO agents (workspace_id, id, name, created_at) VALUES (w, a, 'agent', at);
		    INSERT INTO tasks (workspace_id, id, agent_id, status, input, created_at, started_at, finished_at)
		      SELECT w, gen_random_uuid(), a, 'succeeded', 'x', at - n * interval '1 hour', at - n * interval '1 hour',
		        at - n * interval '1 hour' + interval '1 minute'
		      FROM generate_series(1, 10) AS n;
		  END LOOP;
		END $$`, pgQuote(now.Format(time.RFC3339Nano)), pgQuote(slugs)))
	if err != nil {
		t.Fatal(err)
	}
	// The workspace's history: 20,000 tasks that ran and finished.
	const churned = 20_000
	err = keyIn(t, d.App, c.WorkspaceID, func(ctx context.Context, tn *models.Tenant) error {
		if _, err := tn.Tx().ExecContext(ctx, `INSERT INTO tasks (workspace_id, id, agent_id, status, input, created_at, started_at)
			SELECT ?, gen_random_uuid(), ?, 'running', 'churn', ?::timestamptz - n * interval '1 minute', ?::timestamptz - n * interval '1 minute'
			FROM generate_series(1, ?) AS n`, c.WorkspaceID, agent, now, now, churned); err != nil {
			return err
		}
		_, err := tn.Tx().ExecContext(ctx, "UPDATE tasks SET status = 'succeeded' WHERE workspace_id = ? AND status = 'running' AND input = 'churn'", c.WorkspaceID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.ExecContext(context.Background(), "VACUUM ANALYZE tasks"); err != nil {
		t.Fatal(err)
	}
	var bare, start int64
	var took time.Duration
	err = keyIn(t, d.App, c.WorkspaceID, func(ctx context.Context, tn *models.Tenant) error {
		tx := tn.Tx()
		if _, err := tx.ExecContext(ctx, "SET LOCAL plan_cache_mode = force_generic_plan"); err != nil {
			return err
		}
		// The count as a statement of its own, under its generic plan: what the setup makes of
		// a cached plan (the premise, logged).
		if _, err := tx.ExecContext(ctx, "PREPARE running_count_generic (uuid) AS SELECT count(*) FROM tasks k WHERE k.workspace_id = $1 AND k.status = 'running'"); err != nil {
			return err
		}
		before := tasksEntriesRead(ctx, t, tx)
		var n int64
		if err := tx.QueryRowContext(ctx, "EXECUTE running_count_generic ("+pgQuote(c.WorkspaceID.String())+")").Scan(&n); err != nil {
			return err
		}
		bare = tasksEntriesRead(ctx, t, tx) - before
		if _, err := tx.ExecContext(ctx, "DEALLOCATE running_count_generic"); err != nil {
			return err
		}
		if n != 2 {
			t.Errorf("%d tasks running, want 2", n)
		}
		before = tasksEntriesRead(ctx, t, tx)
		began := time.Now()
		if _, err := models.StartTask(ctx, tx, c, agent, "generic", now); err != nil {
			return err
		}
		took = time.Since(began)
		start = tasksEntriesRead(ctx, t, tx) - before
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("under generic plans, with %d tasks in the workspace and 2 running: the bare count read %d entries of tasks, a start %d (in %s)",
		churned+2, bare, start, took.Round(10*time.Microsecond))
	if bare < churned {
		t.Logf("the bare count's generic plan read the running tasks only: this run does not show the plan that reads every task")
	}
	// Two counts of the two running tasks read four entries; a scan of the workspace's tasks
	// reads 20,002 per count.
	if start > 50 {
		t.Errorf("a start under generic plans read %d entries of tasks, want about 4 (2 running tasks, counted twice)", start)
	}
}

// pgQuote quotes s as an SQL string literal.
func pgQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
