package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// alertsOn turns on the alerts of kind in ws at thresholds (a list like "80, 100"), told to
// recipients (and addresses), as the workspace's owner.
func alertsOn(t *testing.T, db bun.IDB, tm *keyTeam, kind models.LimitKind, thresholds, recipients, addresses string, now time.Time) {
	t.Helper()
	err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.SaveAlertSettings(ctx, tn, tm.actor(tm.owner), []models.AlertInput{{Kind: kind, Enabled: true,
			Thresholds: thresholds, Recipients: recipients, Addresses: addresses}}, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// alertRows lists the workspace's alerts of kind as "threshold@period" (owner's view), oldest
// threshold first.
func alertRows(t *testing.T, owner *bun.DB, ws uuid.UUID, kind models.LimitKind) []string {
	t.Helper()
	var rows []struct {
		Threshold int       `bun:"threshold"`
		Period    time.Time `bun:"period_start"`
	}
	err := owner.NewRaw("SELECT threshold, period_start FROM quota_alerts WHERE workspace_id = ? AND limit_kind = ? ORDER BY period_start, threshold",
		ws, string(kind)).Scan(context.Background(), &rows)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%d@%s", r.Threshold, r.Period.UTC().Format(time.RFC3339)))
	}
	return out
}

// alertJobs reads the quota_alert jobs queued for ws, as the worker would get them.
func alertJobs(t *testing.T, owner *bun.DB, ws uuid.UUID) []models.QuotaAlertArgs {
	t.Helper()
	var raw []string
	err := owner.NewRaw("SELECT args::text FROM river_job WHERE kind = 'quota_alert' AND args->>'workspace_id' = ? ORDER BY id",
		ws.String()).Scan(context.Background(), &raw)
	if err != nil {
		t.Fatal(err)
	}
	var out []models.QuotaAlertArgs
	for _, r := range raw {
		var a models.QuotaAlertArgs
		if err := json.Unmarshal([]byte(r), &a); err != nil {
			t.Fatalf("job args %s: %v", r, err)
		}
		out = append(out, a)
	}
	return out
}

// deliverAll works every queued alert job of ws, twice over (a job that runs again must tell
// nobody twice), and returns the messages queued.
func deliverAll(t *testing.T, db bun.IDB, owner *bun.DB, ws uuid.UUID, now time.Time) int {
	t.Helper()
	n := 0
	for round := 0; round < 2; round++ {
		for _, a := range alertJobs(t, owner, ws) {
			q, err := models.DeliverQuotaAlert(testdb.Ctx(t), db, a, func(to string, w *models.Workspace, qa *models.QuotaAlert) models.Mail {
				return models.Mail{To: to, Subject: fmt.Sprintf("%s %s %d", w.Name, qa.Kind, qa.Threshold), Body: "alert"}
			}, now)
			if err != nil {
				t.Fatal(err)
			}
			if round == 1 && q != 0 {
				t.Errorf("a job run again queued %d more messages", q)
			}
			n += q
		}
	}
	return n
}

// alertMail lists the outbox's quota alert messages of ws as "to|subject", sorted.
func alertMail(t *testing.T, owner *bun.DB, ws uuid.UUID) []string {
	t.Helper()
	var out []string
	err := owner.NewRaw("SELECT to_address || '|' || subject FROM mail_outbox WHERE event_key LIKE ? ORDER BY 1",
		"quota-alert:"+ws.String()+":%").Scan(context.Background(), &out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestQuotaAlertAPICallsOncePerThresholdAndHour: two processes (two pools, two meters) admit 300
// concurrent calls against a limit of 100 with alerts at 80 % and 100 %: exactly one alert row,
// one job and one message per threshold; the next hour alerts again.
func TestQuotaAlertAPICallsOncePerThresholdAndHour(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, tm := meterCaller(t, d.App, models.TierFree, now)
	alertsOn(t, d.App, tm, models.LimitAPICalls, "80, 100", models.RecipientsOwners, "", now)
	hookEndpoint(t, d.App, tm, "http://127.0.0.1:1/quota", "quota.*")
	second, err := d.OpenApp(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	meters := []*models.Meter{models.NewMeter(d.App), models.NewMeter(second)}
	flood := func(at time.Time, calls int) int {
		var mu sync.Mutex
		allowed := 0
		var wg sync.WaitGroup
		for i := 0; i < calls; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, err := meters[i%2].Admit(testdb.Ctx(t), c, at)
				if err != nil && quotaCode(err) != models.CodeRateLimited {
					t.Error(err)
				}
				if err == nil {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
		return allowed
	}
	if n := flood(now, 300); n != 100 {
		t.Fatalf("admitted %d, want 100", n)
	}
	hour := now.Truncate(time.Hour).Format(time.RFC3339)
	want := []string{"80@" + hour, "100@" + hour}
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitAPICalls); !slices.Equal(got, want) {
		t.Fatalf("alerts %v, want %v", got, want)
	}
	if jobs := alertJobs(t, d.Owner, c.WorkspaceID); len(jobs) != 2 {
		t.Fatalf("%d alert jobs, want 2", len(jobs))
	}
	if n := deliverAll(t, d.App, d.Owner, c.WorkspaceID, now); n != 2 {
		t.Fatalf("%d messages, want one per threshold to the one owner", n)
	}
	// One webhook event per threshold, delivered to the endpoint once.
	if ev, dl, _ := hookRows(t, d.Owner, c.WorkspaceID, "quota.threshold_crossed"); ev != 2 || dl != 2 {
		t.Fatalf("%d quota.threshold_crossed events, %d deliveries; want 2 and 2", ev, dl)
	}
	mails := alertMail(t, d.Owner, c.WorkspaceID)
	if len(mails) != 2 || !strings.HasPrefix(mails[0], tm.owner.Email+"|") || !strings.HasPrefix(mails[1], tm.owner.Email+"|") {
		t.Fatalf("mail %v, want two to the owner %s", mails, tm.owner.Email)
	}
	// The processes hand back their leftovers and lease again within the hour: no new alert.
	for _, m := range meters {
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	flood(now, 20)
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitAPICalls); len(got) != 2 {
		t.Fatalf("alerts after leasing again in the hour: %v", got)
	}
	// The next hour alerts again, once per threshold.
	next := now.Truncate(time.Hour).Add(time.Hour + time.Minute)
	if n := flood(next, 150); n != 100 {
		t.Fatalf("next hour admitted %d", n)
	}
	nh := next.Truncate(time.Hour).Format(time.RFC3339)
	want = append(want, "80@"+nh, "100@"+nh)
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitAPICalls); !slices.Equal(got, want) {
		t.Fatalf("alerts %v, want %v", got, want)
	}
	if n := deliverAll(t, d.App, d.Owner, c.WorkspaceID, next); n != 2 {
		t.Fatalf("next hour: %d messages, want 2", n)
	}
	if ev, _, _ := hookRows(t, d.Owner, c.WorkspaceID, "quota.threshold_crossed"); ev != 4 {
		t.Fatalf("%d quota.threshold_crossed events after two hours, want 4", ev)
	}
}

// TestQuotaAlertsOffCostNothing: without alerts a workspace filling its hour records nothing.
func TestQuotaAlertsOffRecordNothing(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, tm := meterCaller(t, d.App, models.TierFree, now)
	m := models.NewMeter(d.App)
	for i := 0; i < 120; i++ {
		m.Admit(testdb.Ctx(t), c, now)
	}
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitAPICalls); len(got) != 0 {
		t.Fatalf("alerts without settings: %v", got)
	}
	// Off again after being on: nothing either.
	err := keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.SaveAlertSettings(ctx, tn, tm.actor(tm.owner), []models.AlertInput{{Kind: models.LimitAPICalls,
			Enabled: false, Thresholds: "10", Recipients: models.RecipientsOwners}}, now)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Admit(testdb.Ctx(t), c, now.Add(time.Hour))
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitAPICalls); len(got) != 0 {
		t.Fatalf("alerts while off: %v", got)
	}
}

// TestQuotaAlertAgentMinutesOncePerMonth: completions that cross 80 % and 100 % of the month's
// minutes alert once each; the next month alerts again.
func TestQuotaAlertAgentMinutesOncePerMonth(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, tm := meterCaller(t, d.App, models.TierFree, now) // 1,000 minutes a month
	alertsOn(t, d.App, tm, models.LimitAgentMinutes, "80 100", models.RecipientsAdmins, "", now)
	agent := meterAgent(t, d.App, c)
	run := func(end time.Time, minutes int) {
		t.Helper()
		task, err := models.StartTask(testdb.Ctx(t), d.App, c, agent, "work", end.Add(-time.Duration(minutes)*time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "succeeded", end); err != nil {
			t.Fatal(err)
		}
		// Completing twice counts (and alerts) nothing more.
		if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, task.ID, "succeeded", end); err != nil {
			t.Fatal(err)
		}
	}
	month := models.MonthStart(now).Format(time.RFC3339)
	run(now, 700)
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitAgentMinutes); len(got) != 0 {
		t.Fatalf("alerts at 70 %%: %v", got)
	}
	run(now, 150) // 850: 80 %
	run(now, 10)  // 860: nothing new
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitAgentMinutes); !slices.Equal(got, []string{"80@" + month}) {
		t.Fatalf("alerts %v, want 80 %% of %s", got, month)
	}
	run(now, 140) // 1,000: 100 %
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitAgentMinutes); !slices.Equal(got, []string{"80@" + month, "100@" + month}) {
		t.Fatalf("alerts %v", got)
	}
	// Owners and admins are told, members and viewers are not.
	if n := deliverAll(t, d.App, d.Owner, c.WorkspaceID, now); n != 4 {
		t.Fatalf("%d messages, want 2 thresholds × (owner + admin)", n)
	}
	var to []string
	for _, m := range alertMail(t, d.Owner, c.WorkspaceID) {
		to = append(to, strings.SplitN(m, "|", 2)[0])
	}
	slices.Sort(to)
	to = slices.Compact(to)
	want := []string{tm.owner.Email, tm.admin.Email}
	slices.Sort(want)
	if !slices.Equal(to, want) {
		t.Fatalf("told %v, want %v", to, want)
	}
	// The next month starts again.
	next := models.MonthStart(now).AddDate(0, 1, 0).Add(20 * time.Hour)
	run(next, 900)
	nm := models.MonthStart(next).Format(time.RFC3339)
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitAgentMinutes); !slices.Equal(got, []string{"80@" + month, "100@" + month, "80@" + nm}) {
		t.Fatalf("alerts %v", got)
	}
}

