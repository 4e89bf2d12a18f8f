package models_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// slotMinutes reads, as the owner, the slot rows of the workspace's hour and their minutes.
func slotMinutes(t *testing.T, owner *bun.DB, ws uuid.UUID, hour time.Time) (rows, minutes int64) {
	t.Helper()
	err := owner.NewRaw("SELECT count(*), coalesce(sum(agent_minutes), 0) FROM usage_minutes_slots WHERE workspace_id = ? AND hour = ?",
		ws, hour.UTC().Truncate(time.Hour)).Scan(context.Background(), &rows, &minutes)
	if err != nil {
		t.Fatal(err)
	}
	return rows, minutes
}

// rollupMinutes reads, as the owner, the day's and the month's rollup rows of the workspace.
func rollupMinutes(t *testing.T, owner *bun.DB, ws uuid.UUID, at time.Time) (day, month int64) {
	t.Helper()
	at = at.UTC()
	err := owner.NewRaw(`SELECT
		  coalesce((SELECT agent_minutes FROM usage_daily WHERE workspace_id = ?0 AND day = ?1), 0),
		  coalesce((SELECT agent_minutes FROM usage_monthly WHERE workspace_id = ?0 AND month = ?2), 0)`,
		ws, time.Date(at.Year(), at.Month(), at.Day(), 0, 0, 0, 0, time.UTC), models.MonthStart(at)).
		Scan(context.Background(), &day, &month)
	if err != nil {
		t.Fatal(err)
	}
	return day, month
}

