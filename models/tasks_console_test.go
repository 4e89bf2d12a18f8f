package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

func startTask(t *testing.T, db bun.IDB, c *models.APICaller, agent uuid.UUID, now time.Time) *models.Task {
	t.Helper()
	task, err := models.StartTask(testdb.Ctx(t), db, c, agent, "job", now)
	if err != nil {
		t.Fatal(err)
	}
	return task
}

func tasksPage(t *testing.T, db bun.IDB, ws uuid.UUID, q models.TasksQuery, now time.Time) *models.TasksPageData {
	t.Helper()
	var p *models.TasksPageData
	err := keyIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) (err error) {
		p, err = models.ReadTasksPage(ctx, tn, q, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestTasksPageRunningFirstWithFiltersAndKeys: running tasks come before finished ones whatever
// their age, each newest first; the status and agent filters narrow; every task names the key
// that started it; the cursor walks the list without gaps or repeats.
func TestTasksPageRunningFirstWithFiltersAndKeys(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	c, tm := meterCaller(t, d.App, models.TierEnterprise, now)
	a1, a2 := meterAgent(t, d.App, c), meterAgent(t, d.App, c)
	var running []uuid.UUID
	for i := range 60 {
		agent := a1
		if i%3 == 0 {
			agent = a2
		}
		task := startTask(t, d.App, c, agent, now.Add(time.Duration(i)*time.Second))
		if i == 5 || i == 30 { // 30 would have failed: five failures
			running = append(running, task.ID)
			continue
		}
		st := "succeeded"
		if i%10 == 0 {
			st = "failed"
		}
		if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, st, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	p := tasksPage(t, d.App, tm.ws.ID, models.TasksQuery{WithAgents: true}, now)
	if len(p.Tasks) != models.TaskPageSize || p.Running != 2 || len(p.Agents) != 2 {
		t.Fatalf("first page: %d tasks, %d running, %d agents", len(p.Tasks), p.Running, len(p.Agents))
	}
	if p.Tasks[0].ID != running[1] || p.Tasks[1].ID != running[0] {
		t.Fatalf("the running tasks are not first, newest first: %v %v", p.Tasks[0].Status, p.Tasks[1].Status)
	}
	if p.Tasks[0].KeyPrefix != c.Prefix || p.Tasks[0].KeyName == "" || p.Tasks[0].AgentName != "worker" {
		t.Fatalf("task's key %q %q, agent %q", p.Tasks[0].KeyName, p.Tasks[0].KeyPrefix, p.Tasks[0].AgentName)
	}
	seen := map[uuid.UUID]bool{}
	for p := p; ; {
		for i, task := range p.Tasks {
			if seen[task.ID] {
				t.Fatalf("task %s listed twice", task.ID)
			}
			seen[task.ID] = true
			if i > 0 && (task.Status == models.TaskRunning) == (p.Tasks[i-1].Status == models.TaskRunning) && task.ID.String() > p.Tasks[i-1].ID.String() {
				t.Fatalf("not newest first at %d", i)
			}
		}
		if p.Next.After == uuid.Nil {
			break
		}
		cur, err := models.ParseTaskCursor(p.Next.String())
		if err != nil || cur != p.Next {
			t.Fatalf("cursor %q does not round-trip: %v", p.Next.String(), err)
		}
		p = tasksPage(t, d.App, tm.ws.ID, models.TasksQuery{Cursor: cur}, now)
	}
	if len(seen) != 60 {
		t.Fatalf("walked %d tasks, want 60", len(seen))
	}
	if p := tasksPage(t, d.App, tm.ws.ID, models.TasksQuery{Status: models.TaskFailed}, now); len(p.Tasks) != 5 {
		t.Fatalf("failed: %d, want 5", len(p.Tasks))
	}
	if p := tasksPage(t, d.App, tm.ws.ID, models.TasksQuery{Status: models.TaskRunning, AgentID: a1}, now); len(p.Tasks) != 1 || p.Tasks[0].ID != running[0] {
		t.Fatalf("running of agent 1: %v", p.Tasks)
	}
	p = tasksPage(t, d.App, tm.ws.ID, models.TasksQuery{AgentID: a2, WithAgent: true}, now)
	if len(p.Tasks) != 20 || p.Agent == nil || p.Agent.ID != a2 || p.Agent.Running != 1 {
		t.Fatalf("agent 2: %d tasks, agent %+v", len(p.Tasks), p.Agent)
	}
	for _, task := range p.Tasks {
		if task.AgentID != a2 {
			t.Fatalf("agent filter let through %s", task.AgentID)
		}
	}
	// Each finished task ran from its start to now+1h: 60 or 61 minutes, counted this month
	// when the hour after now is in now's month; the agent's figure is the sum of its tasks'.
	var want int64
	for _, task := range p.Tasks {
		if task.FinishedAt != nil && !models.MonthStart(*task.FinishedAt).After(models.MonthStart(now)) {
			want += task.AgentMinutes
		}
	}
	if p.Agent.MinutesMonth != want {
		t.Fatalf("agent's minutes this month: %d, want %d", p.Agent.MinutesMonth, want)
	}
	if _, err := models.ParseTaskCursor("not-a-cursor"); err == nil {
		t.Fatal("a made-up cursor was accepted")
	}
}

// TestTaskAndAgentPagesOfAnotherWorkspaceAreNotFound: another workspace's agent and task ids
// read as not found, never as the other workspace's rows.
func TestTaskAndAgentPagesOfAnotherWorkspaceAreNotFound(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	ca, _ := meterCaller(t, d.App, models.TierPro, now)
	cb, tmB := meterCaller(t, d.App, models.TierPro, now)
	agentA := meterAgent(t, d.App, ca)
	meterAgent(t, d.App, cb)
	taskA := startTask(t, d.App, ca, agentA, now)
	err := keyIn(t, d.App, tmB.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		if _, err := models.ReadTaskPage(ctx, tn, taskA.ID, uuid.Nil); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("B reads A's task: %v", err)
		}
		if _, err := models.ReadTasksPage(ctx, tn, models.TasksQuery{AgentID: agentA, WithAgent: true}, now); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("B reads A's agent: %v", err)
		}
		p, err := models.ReadTasksPage(ctx, tn, models.TasksQuery{AgentID: agentA}, now)
		if err != nil || len(p.Tasks) != 0 {
			t.Errorf("B filters by A's agent: %v %d", err, len(p.Tasks))
		}
		if _, err := models.CancelTask(ctx, tn, models.Canceller{UserID: tmB.owner.ID, Role: models.RoleOwner}, taskA.ID, now); !errors.Is(err, models.ErrNotFound) {
			t.Errorf("B cancels A's task: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if p := tasksPage(t, d.App, ca.WorkspaceID, models.TasksQuery{}, now); len(p.Tasks) != 1 || p.Tasks[0].Status != models.TaskRunning {
		t.Fatalf("A's task after B's attempts: %+v", p.Tasks)
	}
}

// TestCancelRacingCompleteCountsMinutesOnce: a cancel and a completion of the same running task
// at the same moment, 50 times: exactly one of them ends the task, its minutes are added to the
// hour once, and a cancel is audited only when it was the one.
func TestCancelRacingCompleteCountsMinutesOnce(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC().Truncate(time.Hour).Add(10 * time.Minute) // the hour's usage row stays the same below
	c, tm := meterCaller(t, d.App, models.TierPro, now)
	agent := meterAgent(t, d.App, c)
	const rounds = 50
	var want int64
	cancels := 0
	for i := range rounds {
		task := startTask(t, d.App, c, agent, now.Add(-time.Duration(i+1)*time.Minute))
		end := now.Add(time.Duration(i) * time.Second)
		var wg sync.WaitGroup
		var cancelled, completed *models.Task
		var cancelErr, completeErr error
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			cancelErr = models.InWorkspace(testdb.Ctx(t), d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
				cancelled, err = models.CancelTask(ctx, tn, models.Canceller{UserID: tm.admin.ID, Role: models.RoleAdmin}, task.ID, end)
				return err
			})
		}()
		go func() {
			defer wg.Done()
			<-start
			completed, completeErr = models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "succeeded", end)
		}()
		close(start)
		wg.Wait()
		if completeErr != nil {
			t.Fatal(completeErr)
		}
		switch {
		case cancelErr == nil:
			if cancelled.Status != models.TaskCancelled || completed.Status != models.TaskCancelled {
				t.Fatalf("round %d: cancel won but the task is %s / %s", i, cancelled.Status, completed.Status)
			}
			cancels++
		case errors.Is(cancelErr, models.ErrConflict):
			if completed.Status != models.TaskSucceeded {
				t.Fatalf("round %d: completion won but the task is %s", i, completed.Status)
			}
		default:
			t.Fatal(cancelErr)
		}
		want += completed.AgentMinutes
	}
	if _, minutes := usageRow(t, d.Owner, tm.ws.ID, now); minutes != want {
		t.Fatalf("usage counts %d minutes, the tasks %d", minutes, want)
	}
	if got := agentRollup(t, d.Owner, tm.ws.ID, agent, now); got != want {
		t.Fatalf("the agent's monthly rollup counts %d minutes, the tasks %d", got, want)
	}
	if p := tasksPage(t, d.App, tm.ws.ID, models.TasksQuery{AgentID: agent, WithAgent: true}, now); p.Agent.MinutesMonth != want {
		t.Fatalf("the agent's page shows %d minutes this month, the tasks %d", p.Agent.MinutesMonth, want)
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "task.cancel"); n != cancels {
		t.Fatalf("%d task.cancel events for %d cancels", n, cancels)
	}
	t.Logf("%d of %d races won by the cancel", cancels, rounds)
}