// TestQuotaAlertConcurrentTasksOnceADay: concurrent starts that fill the slots alert once per
// threshold; filling them again the same day does not, the next day does.
func TestQuotaAlertConcurrentTasksOnceADay(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, tm := meterCaller(t, d.App, models.TierStarter, now) // 5 slots
	alertsOn(t, d.App, tm, models.LimitConcurrentTasks, "80,100", models.RecipientsList, "ops@example.com, oncall@example.com", now)
	agent := meterAgent(t, d.App, c)
	second, err := d.OpenApp(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	dbs := []bun.IDB{d.App, second}
	fill := func(at time.Time) []uuid.UUID {
		var mu sync.Mutex
		var ids []uuid.UUID
		var wg sync.WaitGroup
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				task, err := models.StartTask(testdb.Ctx(t), dbs[i%2], c, agent, "work", at)
				if err != nil && quotaCode(err) != models.CodeConcurrentTaskLimit {
					t.Error(err)
				}
				if err == nil {
					mu.Lock()
					ids = append(ids, task.ID)
					mu.Unlock()
				}
			}(i)
		}
		wg.Wait()
		return ids
	}
	ids := fill(now)
	if len(ids) != 5 {
		t.Fatalf("%d started, want 5", len(ids))
	}
	day := now.Truncate(24 * time.Hour).Format(time.RFC3339)
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitConcurrentTasks); !slices.Equal(got, []string{"80@" + day, "100@" + day}) {
		t.Fatalf("alerts %v", got)
	}
	if n := deliverAll(t, d.App, d.Owner, c.WorkspaceID, now); n != 4 {
		t.Fatalf("%d messages, want 2 thresholds × 2 addresses", n)
	}
	if got := alertMail(t, d.Owner, c.WorkspaceID); len(got) != 4 || !strings.HasPrefix(got[0], "oncall@example.com|") || !strings.HasPrefix(got[3], "ops@example.com|") {
		t.Fatalf("mail %v", got)
	}
	for _, id := range ids[:2] {
		if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, id, "succeeded", now); err != nil {
			t.Fatal(err)
		}
	}
	fill(now)
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitConcurrentTasks); len(got) != 2 {
		t.Fatalf("filled again the same day: %v", got)
	}
	tomorrow := now.Truncate(24*time.Hour).AddDate(0, 0, 1).Add(time.Hour)
	for _, id := range ids[2:] {
		if _, err := models.CompleteTask(testdb.Ctx(t), d.App, c, id, "succeeded", tomorrow); err != nil {
			t.Fatal(err)
		}
	}
	fill(tomorrow)
	td := tomorrow.Truncate(24 * time.Hour).Format(time.RFC3339)
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitConcurrentTasks); !slices.Equal(got, []string{"80@" + day, "100@" + day, "80@" + td, "100@" + td}) {
		t.Fatalf("alerts %v", got)
	}
}

