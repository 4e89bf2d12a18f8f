package models_test

import (
	"context"
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

// meterCaller makes a workspace on tier with a read_write key and returns the authenticated key.
func meterCaller(t *testing.T, db bun.IDB, tier models.Tier, now time.Time) (*models.APICaller, *keyTeam) {
	t.Helper()
	tm := newKeyTeam(t, db)
	err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewUpdate().Model(tm.ws).Set("tier = ?", tier).WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, token := keyCreate(t, db, tm.ws.ID, tm.actor(tm.owner), "read_write", 0, now)
	c, err := models.AuthenticateKey(testdb.Ctx(t), db, token, now)
	if err != nil {
		t.Fatal(err)
	}
	return c, tm
}

// meterAgent adds an agent to the caller's workspace.
func meterAgent(t *testing.T, db bun.IDB, c *models.APICaller) uuid.UUID {
	t.Helper()
	var a *models.Agent
	err := keyIn(t, db, c.WorkspaceID, func(ctx context.Context, tn *models.Tenant) (err error) {
		a, err = models.CreateAgent(ctx, tn, c, "worker", testdb.Clock())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// usageRow reads the (workspace, hour) row as the owner sees it.
func usageRow(t *testing.T, owner *bun.DB, ws uuid.UUID, hour time.Time) (calls, minutes int64) {
	t.Helper()
	err := owner.NewRaw("SELECT coalesce(sum(api_calls), 0), coalesce(sum(agent_minutes), 0) FROM usage_hourly WHERE workspace_id = ? AND hour = ?",
		ws, hour.UTC().Truncate(time.Hour)).Scan(context.Background(), &calls, &minutes)
	if err != nil {
		t.Fatal(err)
	}
	return calls, minutes
}

func auditCount(t *testing.T, owner *bun.DB, ws uuid.UUID, action string) int {
	t.Helper()
	var n int
	err := owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action = ?", ws, action).Scan(context.Background(), &n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func quotaCode(err error) string {
	var qe *models.QuotaError
	if errors.As(err, &qe) {
		return qe.Code
	}
	return ""
}

// TestMeterIsExactUnderConcurrency: two processes (two pools, two meters) lease from the same
// hour; 300 concurrent calls against a limit of 100 give exactly 100 admissions.
func TestMeterIsExactUnderConcurrency(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, _ := meterCaller(t, d.App, models.TierFree, now)
	other, _ := meterCaller(t, d.App, models.TierFree, now)
	second, err := d.OpenApp(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	meters := []*models.Meter{models.NewMeter(d.App), models.NewMeter(second)}
	var mu sync.Mutex
	allowed, refused := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			w, err := meters[i%2].Admit(testdb.Ctx(t), c, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				allowed++
				if rem, _ := w.Remaining(); rem < 0 || rem > 99 {
					t.Errorf("remaining %d", rem)
				}
			case quotaCode(err) == models.CodeRateLimited:
				refused++
				if rem, _ := w.Remaining(); rem != 0 {
					t.Errorf("a refusal says %d remaining", rem)
				}
			default:
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if allowed != 100 || refused != 200 {
		t.Fatalf("allowed %d, refused %d; want exactly 100 and 200", allowed, refused)
	}
	if calls, _ := usageRow(t, d.Owner, c.WorkspaceID, now); calls != 100 {
		t.Fatalf("usage_hourly.api_calls = %d, want 100", calls)
	}
	if n := auditCount(t, d.Owner, c.WorkspaceID, "api.rate_limited"); n != 1 {
		t.Errorf("%d rate-limit audit events, want 1 per hour", n)
	}
	// Another workspace is not limited by the first one's flood.
	if _, err := meters[0].Admit(testdb.Ctx(t), other, now); err != nil {
		t.Fatalf("other workspace: %v", err)
	}
	// The next hour starts again.
	if _, err := meters[1].Admit(testdb.Ctx(t), c, now.Add(time.Hour)); err != nil {
		t.Fatalf("next hour: %v", err)
	}
	if n := auditCount(t, d.Owner, c.WorkspaceID, "api.rate_limited"); n != 1 {
		t.Errorf("%d rate-limit audit events after the hour turned", n)
	}
}

func TestMeterUnlimited(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, _ := meterCaller(t, d.App, models.TierEnterprise, now)
	meter := models.NewMeter(d.App)
	for i := 0; i < 3; i++ {
		w, err := meter.Admit(testdb.Ctx(t), c, now)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := w.Remaining(); ok || w.Used != int64(i+1) {
			t.Fatalf("window %+v", w)
		}
	}
	if err := meter.Close(testdb.Ctx(t)); err != nil {
		t.Fatal(err)
	}
	if calls, _ := usageRow(t, d.Owner, c.WorkspaceID, now); calls != 3 {
		t.Fatalf("an unlimited tier still counts its calls: %d", calls)
	}
}

func TestLastUsedAtIsWrittenAtMostOnceAMinute(t *testing.T) {
	d := testdb.Get(t)
	start := testdb.Now(t).UTC().Truncate(time.Second)
	c, _ := meterCaller(t, d.App, models.TierEnterprise, start)
	meter := models.NewMeter(d.App)
	lastUsed := func() time.Time {
		var at time.Time
		if err := d.Owner.NewRaw("SELECT last_used_at FROM api_keys WHERE workspace_id = ? AND id = ?", c.WorkspaceID, c.KeyID).
			Scan(context.Background(), &at); err != nil {
			t.Fatal(err)
		}
		return at
	}
	var prefix string
	if err := d.Owner.NewRaw("SELECT prefix FROM api_keys WHERE workspace_id = ? AND id = ?", c.WorkspaceID, c.KeyID).
		Scan(context.Background(), &prefix); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after time.Duration
		want  time.Duration
	}{
		{0, 0},
		{30 * time.Second, 0},
		{59 * time.Second, 0},
		{61 * time.Second, 61 * time.Second},
		{90 * time.Second, 61 * time.Second},
	} {
		at := start.Add(tc.after)
		// The caller is what this request's lookup saw.
		var seen *time.Time
		if err := d.Owner.NewRaw("SELECT last_used_at FROM api_keys WHERE workspace_id = ? AND id = ?", c.WorkspaceID, c.KeyID).
			Scan(context.Background(), &seen); err != nil {
			t.Fatal(err)
		}
		cc := *c
		cc.LastUsedAt = seen
		if _, err := meter.Admit(testdb.Ctx(t), &cc, at); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(start.Add(tc.want)) {
			t.Errorf("after a call at +%s: last_used_at = +%s, want +%s", tc.after, got.Sub(start), tc.want)
		}
	}
}

func TestStartTaskFillsExactlyTheConcurrencySlots(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, _ := meterCaller(t, d.App, models.TierPro, now)
	agent := meterAgent(t, d.App, c)
	var mu sync.Mutex
	started, refused := 0, 0
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "go", now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				started++
			case quotaCode(err) == models.CodeConcurrentTaskLimit:
				refused++
				if !strings.Contains(err.Error(), "20") {
					t.Errorf("message %q does not say the limit", err)
				}
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var running int
	if err := d.Owner.NewRaw("SELECT count(*) FROM tasks WHERE workspace_id = ? AND status = 'running'", c.WorkspaceID).
		Scan(context.Background(), &running); err != nil {
		t.Fatal(err)
	}
	if started != 20 || refused != 30 || running != 20 {
		t.Fatalf("started %d, refused %d, running %d; want 20, 30, 20", started, refused, running)
	}
	if n := auditCount(t, d.Owner, c.WorkspaceID, "task.concurrent_limit"); n != 1 {
		t.Errorf("%d concurrency audit events, want 1", n)
	}
}

func TestStartTaskRefusedWhenTheMonthsMinutesAreUsed(t *testing.T) {
	d := testdb.Get(t)
	month := models.MonthStart(testdb.Now(t))
	now := month.AddDate(0, 0, 14).Add(12*time.Hour + 30*time.Minute)
	c, _ := meterCaller(t, d.App, models.TierFree, now)
	agent := meterAgent(t, d.App, c)
	add := func(at time.Time, minutes int64) {
		_, err := d.Owner.ExecContext(context.Background(),
			"INSERT INTO usage_hourly (workspace_id, hour, agent_minutes) VALUES (?, ?, ?)", c.WorkspaceID, at.Truncate(time.Hour), minutes)
		if err != nil {
			t.Fatal(err)
		}
	}
	add(month.Add(-time.Hour), 5_000) // last month does not count
	add(month, 600)
	add(month.AddDate(0, 0, 13).Add(9*time.Hour), 399)
	if _, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", now); err != nil {
		t.Fatalf("999 of 1,000 minutes used: %v", err)
	}
	add(month.AddDate(0, 0, 14).Add(8*time.Hour), 1)
	_, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", now)
	if quotaCode(err) != models.CodeQuotaExceeded || !strings.Contains(err.Error(), "Upgrade") {
		t.Fatalf("1,000 of 1,000 minutes used: %v, want quota_exceeded saying to upgrade", err)
	}
	// The next month starts afresh.
	if _, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", month.AddDate(0, 1, 0).Add(time.Second)); quotaCode(err) == models.CodeQuotaExceeded {
		t.Fatalf("a new month is still refused: %v", err)
	}
	if n := auditCount(t, d.Owner, c.WorkspaceID, "task.quota_exceeded"); n != 1 {
		t.Errorf("%d quota audit events, want 1", n)
	}
}

func TestStartTaskOfAnotherWorkspacesAgentIsNotFound(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	a, _ := meterCaller(t, d.App, models.TierPro, now)
	b, _ := meterCaller(t, d.App, models.TierPro, now)
	agentOfB := meterAgent(t, d.App, b)
	if _, err := models.StartTask(testdb.Ctx(t), d.App, a, agentOfB, "", now); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("got %v, want not found", err)
	}
}

func TestCompleteTaskCountsItsMinutesOnce(t *testing.T) {
	d := testdb.Get(t)
	start := testdb.Now(t).Truncate(time.Hour).Add(59 * time.Minute)
	c, _ := meterCaller(t, d.App, models.TierStarter, start)
	agent := meterAgent(t, d.App, c)
	task, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", start)
	if err != nil {
		t.Fatal(err)
	}
	end := start.Add(90 * time.Second) // 11:00:30, the next hour: ceil(1.5) = 2 minutes
	var wg sync.WaitGroup
	results := make([]*models.Task, 10)
	errs := make([]error, 10)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], errs[i] = models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "succeeded", end)
		}(i)
	}
	wg.Wait()
	var finished *time.Time
	for i, r := range results {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if r.Status != models.TaskSucceeded || r.AgentMinutes != 2 || r.FinishedAt == nil {
			t.Fatalf("completion %d: %+v", i, r)
		}
		if finished != nil && !finished.Equal(*r.FinishedAt) {
			t.Fatalf("completions disagree on finished_at: %s and %s", finished, r.FinishedAt)
		}
		finished = r.FinishedAt
	}
	if _, minutes := usageRow(t, d.Owner, c.WorkspaceID, finished.Truncate(time.Hour)); minutes != 2 {
		t.Fatalf("usage_hourly.agent_minutes = %d, want 2 (counted once)", minutes)
	}
	again, err := models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "failed", end.Add(time.Hour))
	if err != nil || again.Status != models.TaskSucceeded || again.AgentMinutes != 2 {
		t.Fatalf("a later completion changed the task: %+v, %v", again, err)
	}
	for _, tc := range []struct {
		name   string
		status string
		id     uuid.UUID
		want   error
	}{
		{"bad status", "running", task.ID, &models.ValidationError{}},
		{"unknown task", "failed", models.NewID(), models.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := models.CompleteTask(testdb.Ctx(t), d.App, c, tc.id, tc.status, end)
			var ve *models.ValidationError
			if _, isVE := tc.want.(*models.ValidationError); isVE && !errors.As(err, &ve) || !isVE && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCompleteTaskMinutes(t *testing.T) {
	d := testdb.Get(t)
	start := testdb.Now(t).Truncate(time.Hour)
	c, _ := meterCaller(t, d.App, models.TierEnterprise, start)
	agent := meterAgent(t, d.App, c)
	for _, tc := range []struct {
		took time.Duration
		want int64
	}{
		{0, 0},
		{time.Millisecond, 1},
		{time.Minute, 1},
		{time.Minute + time.Microsecond, 2},
		{59*time.Minute + 59*time.Second, 60},
	} {
		task, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", start)
		if err != nil {
			t.Fatal(err)
		}
		done, err := models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "failed", start.Add(tc.took))
		if err != nil {
			t.Fatal(err)
		}
		if done.AgentMinutes != tc.want {
			t.Errorf("a task of %s counts %d minutes, want %d", tc.took, done.AgentMinutes, tc.want)
		}
	}
}

func TestMessagesOfAFinishedTaskAreClosed(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, _ := meterCaller(t, d.App, models.TierEnterprise, now)
	agent := meterAgent(t, d.App, c)
	task, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "", now)
	if err != nil {
		t.Fatal(err)
	}
	add := func(role, body string) error {
		return keyIn(t, d.App, c.WorkspaceID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.AddMessage(ctx, tn, task.ID, role, body, testdb.Clock())
			return err
		})
	}
	if err := add("user", "hello"); err != nil {
		t.Fatal(err)
	}
	var ve *models.ValidationError
	if err := add("wizard", ""); !errors.As(err, &ve) || ve.Fields["role"] == "" || ve.Fields["body"] == "" {
		t.Fatalf("bad message: %v", err)
	}
	if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "succeeded", now); err != nil {
		t.Fatal(err)
	}
	if err := add("user", "too late"); !errors.Is(err, models.ErrConflict) {
		t.Fatalf("message to a finished task: %v, want conflict", err)
	}
}

