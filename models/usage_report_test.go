package models_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

func TestParseUsageRange(t *testing.T) {
	for in, want := range map[string]int{"7": 7, "30": 30, "90": 90, "": 30, "14": 30, "x": 30, "-7": 30} {
		if got := models.ParseUsageRange(in); got != want {
			t.Errorf("ParseUsageRange(%q) = %d, want %d", in, got, want)
		}
	}
}

// meterTally is what the test itself metered, summed the way the usage page must sum it.
type meterTally struct {
	callsByMonth, minutesByMonth map[time.Time]int64
	callsByDay, minutesByDay     map[time.Time]int64
}

func newTally() *meterTally {
	return &meterTally{map[time.Time]int64{}, map[time.Time]int64{}, map[time.Time]int64{}, map[time.Time]int64{}}
}

func utcDay(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// TestUsageTotalsEqualMeteredEvents meters API calls and task minutes through the real metering
// functions on both sides of a month boundary (some at instants given in a zone far from UTC) and
// checks that the month totals, the current snapshot, the day series, the CSV and the support
// rollup all equal the sum of those events, split by UTC calendar month and day.
func TestUsageTotalsEqualMeteredEvents(t *testing.T) {
	db := testdb.Get(t).App
	ctx := testdb.Ctx(t)
	start := time.Date(2026, 10, 20, 9, 0, 0, 0, time.UTC)
	caller, _ := meterCaller(t, db, models.TierEnterprise, start)
	agent := meterAgent(t, db, caller)
	tally := newTally()
	sydney := time.FixedZone("UTC+10", 10*3600)

	calls := []struct {
		at time.Time
		n  int
	}{
		{time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC), 3},
		// 09:30 on November 1st in UTC+10 is still October 31st in UTC.
		{time.Date(2026, 11, 1, 9, 30, 0, 0, sydney), 2},
		{time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), 5},
		{time.Date(2026, 11, 1, 0, 30, 0, 0, time.UTC), 2},
		{time.Date(2026, 11, 15, 10, 15, 0, 0, time.UTC), 4},
		{time.Date(2026, 11, 30, 23, 59, 59, 999_000_000, time.UTC), 1},
		{time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), 6},
	}
	meter := models.NewMeter(db)
	for _, c := range calls {
		for range c.n {
			if _, err := meter.Admit(ctx, caller, c.at); err != nil {
				t.Fatal(err)
			}
		}
		tally.callsByMonth[models.MonthStart(c.at)] += int64(c.n)
		tally.callsByDay[utcDay(c.at)] += int64(c.n)
	}
	// The process writes its last hour's count when it stops.
	if err := meter.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tasks := []struct {
		start, end time.Time
		minutes    int64
	}{
		{time.Date(2026, 10, 31, 23, 0, 0, 0, time.UTC), time.Date(2026, 10, 31, 23, 45, 0, 0, time.UTC), 45},
		// Minutes count in the hour a task finishes: this one belongs to November.
		{time.Date(2026, 10, 31, 23, 50, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 10, 0, 0, time.UTC), 20},
		{time.Date(2026, 11, 1, 9, 0, 0, 0, sydney), time.Date(2026, 11, 1, 10, 0, 30, 0, sydney), 61},
		{time.Date(2026, 11, 30, 23, 59, 30, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 30, 0, time.UTC), 1},
		{time.Date(2026, 11, 14, 8, 0, 0, 0, time.UTC), time.Date(2026, 11, 14, 10, 0, 0, 1000, time.UTC), 121},
	}
	for _, tk := range tasks {
		task, err := models.StartTask(ctx, db, caller, agent, "job", tk.start)
		if err != nil {
			t.Fatal(err)
		}
		done, err := models.CompleteTask(ctx, db, caller, task.ID, "succeeded", tk.end)
		if err != nil {
			t.Fatal(err)
		}
		if done.AgentMinutes != tk.minutes {
			t.Fatalf("task %s–%s: %d minutes, want %d", tk.start, tk.end, done.AgentMinutes, tk.minutes)
		}
		tally.minutesByMonth[models.MonthStart(tk.end)] += tk.minutes
		tally.minutesByDay[utcDay(tk.end)] += tk.minutes
	}
	oct, nov := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	if tally.callsByMonth[oct] != 5 || tally.minutesByMonth[nov] != 202 {
		t.Fatalf("the fixture is not what the test means: %v %v", tally.callsByMonth, tally.minutesByMonth)
	}

	// The caller's tier has no agent-minute limit, so the completions left their minutes in the
	// hours' slots (usage_minutes_slots): every figure must be the same before and after the
	// retention sweep folds them into the hourly rows and their rollups.
	for _, folded := range []bool{false, true} {
		phase := "slots"
		if folded {
			phase = "folded"
			n, err := models.FoldTaskMinutes(ctx, db, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
			// Two completions in one hour share a slot row when they pick the same slot (1 in 64).
			hours := map[time.Time]bool{}
			for _, tk := range tasks {
				hours[tk.end.UTC().Truncate(time.Hour)] = true
			}
			if n < int64(len(hours)) || n > int64(len(tasks)) {
				t.Fatalf("folded %d slot rows, want one per completion at most and one per completion's hour at least (%d to %d)", n, len(hours), len(tasks))
			}
		}
		t.Run(phase, func(t *testing.T) { checkMeteredTotals(t, db, caller.WorkspaceID, tally, folded) })
	}
}