// TestQuotaAlertSeats: invitations that take seats alert at each threshold; the acceptance that
// moves a seat the same day does not alert again.
func TestQuotaAlertSeats(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	c, tm := meterCaller(t, d.App, models.TierPro, now) // 10 seats, 5 taken
	alertsOn(t, d.App, tm, models.LimitMembers, "60, 70", models.RecipientsOwners, "", now)
	invite := func(email string) string {
		var token string
		err := keyIn(t, d.App, c.WorkspaceID, func(ctx context.Context, tn *models.Tenant) error {
			inv, err := models.CreateInvitation(ctx, tn, tm.actor(tm.owner), email, models.RoleMember, now)
			if inv != nil {
				token = inv.Token
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	day := now.Truncate(24 * time.Hour).Format(time.RFC3339)
	newcomer := newUser(t, d.App)
	token := invite(newcomer.Email)
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitMembers); !slices.Equal(got, []string{"60@" + day}) {
		t.Fatalf("alerts %v", got)
	}
	invite("seven@example.com")
	if _, err := models.AcceptInvitation(testdb.Ctx(t), d.App, newcomer, token, now); err != nil {
		t.Fatal(err)
	}
	if got := alertRows(t, d.Owner, c.WorkspaceID, models.LimitMembers); !slices.Equal(got, []string{"60@" + day, "70@" + day}) {
		t.Fatalf("alerts %v", got)
	}
}

// TestQuotaAlertsStayInTheirWorkspace: one workspace's alerts reach its own people only, and the
// other workspace neither sees them nor gets their mail.
func TestQuotaAlertsStayInTheirWorkspace(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	a, ta := meterCaller(t, d.App, models.TierFree, now)
	b, tb := meterCaller(t, d.App, models.TierFree, now)
	alertsOn(t, d.App, ta, models.LimitAPICalls, "50", models.RecipientsAdmins, "", now)
	alertsOn(t, d.App, tb, models.LimitAPICalls, "50", models.RecipientsAdmins, "", now)
	hookEndpoint(t, d.App, tb, "http://127.0.0.1:1/b", "quota.*")
	m := models.NewMeter(d.App)
	for i := 0; i < 60; i++ {
		if _, err := m.Admit(testdb.Ctx(t), a, now); err != nil {
			t.Fatal(err)
		}
	}
	deliverAll(t, d.App, d.Owner, a.WorkspaceID, now)
	for _, mail := range alertMail(t, d.Owner, a.WorkspaceID) {
		for _, u := range []*models.User{tb.owner, tb.admin, tb.mia, tb.max, tb.viewr} {
			if strings.HasPrefix(mail, u.Email+"|") {
				t.Fatalf("A's alert went to B's %s", u.Email)
			}
		}
	}
	if len(alertMail(t, d.Owner, a.WorkspaceID)) != 2 {
		t.Fatalf("A's mail: %v", alertMail(t, d.Owner, a.WorkspaceID))
	}
	if got := alertRows(t, d.Owner, b.WorkspaceID, models.LimitAPICalls); len(got) != 0 {
		t.Fatalf("B has alerts: %v", got)
	}
	if ev, _, _ := hookRows(t, d.Owner, b.WorkspaceID, "quota.threshold_crossed"); ev != 0 {
		t.Fatalf("B's webhooks got %d of A's quota events", ev)
	}
	err := keyIn(t, d.App, b.WorkspaceID, func(ctx context.Context, tn *models.Tenant) error {
		got, err := models.RecentQuotaAlerts(ctx, tn, now.Add(-24*time.Hour), 10)
		if len(got) != 0 {
			t.Errorf("B's console reads %d alerts", len(got))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A job naming A's alert with B's workspace finds nothing to tell.
	jobs := alertJobs(t, d.Owner, a.WorkspaceID)
	forged := jobs[0]
	forged.WorkspaceID = b.WorkspaceID
	n, err := models.DeliverQuotaAlert(testdb.Ctx(t), d.App, forged, func(to string, _ *models.Workspace, _ *models.QuotaAlert) models.Mail {
		return models.Mail{To: to, Subject: "x", Body: "x"}
	}, now)
	if err != nil || n != 0 {
		t.Fatalf("forged job: %d messages, %v", n, err)
	}
}

// TestSaveAlertSettingsValidates: bad thresholds, recipients and addresses are refused by field
// and nothing is stored; only owners may change alerts.
func TestSaveAlertSettingsValidates(t *testing.T) {
	d := testdb.Get(t)
	now := testdb.Now(t).UTC()
	_, tm := meterCaller(t, d.App, models.TierFree, now)
	save := func(actor models.Actor, ins ...models.AlertInput) error {
		return keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.SaveAlertSettings(ctx, tn, actor, ins, now)
			return err
		})
	}
	err := save(tm.actor(tm.owner),
		models.AlertInput{Kind: models.LimitAPICalls, Enabled: true, Thresholds: "80, 120", Recipients: models.RecipientsOwners},
		models.AlertInput{Kind: models.LimitMembers, Enabled: true, Thresholds: "90", Recipients: models.RecipientsList, Addresses: "a@example.com, not-an-address"},
		models.AlertInput{Kind: models.LimitAgentMinutes, Enabled: true, Thresholds: "", Recipients: "everyone"},
		models.AlertInput{Kind: models.LimitConcurrentTasks, Enabled: true, Thresholds: "100", Recipients: models.RecipientsList})
	var ve *models.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error, got %v", err)
	}
	for _, f := range []string{"api_calls.thresholds", "members.addresses", "agent_minutes.thresholds", "agent_minutes.recipients", "concurrent_tasks.addresses"} {
		if ve.Fields[f] == "" {
			t.Errorf("no message for %s: %v", f, ve.Fields)
		}
	}
	if err := save(tm.actor(tm.admin), models.AlertInput{Kind: models.LimitAPICalls, Enabled: true, Thresholds: "80", Recipients: models.RecipientsOwners}); !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("an admin changed alerts: %v", err)
	}
	var settings []models.AlertSetting
	err = keyIn(t, d.App, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		settings, err = models.AlertSettings(ctx, tn)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range settings {
		if s.Enabled || !slices.Equal(s.Thresholds, models.DefaultThresholds) || s.Recipients != models.RecipientsOwners {
			t.Fatalf("stored after a refusal, or not the defaults: %+v", s)
		}
	}
	if got, msg := models.ParseThresholds("100, 80 80%"); msg != "" || !slices.Equal(got, []int{80, 100}) {
		t.Fatalf("ParseThresholds: %v %q", got, msg)
	}
}