// TestMeterCrashOnlyUnderAdmits: three processes meter one workspace's hour concurrently and one
// of them dies mid-hour (it drops its lease without handing it back). The hour's admissions never
// exceed the limit, and fall short of it by at most the dead process's one block.
func TestMeterCrashOnlyUnderAdmits(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, _ := meterCaller(t, d.App, models.TierFree, now)
	limit, _ := c.Tier.Limits().APICallsPerHour.Value()
	var pools []bun.IDB
	for range 3 {
		p, err := d.OpenApp(context.Background(), 4)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		pools = append(pools, p)
	}
	meters := []*models.Meter{models.NewMeter(pools[0]), models.NewMeter(pools[1]), models.NewMeter(pools[2])}
	var mu sync.Mutex
	admitted, byDead := int64(0), int64(0)
	// Process 0 admits three calls from its first block and dies holding the rest of it.
	for range 3 {
		if _, err := meters[0].Admit(testdb.Ctx(t), c, now); err != nil {
			t.Fatal(err)
		}
		admitted++
		byDead++
	}
	var wg sync.WaitGroup
	for i := range 400 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 1 + i%2
			_, err := meters[n].Admit(testdb.Ctx(t), c, now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				admitted++
				if n == 0 {
					byDead++
				}
			case quotaCode(err) != models.CodeRateLimited:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// The survivors stop cleanly and hand their unused calls back; nothing they hold is left.
	for _, m := range meters[1:] {
		if err := m.Close(testdb.Ctx(t)); err != nil {
			t.Fatal(err)
		}
	}
	calls, _ := usageRow(t, d.Owner, c.WorkspaceID, now)
	block := max(1, limit/16)
	if admitted > limit || calls > limit {
		t.Fatalf("admitted %d, usage_hourly %d: over the limit %d", admitted, calls, limit)
	}
	if admitted < limit-block || calls-admitted > block {
		t.Fatalf("admitted %d (usage_hourly %d) of %d: the dead process (%d admitted) lost more than one block of %d", admitted, calls, limit, byDead, block)
	}
	t.Logf("admitted %d of %d; the dead process admitted %d and lost %d", admitted, limit, byDead, calls-admitted)
}

// TestStartAndCompleteTaskAreOneRoundTripEach counts the round trips of a start and a completion
// through a counting dialer, and checks that a caller whose tier is out of date (the key was
// looked up before a tier change) is held to the tier the workspace has.
func TestStartAndCompleteTaskAreOneRoundTripEach(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, _ := meterCaller(t, d.App, models.TierPro, now)
	agent := meterAgent(t, d.App, c)
	var tc testdb.WireCount
	opt := d.AppOptions(1)
	opt.Dial = tc.Dial
	db, err := models.Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for i := range 3 {
		before := tc.RoundTrips.Load()
		task, err := models.StartTask(testdb.Ctx(t), db, c, agent, "job", now)
		if err != nil {
			t.Fatal(err)
		}
		if n := tc.RoundTrips.Load() - before; i > 0 && n != 1 {
			t.Errorf("starting a task took %d round trips, want 1", n)
		}
		before = tc.RoundTrips.Load()
		done, err := models.CompleteTask(testdb.Ctx(t), db, c, task.ID, "succeeded", now.Add(90*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if n := tc.RoundTrips.Load() - before; i > 0 && n != 1 {
			t.Errorf("completing a task took %d round trips, want 1", n)
		}
		if done.Status != models.TaskSucceeded || done.AgentMinutes != 2 || done.ID != task.ID || done.AgentID != agent {
			t.Fatalf("completed task: %+v", done)
		}
	}
	// The key says enterprise (unlimited), the workspace is free: the free tier's slots hold.
	stale := *c
	stale.Tier = models.TierEnterprise
	if _, err := d.Owner.ExecContext(context.Background(), "UPDATE workspaces SET tier = 'free' WHERE id = ?", c.WorkspaceID); err != nil {
		t.Fatal(err)
	}
	slots, _ := models.TierFree.Limits().ConcurrentTasks.Value()
	started := int64(0)
	for range slots + 2 {
		_, err := models.StartTask(testdb.Ctx(t), db, &stale, agent, "job", now)
		switch {
		case err == nil:
			started++
		case quotaCode(err) != models.CodeConcurrentTaskLimit:
			t.Fatal(err)
		}
	}
	if started != slots {
		t.Fatalf("a stale enterprise caller on the free tier started %d tasks, want the free tier's %d", started, slots)
	}
}

// TestTaskAsyncCommitIsTheTasksAlone: on a pool opened with TaskAsyncCommit a task starts and
// completes as on any other, and synchronous_commit is off for those statements' own
// transactions only: the connection keeps it on for everything else.
func TestTaskAsyncCommitIsTheTasksAlone(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC().Truncate(time.Hour).Add(10 * time.Minute)
	c, _ := meterCaller(t, d.App, models.TierStarter, now)
	agent := meterAgent(t, d.App, c)
	opt := d.AppOptions(1)
	opt.TaskAsyncCommit = true
	db, err := models.Open(testdb.Ctx(t), opt)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	syncCommit := func() string {
		t.Helper()
		var v string
		if err := db.NewRaw("SHOW synchronous_commit").Scan(testdb.Ctx(t), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	task, err := models.StartTask(testdb.Ctx(t), db, c, agent, "async", now)
	if err != nil || task.Status != models.TaskRunning {
		t.Fatalf("start: %+v, %v", task, err)
	}
	if v := syncCommit(); v != "on" {
		t.Fatalf("after a task start the connection's synchronous_commit is %q, want on", v)
	}
	done, err := models.CompleteTask(testdb.Ctx(t), db, c, task.ID, "succeeded", now.Add(30*time.Second))
	if err != nil || done.Status != models.TaskSucceeded || done.AgentMinutes != 1 {
		t.Fatalf("complete: %+v, %v", done, err)
	}
	if v := syncCommit(); v != "on" {
		t.Fatalf("after a completion the connection's synchronous_commit is %q, want on", v)
	}
	if _, minutes := usageRow(t, d.Owner, c.WorkspaceID, now.Truncate(time.Hour)); minutes != 1 {
		t.Fatalf("usage_hourly.agent_minutes = %d, want 1", minutes)
	}
}