// TestCancelFreesTheSlotAtOnce: on a tier with one concurrent task, a cancelled task's slot takes
// the next start straight away; cancelling again changes nothing; members and viewers may not.
func TestCancelFreesTheSlotAtOnce(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	c, tm := meterCaller(t, d.App, models.TierFree, now)
	agent := meterAgent(t, d.App, c)
	task := startTask(t, d.App, c, agent, now.Add(-90*time.Second))
	if _, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", now); quotaCode(err) != models.CodeConcurrentTaskLimit {
		t.Fatalf("second start on free: %v", err)
	}
	cancel := func(by models.Canceller) (*models.Task, error) {
		var out *models.Task
		err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
			out, err = models.CancelTask(ctx, tn, by, task.ID, now)
			return err
		})
		return out, err
	}
	for _, u := range []*models.User{tm.mia, tm.viewr} {
		if _, err := cancel(models.Canceller{UserID: u.ID, Role: tm.actor(u).Role}); !errors.Is(err, models.ErrForbidden) {
			t.Fatalf("%s cancels: %v", tm.actor(u).Role, err)
		}
	}
	got, err := cancel(models.Canceller{UserID: tm.owner.ID, Role: models.RoleOwner})
	if err != nil || got.Status != models.TaskCancelled || got.AgentMinutes != 2 {
		t.Fatalf("cancel: %v %+v", err, got)
	}
	if _, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", now); err != nil {
		t.Fatalf("start after the cancel: %v", err)
	}
	if again, err := cancel(models.Canceller{UserID: tm.owner.ID, Role: models.RoleOwner}); err != nil || again.AgentMinutes != 2 {
		t.Fatalf("cancel again: %v %+v", err, again)
	}
	if n := auditCount(t, d.Owner, tm.ws.ID, "task.cancel"); n != 1 {
		t.Fatalf("%d task.cancel events, want 1", n)
	}
	if _, minutes := usageRow(t, d.Owner, tm.ws.ID, now); minutes != 2 {
		t.Fatalf("usage counts %d minutes, want 2", minutes)
	}
	if got := agentRollup(t, d.Owner, tm.ws.ID, agent, now); got != 2 {
		t.Fatalf("the agent's monthly rollup counts %d minutes, want 2", got)
	}
}