// checkMeteredTotals is TestUsageTotalsEqualMeteredEvents's checks of what the usage readers say;
// once folded, the monthly rollup alone holds the minutes.
func checkMeteredTotals(t *testing.T, db bun.IDB, ws uuid.UUID, tally *meterTally, folded bool) {
	ctx := testdb.Ctx(t)
	sydney, err := time.LoadLocation("Australia/Sydney")
	if err != nil {
		t.Fatal(err)
	}
	oct, nov, dec := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	err = models.InWorkspace(ctx, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		var slots int64
		if err := tn.Tx().NewRaw("SELECT count(*) FROM usage_minutes_slots WHERE workspace_id = ?", ws).Scan(ctx, &slots); err != nil {
			t.Fatal(err)
		}
		if folded != (slots == 0) {
			t.Errorf("%d slot rows left (folded: %v)", slots, folded)
		}
		for _, month := range []time.Time{oct, nov, dec} {
			t.Run("month "+month.Format("2006-01"), func(t *testing.T) {
				// Any instant of the month will do, in any zone.
				got, err := models.MonthUsage(ctx, tn, month.AddDate(0, 0, 3).In(sydney))
				if err != nil {
					t.Fatal(err)
				}
				if got.Month != month || got.APICalls != tally.callsByMonth[month] || got.AgentMinutes != tally.minutesByMonth[month] {
					t.Errorf("MonthUsage = %+v, want calls %d minutes %d", got, tally.callsByMonth[month], tally.minutesByMonth[month])
				}
				snap, err := models.CurrentUsage(ctx, tn, models.TierEnterprise, month.AddDate(0, 0, 20))
				if err != nil {
					t.Fatal(err)
				}
				if snap.AgentMinutesMonth != tally.minutesByMonth[month] {
					t.Errorf("CurrentUsage minutes = %d, want %d", snap.AgentMinutesMonth, tally.minutesByMonth[month])
				}
				var rollup []models.UsageMonth
				q := tn.Tx().NewSelect().Model(&rollup).Where("month = ?", month)
				if !folded {
					q = q.ModelTableExpr("usage_monthly_total AS um")
				}
				if err := q.Scan(ctx); err != nil {
					t.Fatal(err)
				}
				var rolled int64
				for _, r := range rollup {
					rolled += r.AgentMinutes
				}
				if rolled != tally.minutesByMonth[month] {
					t.Errorf("usage_monthly = %d, want %d", rolled, tally.minutesByMonth[month])
				}
			})
		}
		t.Run("series", func(t *testing.T) {
			now := time.Date(2026, 12, 1, 0, 20, 0, 0, time.UTC)
			s, err := models.UsageOver(ctx, tn, now, 7)
			if err != nil {
				t.Fatal(err)
			}
			if !s.From.Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)) || !s.Until.Equal(time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)) {
				t.Fatalf("range %s – %s", s.From, s.Until)
			}
			if len(s.Daily) != 7 || len(s.Hours) != 6*24+1 {
				t.Fatalf("%d days and %d hours, want 7 and 145", len(s.Daily), len(s.Hours))
			}
			var wantCalls, wantMinutes int64
			for _, d := range s.Daily {
				if d.APICalls != tally.callsByDay[d.Day] || d.AgentMinutes != tally.minutesByDay[d.Day] {
					t.Errorf("%s: calls %d minutes %d, want %d and %d", d.Day.Format("Jan 2"), d.APICalls, d.AgentMinutes,
						tally.callsByDay[d.Day], tally.minutesByDay[d.Day])
				}
				wantCalls += tally.callsByDay[d.Day]
				wantMinutes += tally.minutesByDay[d.Day]
			}
			if s.APICalls != wantCalls || s.AgentMinutes != wantMinutes || wantCalls != 7 || wantMinutes != 1 {
				t.Errorf("range totals %d calls %d minutes, want %d (7) and %d (1)", s.APICalls, s.AgentMinutes, wantCalls, wantMinutes)
			}
			last := s.Daily[len(s.Daily)-1]
			if !last.PeakHour.Equal(dec) || last.PeakCalls != 6 {
				t.Errorf("busiest hour of Dec 1: %s with %d", last.PeakHour, last.PeakCalls)
			}
			var csvCalls, csvMinutes int64
			for i, row := range s.CSVRows() {
				at, err := time.Parse(time.RFC3339, row[0])
				if err != nil || !at.Equal(s.Hours[i].Hour) {
					t.Fatalf("row %d: %v", i, row)
				}
				c, _ := strconv.ParseInt(row[1], 10, 64)
				m, _ := strconv.ParseInt(row[2], 10, 64)
				csvCalls += c
				csvMinutes += m
			}
			if csvCalls != s.APICalls || csvMinutes != s.AgentMinutes {
				t.Errorf("CSV sums %d and %d, want %d and %d", csvCalls, csvMinutes, s.APICalls, s.AgentMinutes)
			}
		})
		t.Run("series over a month boundary", func(t *testing.T) {
			s, err := models.UsageOver(ctx, tn, time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC), 30)
			if err != nil {
				t.Fatal(err)
			}
			octDay, novDay := time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			for _, d := range s.Daily {
				switch d.Day {
				case octDay:
					if d.APICalls != 5 || d.AgentMinutes != 45 {
						t.Errorf("Oct 31: %d calls, %d minutes; want 5 and 45", d.APICalls, d.AgentMinutes)
					}
				case novDay:
					if d.APICalls != 7 || d.AgentMinutes != 81 {
						t.Errorf("Nov 1: %d calls, %d minutes; want 7 and 81", d.APICalls, d.AgentMinutes)
					}
				}
			}
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUsageOverSeesOnlyItsWorkspace: another workspace's use in the same hours is not counted.
func TestUsageOverSeesOnlyItsWorkspace(t *testing.T) {
	db := testdb.Get(t).App
	ctx := testdb.Ctx(t)
	now := time.Date(2026, 6, 10, 15, 30, 0, 0, time.UTC)
	a, b := newFixtureWorkspace(t, db), newFixtureWorkspace(t, db)
	putUsage(t, db, a, now, 10, 3)
	putUsage(t, db, b, now, 1000, 300)
	err := models.InWorkspace(ctx, db, a, func(ctx context.Context, tn *models.Tenant) error {
		s, err := models.UsageOver(ctx, tn, now, 7)
		if err != nil {
			return err
		}
		if s.APICalls != 10 || s.AgentMinutes != 3 {
			t.Errorf("workspace a sees %d calls and %d minutes, want 10 and 3", s.APICalls, s.AgentMinutes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// newFixtureWorkspace makes a workspace with a fresh owner and returns its id.
func newFixtureWorkspace(t *testing.T, db bun.IDB) uuid.UUID {
	t.Helper()
	owner := newUser(t, db)
	slug := "use-" + uuid.NewString()[:8]
	ws, err := models.CreateWorkspace(context.Background(), db, owner, "Usage "+slug, slug, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	return ws.ID
}

// putUsage writes one hour's use directly, as the tests of readers do.
func putUsage(t *testing.T, db bun.IDB, ws uuid.UUID, at time.Time, calls, minutes int64) {
	t.Helper()
	err := models.InWorkspace(testdb.Ctx(t), db, ws, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewInsert().Model(&models.UsageHour{Hour: at.UTC().Truncate(time.Hour), APICalls: calls, AgentMinutes: minutes}).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