// TestConcurrentCompletionsInOneWorkspaceAreExact: on a tier without an agent-minute limit,
// completions racing in one workspace (two for each task) count each task's minutes once, spread
// over the hour's slot rows instead of queueing on the hour's row; every reader (the usage
// snapshot, the series, the month's totals) says the exact total before and after the retention
// sweep folds the slots into the hour and its rollups, and the fold leaves the current hour alone.
func TestConcurrentCompletionsInOneWorkspaceAreExact(t *testing.T) {
	d := testdb.Get(t)
	month := models.MonthStart(testdb.Now(t))
	end := month.AddDate(0, 0, 14).Add(12*time.Hour + 30*time.Minute)
	c, _ := meterCaller(t, d.App, models.TierEnterprise, end)
	agent := meterAgent(t, d.App, c)
	const tasks = 64
	ids := make([]uuid.UUID, tasks)
	var want int64
	for i := range ids {
		took := time.Duration(i%5+1) * time.Minute // 1 to 5 minutes
		task, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", end.Add(-took))
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = task.ID
		want += int64(i%5 + 1)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var counted int64
	for i := range 2 * tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			done, err := models.CompleteTask(testdb.Ctx(t), d.App, c, ids[i%tasks], "succeeded", end)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if i < tasks {
				counted += done.AgentMinutes
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if counted != want {
		t.Fatalf("the completions answered %d minutes, want %d", counted, want)
	}
	rows, inSlots := slotMinutes(t, d.Owner, c.WorkspaceID, end)
	if inSlots != want || rows < 2 {
		t.Fatalf("slots hold %d minutes in %d rows, want %d spread over more than one row", inSlots, rows, want)
	}
	if _, minutes := usageRow(t, d.Owner, c.WorkspaceID, end); minutes != 0 {
		t.Fatalf("the hour's row holds %d minutes before the fold, want 0 (they are in the slots)", minutes)
	}
	readers := func(t *testing.T) {
		t.Helper()
		err := keyIn(t, d.App, c.WorkspaceID, func(ctx context.Context, tn *models.Tenant) error {
			snap, err := models.CurrentUsage(ctx, tn, models.TierEnterprise, end)
			if err != nil {
				return err
			}
			series, err := models.UsageOver(ctx, tn, end, 7)
			if err != nil {
				return err
			}
			totals, err := models.MonthUsage(ctx, tn, end)
			if err != nil {
				return err
			}
			var hourMinutes int64
			for _, h := range series.Hours {
				if h.Hour.Equal(end.Truncate(time.Hour)) {
					hourMinutes += h.AgentMinutes
				}
			}
			if snap.AgentMinutesMonth != want || series.AgentMinutes != want || totals.AgentMinutes != want || hourMinutes != want {
				t.Errorf("month %d, series %d, month totals %d, the hour %d; want %d each",
					snap.AgentMinutesMonth, series.AgentMinutes, totals.AgentMinutes, hourMinutes, want)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	readers(t)
	// The hour is still running at end: the sweep leaves its slots where they are.
	if _, err := models.FoldTaskMinutes(testdb.Ctx(t), d.App, end); err != nil {
		t.Fatal(err)
	}
	if _, inSlots := slotMinutes(t, d.Owner, c.WorkspaceID, end); inSlots != want {
		t.Fatalf("a fold during the hour moved its slots: %d minutes left, want %d", inSlots, want)
	}
	if _, err := models.FoldTaskMinutes(testdb.Ctx(t), d.App, end.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if rows, inSlots := slotMinutes(t, d.Owner, c.WorkspaceID, end); rows != 0 || inSlots != 0 {
		t.Fatalf("after the hour's fold %d slot rows with %d minutes are left", rows, inSlots)
	}
	if _, minutes := usageRow(t, d.Owner, c.WorkspaceID, end); minutes != want {
		t.Fatalf("the hour's row holds %d minutes after the fold, want %d", minutes, want)
	}
	if day, mon := rollupMinutes(t, d.Owner, c.WorkspaceID, end); day != want || mon != want {
		t.Fatalf("rollups after the fold: day %d, month %d; want %d", day, mon, want)
	}
	readers(t)
}

// TestLimitedTierCompletionsCountInTheHour: on a tier with an agent-minute limit a completion adds
// its minutes to the hour's row itself, never to a slot, so the limit's check and its alerts see
// completions in the order they commit.
func TestLimitedTierCompletionsCountInTheHour(t *testing.T) {
	d := testdb.Get(t)
	month := models.MonthStart(testdb.Now(t))
	end := month.AddDate(0, 0, 14).Add(12*time.Hour + 30*time.Minute)
	c, _ := meterCaller(t, d.App, models.TierPro, end)
	agent := meterAgent(t, d.App, c)
	var wg sync.WaitGroup
	for range 10 {
		task, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", end.Add(-3*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "failed", end); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if rows, _ := slotMinutes(t, d.Owner, c.WorkspaceID, end); rows != 0 {
		t.Fatalf("a limited tier's completions made %d slot rows, want none", rows)
	}
	if _, minutes := usageRow(t, d.Owner, c.WorkspaceID, end); minutes != 30 {
		t.Fatalf("the hour's row holds %d minutes, want 30", minutes)
	}
	if day, mon := rollupMinutes(t, d.Owner, c.WorkspaceID, end); day != 30 || mon != 30 {
		t.Fatalf("rollups: day %d, month %d; want 30", day, mon)
	}
}

// TestATierChangeFoldsTheSlots: a workspace that leaves the tier without an agent-minute limit has
// its slots folded into the hours by the tier change, so the limited tier's month check and
// alerts (which read the hourly rows) see those minutes; a completion by a caller that still
// holds the old tier (a key looked up before the change) counts in the hour's row, not a slot.
func TestATierChangeFoldsTheSlots(t *testing.T) {
	d := testdb.Get(t)
	month := models.MonthStart(testdb.Now(t))
	end := month.AddDate(0, 0, 14).Add(12*time.Hour + 30*time.Minute)
	c, tm := meterCaller(t, d.App, models.TierEnterprise, end)
	agent := meterAgent(t, d.App, c)
	first, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", end.Add(-999*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	second, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", end.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if done, err := models.CompleteTask(testdb.Ctx(t), d.App, c, first.ID, "succeeded", end); err != nil || done.AgentMinutes != 999 {
		t.Fatalf("completion: %+v, %v", done, err)
	}
	if _, inSlots := slotMinutes(t, d.Owner, c.WorkspaceID, end); inSlots != 999 {
		t.Fatalf("%d minutes in slots, want 999", inSlots)
	}
	err = keyIn(t, d.App, c.WorkspaceID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.ChangeTier(ctx, tn, tm.actor(tm.owner), models.TierPro, end)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows, _ := slotMinutes(t, d.Owner, c.WorkspaceID, end); rows != 0 {
		t.Fatalf("%d slot rows left after the change to pro, want none", rows)
	}
	if _, minutes := usageRow(t, d.Owner, c.WorkspaceID, end); minutes != 999 {
		t.Fatalf("the hour's row holds %d minutes after the change, want 999", minutes)
	}
	// c still says enterprise, as a key looked up before the change would.
	if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, second.ID, "succeeded", end); err != nil {
		t.Fatal(err)
	}
	if rows, _ := slotMinutes(t, d.Owner, c.WorkspaceID, end); rows != 0 {
		t.Fatalf("a completion with the old tier made %d slot rows on pro, want none", rows)
	}
	if _, minutes := usageRow(t, d.Owner, c.WorkspaceID, end); minutes != 1000 {
		t.Fatalf("the hour's row holds %d minutes, want 1000", minutes)
	}
	if day, mon := rollupMinutes(t, d.Owner, c.WorkspaceID, end); day != 1000 || mon != 1000 {
		t.Fatalf("rollups: day %d, month %d; want 1000", day, mon)
	}
}