// agentRollup reads an agent's row of the monthly minutes rollup for now's month, as the owner.
func agentRollup(t *testing.T, owner *bun.DB, ws, agent uuid.UUID, now time.Time) (minutes int64) {
	t.Helper()
	err := owner.NewRaw("SELECT coalesce(sum(agent_minutes), 0) FROM agent_minutes_monthly WHERE workspace_id = ? AND agent_id = ? AND month = ?",
		ws, agent, models.MonthStart(now)).Scan(context.Background(), &minutes)
	if err != nil {
		t.Fatal(err)
	}
	return minutes
}

// TestAgentMinutesRollupFollowsEveryWrite: inserts of finished tasks, a completion, minutes
// corrected, a finish moved into another month, a task moved to another agent, deletes and an
// agent's deletion keep the per-agent monthly rollup equal to the tasks' sums; another
// workspace's runtime transaction sees none of its rows.
func TestAgentMinutesRollupFollowsEveryWrite(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	c, tm := meterCaller(t, d.App, models.TierEnterprise, now)
	a1, a2 := meterAgent(t, d.App, c), meterAgent(t, d.App, c)
	m := time.Date(2030, 3, 31, 23, 30, 0, 0, time.UTC) // half an hour before a month's end
	check := func(step string) {
		t.Helper()
		var bad []string
		err := d.Owner.NewRaw(`SELECT format('%s %s: rollup %s, tasks %s', k.agent_id, k.month, r.agent_minutes, s.minutes)
			FROM (SELECT agent_id, date_trunc('month', finished_at, 'UTC') AS month FROM tasks WHERE workspace_id = ?0 AND finished_at IS NOT NULL
			      UNION SELECT agent_id, month FROM agent_minutes_monthly WHERE workspace_id = ?0) AS k
			LEFT JOIN agent_minutes_monthly AS r ON r.workspace_id = ?0 AND r.agent_id = k.agent_id AND r.month = k.month
			LEFT JOIN (SELECT agent_id, date_trunc('month', finished_at, 'UTC') AS month, sum(agent_minutes) AS minutes
			           FROM tasks WHERE workspace_id = ?0 AND finished_at IS NOT NULL GROUP BY 1, 2) AS s
			  ON s.agent_id = k.agent_id AND s.month = k.month
			WHERE coalesce(r.agent_minutes, 0) <> coalesce(s.minutes, 0)`, tm.ws.ID).Scan(context.Background(), &bad)
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Fatalf("after %s: %v", step, bad)
		}
	}
	exec := func(step, query string, args ...any) {
		t.Helper()
		if err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := tn.Tx().ExecContext(ctx, query, args...)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		check(step)
	}
	insert := `INSERT INTO tasks (workspace_id, id, agent_id, status, started_at, finished_at, agent_minutes, created_at) VALUES (?0, ?1, ?2, ?3, ?4, ?5, ?6, ?4)`
	t1, t2, t3 := uuid.New(), uuid.New(), uuid.New()
	exec("a finished task inserted", insert, tm.ws.ID, t1, a1, "succeeded", m.Add(-time.Hour), m, 60)
	exec("a running task inserted", insert, tm.ws.ID, t2, a1, "running", m, nil, 0)
	exec("another agent's task", insert, tm.ws.ID, t3, a2, "failed", m, m.Add(10*time.Minute), 10)
	exec("the running task completed", `UPDATE tasks SET status = 'succeeded', finished_at = ?, agent_minutes = 20 WHERE workspace_id = ? AND id = ?`,
		m.Add(20*time.Minute), tm.ws.ID, t2)
	exec("minutes corrected", `UPDATE tasks SET agent_minutes = 15 WHERE workspace_id = ? AND id = ?`, tm.ws.ID, t2)
	exec("a finish moved into the next month", `UPDATE tasks SET finished_at = finished_at + interval '1 hour' WHERE workspace_id = ? AND id = ?`, tm.ws.ID, t2)
	exec("a task moved to another agent", `UPDATE tasks SET agent_id = ? WHERE workspace_id = ? AND id = ?`, a2, tm.ws.ID, t1)
	exec("a finish taken back", `UPDATE tasks SET finished_at = NULL, status = 'running' WHERE workspace_id = ? AND id = ?`, tm.ws.ID, t3)
	exec("a task deleted", `DELETE FROM tasks WHERE workspace_id = ? AND id = ?`, tm.ws.ID, t2)
	exec("an agent deleted", `DELETE FROM agents WHERE workspace_id = ? AND id = ?`, tm.ws.ID, a2)

	// Another workspace's transaction sees no row of this one.
	exec("a task for the wall", insert, tm.ws.ID, uuid.New(), a1, "succeeded", m, m, 5)
	_, other := meterCaller(t, d.App, models.TierEnterprise, now)
	var seen int
	if err := keyIn(t, d.App, other.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		return tn.Tx().QueryRowContext(ctx, "SELECT count(*) FROM agent_minutes_monthly").Scan(&seen)
	}); err != nil || seen != 0 {
		t.Fatalf("another workspace sees %d rollup rows (%v)", seen, err)
	}
}

