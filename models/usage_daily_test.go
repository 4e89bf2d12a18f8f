package models_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"atrium/models"
	"atrium/models/testdb"
)

// TestUsageDailyRollupFollowsEveryWrite: inserts, upserts, updates and deletes of hourly rows keep
// the daily rollup equal to the hourly rows, day by day: the sums, and the day's busiest hour of
// API calls (the first of equals), which can fall when its hour loses calls or leaves the day.
func TestUsageDailyRollupFollowsEveryWrite(t *testing.T) {
	db := testdb.Get(t).App
	ws := newFixtureWorkspace(t, db)
	h := time.Date(2026, 8, 31, 22, 0, 0, 0, time.UTC)
	check := func(step string) {
		t.Helper()
		var bad []string
		err := testdb.Get(t).Owner.NewRaw(`SELECT format('%s: rollup %s/%s peak %s@%s, hourly %s/%s peak %s@%s', days.d,
				r.api_calls, r.agent_minutes, r.peak_calls, r.peak_hour, h.calls, h.minutes, h.peak_calls, h.peak_hour)
			FROM (SELECT DISTINCT date_trunc('day', hour, 'UTC') AS d FROM usage_hourly WHERE workspace_id = ?0
			      UNION SELECT day FROM usage_daily WHERE workspace_id = ?0) AS days
			LEFT JOIN usage_daily AS r ON r.workspace_id = ?0 AND r.day = days.d
			LEFT JOIN (SELECT date_trunc('day', hour, 'UTC') AS d, sum(api_calls) AS calls, sum(agent_minutes) AS minutes,
			                  coalesce(max(api_calls) FILTER (WHERE api_calls > 0), 0) AS peak_calls,
			                  (array_agg(hour ORDER BY api_calls DESC, hour) FILTER (WHERE api_calls > 0))[1] AS peak_hour
			           FROM usage_hourly WHERE workspace_id = ?0 GROUP BY 1) AS h ON h.d = days.d
			WHERE coalesce(r.api_calls, 0) <> coalesce(h.calls, 0) OR coalesce(r.agent_minutes, 0) <> coalesce(h.minutes, 0)
			   OR coalesce(r.peak_calls, 0) <> coalesce(h.peak_calls, 0) OR r.peak_hour IS DISTINCT FROM h.peak_hour`, ws).
			Scan(context.Background(), &bad)
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Fatalf("after %s: %v", step, bad)
		}
	}
	exec := func(step, query string, args ...any) {
		t.Helper()
		err := models.InWorkspace(testdb.Ctx(t), db, ws, func(ctx context.Context, tn *models.Tenant) error {
			_, err := tn.Tx().ExecContext(ctx, query, args...)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		check(step)
	}
	upsert := `INSERT INTO usage_hourly AS u (workspace_id, hour, api_calls, agent_minutes) VALUES (?, ?, ?, ?)
		ON CONFLICT (workspace_id, hour) DO UPDATE SET api_calls = u.api_calls + EXCLUDED.api_calls, agent_minutes = u.agent_minutes + EXCLUDED.agent_minutes`
	exec("an API call's new hour", `INSERT INTO usage_hourly (workspace_id, hour, api_calls) VALUES (?, ?, 1)`, ws, h)
	exec("minutes added by upsert", upsert, ws, h, 0, 30)
	exec("a busier hour the same day", upsert, ws, h.Add(time.Hour), 4, 0)
	exec("an equal hour earlier the same day", upsert, ws, h.Add(-3*time.Hour), 4, 2)
	exec("minutes in the next day", upsert, ws, h.Add(2*time.Hour), 2, 12)
	exec("API calls counted", `UPDATE usage_hourly SET api_calls = api_calls + 5 WHERE workspace_id = ?`, ws)
	exec("the peak hour loses calls", `UPDATE usage_hourly SET api_calls = 1 WHERE workspace_id = ? AND hour = ?`, ws, h.Add(-3*time.Hour))
	exec("minutes corrected", `UPDATE usage_hourly SET agent_minutes = agent_minutes - 10 WHERE workspace_id = ? AND hour = ?`, ws, h)
	exec("the peak hour moves to the next day", `UPDATE usage_hourly SET hour = hour + interval '5 hours' WHERE workspace_id = ? AND hour = ?`, ws, h.Add(time.Hour))
	exec("the peak hour deleted", `DELETE FROM usage_hourly WHERE workspace_id = ? AND hour = ?`, ws, h.Add(6*time.Hour))
	exec("a quiet hour deleted", `DELETE FROM usage_hourly WHERE workspace_id = ? AND hour = ?`, ws, h)
	exec("all calls gone from a day", `UPDATE usage_hourly SET api_calls = 0 WHERE workspace_id = ?`, ws)

	// The page's reading of the rollup is the hourly series summed by day.
	err := models.InWorkspace(testdb.Ctx(t), db, ws, func(ctx context.Context, tn *models.Tenant) error {
		if _, err := tn.Tx().ExecContext(ctx, upsert, ws, h.Add(-24*time.Hour), 7, 3); err != nil {
			return err
		}
		if _, err := tn.Tx().ExecContext(ctx, upsert, ws, h.Add(-23*time.Hour), 9, 1); err != nil {
			return err
		}
		now := h.Add(3 * time.Hour)
		byHour, err := models.UsageOver(ctx, tn, now, 30)
		if err != nil {
			return err
		}
		byDay, err := models.UsageByDay(ctx, tn, now, 30)
		if err != nil {
			return err
		}
		if byDay.APICalls != byHour.APICalls || byDay.AgentMinutes != byHour.AgentMinutes || byDay.APICalls != 16 {
			return fmt.Errorf("by day %d calls %d minutes, by hour %d and %d", byDay.APICalls, byDay.AgentMinutes, byHour.APICalls, byHour.AgentMinutes)
		}
		if len(byDay.Daily) != len(byHour.Daily) || byDay.Hours != nil {
			return fmt.Errorf("by day %d days (hours %v), by hour %d", len(byDay.Daily), byDay.Hours != nil, len(byHour.Daily))
		}
		for i := range byDay.Daily {
			if byDay.Daily[i] != byHour.Daily[i] {
				return fmt.Errorf("day %d: by day %+v, by hour %+v", i, byDay.Daily[i], byHour.Daily[i])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRunningTaskCountUnderConcurrentStartsAndCompletions: tasks started and completed at once from
// many connections leave the running count the usage snapshot shows (through the partial index)
// equal to a direct count of the running rows.
func TestRunningTaskCountUnderConcurrentStartsAndCompletions(t *testing.T) {
	db := testdb.Get(t).App
	ctx := testdb.Ctx(t)
	ws := newFixtureWorkspace(t, db)
	running := func() (shown, direct int64) {
		t.Helper()
		err := models.InWorkspace(ctx, db, ws, func(ctx context.Context, tn *models.Tenant) error {
			s, err := models.CurrentUsage(ctx, tn, models.TierEnterprise, testdb.Now(t))
			if err != nil {
				return err
			}
			shown = s.RunningTasks
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := testdb.Get(t).Owner.NewRaw("SELECT count(*) FROM tasks WHERE workspace_id = ? AND status::text = 'running'", ws).
			Scan(context.Background(), &direct); err != nil {
			t.Fatal(err)
		}
		return shown, direct
	}
	base, _ := running()
	agent := models.NewID()
	if err := models.InWorkspace(ctx, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewInsert().Model(&models.Agent{CreatedAt: testdb.Clock(), ID: agent, Name: "worker", Status: "active"}).Exec(ctx)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 12
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := models.NewID()
				err := models.InWorkspace(ctx, db, ws, func(ctx context.Context, tn *models.Tenant) error {
					_, err := tn.Tx().ExecContext(ctx, `INSERT INTO tasks (workspace_id, id, agent_id, status, created_at, started_at) VALUES (?0, ?1, ?2, 'running', ?3, ?3)`, ws, id, agent, testdb.Clock())
					return err
				})
				if err == nil && (w+i)%3 != 0 { // two in three finish again
					err = models.InWorkspace(ctx, db, ws, func(ctx context.Context, tn *models.Tenant) error {
						_, err := tn.Tx().ExecContext(ctx, `UPDATE tasks SET status = 'succeeded', finished_at = now() WHERE workspace_id = ? AND id = ?`, ws, id)
						return err
					})
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	shown, direct := running()
	want := base
	for w := range workers {
		for i := range each {
			if (w+i)%3 == 0 {
				want++
			}
		}
	}
	if shown != direct || shown != want {
		t.Fatalf("running tasks shown %d, direct count %d, want %d", shown, direct, want)
	}
}