// lastQuery remembers the last statement a pool sent.
type lastQuery struct {
	mu sync.Mutex
	q  string
}

func (l *lastQuery) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if strings.Contains(e.Query, "jsonb_agg") {
		l.mu.Lock()
		l.q = e.Query
		l.mu.Unlock()
	}
	return ctx
}

func (l *lastQuery) AfterQuery(context.Context, *bun.QueryEvent) {}

// TestTasksPageReadsAPageOfRows: with 20,000 tasks, the task list's first page, a status filter
// of a rare status, an agent's running-first page and a later page each read about a page of rows
// from the indexes (EXPLAIN ANALYZE under row-level security, as the server runs them).
func TestTasksPageReadsAPageOfRows(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t)
	c, tm := meterCaller(t, d.App, models.TierEnterprise, now)
	agents := []uuid.UUID{meterAgent(t, d.App, c), meterAgent(t, d.App, c), meterAgent(t, d.App, c)}
	_, err := d.Owner.ExecContext(context.Background(), `INSERT INTO tasks (workspace_id, id, agent_id, status, input, created_at, started_at, finished_at, agent_minutes)
		SELECT ?, gen_random_uuid(), (ARRAY[?::uuid, ?::uuid, ?::uuid])[n % 3 + 1],
		  CASE WHEN n % 500 = 0 THEN 'running' WHEN n % 1000 = 1 THEN 'cancelled' ELSE 'succeeded' END::task_status, 'x',
		  ?::timestamptz - n * interval '1 minute', ?::timestamptz - n * interval '1 minute',
		  CASE WHEN n % 500 = 0 THEN NULL ELSE ?::timestamptz - n * interval '1 minute' + interval '1 minute' END, 1
		FROM generate_series(1, 20000) AS n`, tm.ws.ID, agents[0], agents[1], agents[2], now, now, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.ExecContext(context.Background(), "ANALYZE tasks"); err != nil {
		t.Fatal(err)
	}
	app, err := d.OpenApp(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	var last lastQuery
	pool := app.WithQueryHook(&last)
	first := tasksPage(t, pool, tm.ws.ID, models.TasksQuery{}, now)
	for _, tc := range []struct {
		name string
		q    models.TasksQuery
	}{
		{"first page", models.TasksQuery{WithAgents: true}},
		{"cancelled", models.TasksQuery{Status: models.TaskCancelled}},
		{"agent's page", models.TasksQuery{AgentID: agents[1], WithAgent: true}},
		{"later page", models.TasksQuery{Cursor: first.Next}},
		{"running", models.TasksQuery{Status: models.TaskRunning}},
	} {
		p := tasksPage(t, pool, tm.ws.ID, tc.q, now)
		if len(p.Tasks) == 0 {
			t.Fatalf("%s: no tasks", tc.name)
		}
		last.mu.Lock()
		q := last.q
		last.mu.Unlock()
		var plan []byte
		err := keyIn(t, pool, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			return tn.Tx().QueryRowContext(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+q).Scan(&plan)
		})
		if err != nil {
			t.Fatal(err)
		}
		read := rowsRead(t, plan)
		// A page is 51 rows; the running count reads the 40 running tasks; the agent's figures
		// read one rollup row and an index entry or two, whatever the day of the month.
		limit := 400
		if read > limit {
			t.Errorf("%s reads %d rows, want at most %d:\n%s", tc.name, read, limit, plan)
		}
		t.Logf("%s: %d rows read", tc.name, read)
	}
}

// rowsRead sums the rows the plan's scans produced or filtered away.
func rowsRead(t *testing.T, plan []byte) int {
	t.Helper()
	var doc []struct{ Plan map[string]any }
	if err := json.Unmarshal(plan, &doc); err != nil {
		t.Fatal(err)
	}
	total := 0
	var walk func(n map[string]any)
	walk = func(n map[string]any) {
		if typ, _ := n["Node Type"].(string); strings.Contains(typ, "Scan") {
			loops, _ := n["Actual Loops"].(float64)
			rows, _ := n["Actual Rows"].(float64)
			removed, _ := n["Rows Removed by Filter"].(float64)
			total += int((rows + removed) * max(loops, 1))
		}
		kids, _ := n["Plans"].([]any)
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok {
				walk(m)
			}
		}
	}
	walk(doc[0].Plan)
	return total
}
