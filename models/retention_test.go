package models_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// TestRetentionSweep: at the tests' clock, the sweep deletes what is past each retention period
// and keeps what is not, one side of each boundary: expired sessions with their listings, orphaned
// listings, old throttle counts (in more than one batch), delivered mail past 30 days, invitations
// expired unaccepted past the grace, and hourly usage past 100 days, whose days stay in the
// rollups. Another workspace's rows within retention are untouched, undelivered mail and the audit
// log within retention stay, and a second sweep finds nothing.
func TestRetentionSweep(t *testing.T) {
	d := testdb.Get(t)
	db, owner := d.App, d.Owner
	ctx := testdb.Ctx(t)
	now := testdb.Now(t)
	day := 24 * time.Hour
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := owner.NewRaw(q, args...).Exec(context.Background()); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	inWS, count := retentionHelpers(t, db, owner)
	tag := uuid.NewString()[:8]

	// Sessions and their listings.
	u := newUser(t, db)
	for _, s := range []struct {
		token  string
		expiry time.Time
	}{{"expired-" + tag, now.Add(-time.Minute)}, {"live-" + tag, now.Add(time.Hour)}} {
		exec(`INSERT INTO sessions (token, data, expiry) VALUES (?, '\x00', ?)`, s.token, s.expiry)
		exec(`INSERT INTO user_sessions (id, user_id, token, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)`,
			models.NewID(), u.ID, s.token, now.Add(-2*time.Hour), now.Add(-2*time.Minute))
	}
	exec(`INSERT INTO user_sessions (id, user_id, token, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)`,
		models.NewID(), u.ID, "orphan-old-"+tag, now.Add(-3*day), now.Add(-25*time.Hour),
		models.NewID(), u.ID, "orphan-new-"+tag, now.Add(-2*time.Hour), now.Add(-time.Hour))

	// Throttle counts: 2,500 a little over a day old (three batches), ten a little under.
	exec(`INSERT INTO login_failures (scope, key, at) SELECT 'ip', ?, ? FROM generate_series(1, 2500)`, "old-"+tag, now.Add(-25*time.Hour))
	exec(`INSERT INTO login_failures (scope, key, at) SELECT 'ip', ?, ? FROM generate_series(1, 10)`, "new-"+tag, now.Add(-23*time.Hour))

	// Mail: delivered 31 and 29 days ago, and one never delivered, 60 days old.
	for _, m := range []struct {
		key  string
		sent any
	}{{"sent-31-" + tag, now.Add(-31 * day)}, {"sent-29-" + tag, now.Add(-29 * day)}, {"unsent-" + tag, nil}} {
		exec(`INSERT INTO mail_outbox (id, event_key, to_address, subject, body, created_at, sent_at) VALUES (?, ?, 'a@example.com', 's', '', ?, ?)`,
			models.NewID(), m.key, now.Add(-60*day), m.sent)
	}

	// Two workspaces: A with rows on both sides of each boundary, B with rows just inside them.
	a, b := newFixtureWorkspace(t, db), newFixtureWorkspace(t, db)
	invite := func(ws uuid.UUID, name string, expires time.Time, accepted, revoked bool) {
		t.Helper()
		var acc, rev any
		if accepted {
			acc = expires.Add(-day)
		}
		if revoked {
			rev = expires.Add(-day)
		}
		inWS(ws, `INSERT INTO invitations (workspace_id, id, email, role, token_hash, created_at, expires_at, accepted_at, revoked_at)
			VALUES (?, ?, ?, 'member', ?, ?, ?, ?, ?)`, ws, models.NewID(), name+"-"+tag+"@example.com", uuid.NewString(),
			expires.Add(-7*day), expires, acc, rev)
	}
	invite(a, "expired-31", now.Add(-31*day), false, false)
	invite(a, "revoked-expired-31", now.Add(-31*day), false, true)
	invite(a, "expired-29", now.Add(-29*day), false, false)
	invite(a, "accepted-40", now.Add(-40*day), true, false)
	invite(b, "expired-29", now.Add(-29*day), false, false)

	hour := now.UTC().Truncate(time.Hour)
	old := hour.Add(-101 * day)
	for _, h := range []struct {
		ws      uuid.UUID
		at      time.Time
		calls   int64
		minutes int64
	}{{a, old, 7, 5}, {a, old.Add(time.Hour), 3, 0}, {a, hour.Add(-99 * day), 2, 1}, {a, hour, 1, 0}, {b, hour.Add(-99 * day), 4, 2}} {
		inWS(h.ws, `INSERT INTO usage_hourly (workspace_id, hour, api_calls, agent_minutes) VALUES (?, ?, ?, ?)`, h.ws, h.at, h.calls, h.minutes)
	}
	rollups := func(ws uuid.UUID) string {
		var s string
		if err := owner.NewRaw(`SELECT (SELECT coalesce(sum(api_calls), 0) || '/' || coalesce(sum(agent_minutes), 0) FROM usage_daily WHERE workspace_id = ?0)
			|| ' ' || (SELECT coalesce(sum(agent_minutes), 0) FROM usage_monthly WHERE workspace_id = ?0)`, ws).Scan(context.Background(), &s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	rollA, rollB := rollups(a), rollups(b)
	audit := count(`SELECT count(*) FROM audit_events WHERE created_at >= ?`, now.Add(-30*day)) // within every tier's retention

	res, err := models.RunRetention(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("swept: %+v", res)

	checks := []struct {
		what string
		got  int
		want int
	}{
		{"expired session", count(`SELECT count(*) FROM sessions WHERE token = ?`, "expired-"+tag), 0},
		{"live session", count(`SELECT count(*) FROM sessions WHERE token = ?`, "live-"+tag), 1},
		{"expired session's listing", count(`SELECT count(*) FROM user_sessions WHERE token = ?`, "expired-"+tag), 0},
		{"live session's listing", count(`SELECT count(*) FROM user_sessions WHERE token = ?`, "live-"+tag), 1},
		{"orphaned listing idle 25 hours", count(`SELECT count(*) FROM user_sessions WHERE token = ?`, "orphan-old-"+tag), 0},
		{"orphaned listing idle an hour", count(`SELECT count(*) FROM user_sessions WHERE token = ?`, "orphan-new-"+tag), 1},
		{"failures 25 hours old", count(`SELECT count(*) FROM login_failures WHERE key = ?`, "old-"+tag), 0},
		{"failures 23 hours old", count(`SELECT count(*) FROM login_failures WHERE key = ?`, "new-"+tag), 10},
		{"mail delivered 31 days ago", count(`SELECT count(*) FROM mail_outbox WHERE event_key = ?`, "sent-31-"+tag), 0},
		{"mail delivered 29 days ago", count(`SELECT count(*) FROM mail_outbox WHERE event_key = ?`, "sent-29-"+tag), 1},
		{"mail never delivered", count(`SELECT count(*) FROM mail_outbox WHERE event_key = ?`, "unsent-"+tag), 1},
		{"A's invitations expired 31 days ago", count(`SELECT count(*) FROM invitations WHERE workspace_id = ? AND email LIKE '%expired-31%'`, a), 0},
		{"A's invitation expired 29 days ago", count(`SELECT count(*) FROM invitations WHERE workspace_id = ? AND email LIKE 'expired-29%'`, a), 1},
		{"A's accepted invitation", count(`SELECT count(*) FROM invitations WHERE workspace_id = ? AND email LIKE 'accepted-40%'`, a), 1},
		{"B's invitation", count(`SELECT count(*) FROM invitations WHERE workspace_id = ?`, b), 1},
		{"A's hours past 100 days", count(`SELECT count(*) FROM usage_hourly WHERE workspace_id = ? AND hour < ?`, a, hour.Add(-100*day)), 0},
		{"A's recent hours", count(`SELECT count(*) FROM usage_hourly WHERE workspace_id = ? AND hour >= ?`, a, hour.Add(-100*day)), 2},
		{"B's hours", count(`SELECT count(*) FROM usage_hourly WHERE workspace_id = ?`, b), 1},
		{"audit events within retention", count(`SELECT count(*) FROM audit_events WHERE created_at >= ?`, now.Add(-30*day)), audit},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d rows, want %d", c.what, c.got, c.want)
		}
	}
	if got := rollups(a); got != rollA {
		t.Errorf("A's rollups moved with the pruned hours: %s, were %s", got, rollA)
	}
	if got := rollups(b); got != rollB {
		t.Errorf("B's rollups moved: %s, were %s", got, rollB)
	}
	// (At least: rows that earlier tests left behind may be old at this clock too.)
	if res.LoginFailures < 2500 || res.UsageHours < 2 || res.Invitations < 2 || res.DeliveredMail < 1 || res.Sessions < 1 || res.Workspaces < 1 {
		t.Errorf("reported %+v", res)
	}

	// Nothing is left to sweep at the same instant.
	again, err := models.RunRetention(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	if again != (models.RetentionResult{}) {
		t.Errorf("a second sweep deleted %+v", again)
	}

	// A delete outside the sweep (not marked as pruning) still keeps the rollups in step.
	inWS(a, `DELETE FROM usage_hourly WHERE workspace_id = ? AND hour = ?`, a, hour)
	if got := rollups(a); got == rollA {
		t.Errorf("an ordinary delete left the rollups unchanged: %s", got)
	}
}

// TestRetentionOfAlertsWebhooksAndKeyUsage: at the tests' clock, the sweep prunes quota alerts of
// periods that began more than 13 months ago, finished webhook deliveries whose last attempt is
// more than 30 days old (never a pending one, however old) with the events left without
// deliveries, and per-key hourly counters past 100 days; one side of each boundary stays, and
// another workspace's rows within retention are untouched.
func TestRetentionOfAlertsWebhooksAndKeyUsage(t *testing.T) {
	d := testdb.Get(t)
	db, owner := d.App, d.Owner
	ctx := testdb.Ctx(t)
	now := testdb.Now(t)
	day := 24 * time.Hour
	inWS, count := retentionHelpers(t, db, owner)
	a, b := newFixtureWorkspace(t, db), newFixtureWorkspace(t, db)

	// Quota alerts: periods that began 14 and 12 months ago.
	month := models.MonthStart(now)
	for _, al := range []struct {
		ws     uuid.UUID
		period time.Time
	}{{a, month.AddDate(0, -14, 0)}, {a, month.AddDate(0, -12, 0)}, {b, month.AddDate(0, -12, 0)}} {
		inWS(al.ws, `INSERT INTO quota_alerts (workspace_id, limit_kind, threshold, period_start, used, limit_value, crossed_at)
			VALUES (?, 'agent_minutes', 80, ?, 800, 1000, ?)`, al.ws, al.period, al.period.Add(day))
	}

	// Webhooks: an endpoint per workspace, one event per delivery, each delivery in a state.
	endpoint := map[uuid.UUID]uuid.UUID{a: models.NewID(), b: models.NewID()}
	for ws, id := range endpoint {
		inWS(ws, `INSERT INTO webhook_endpoints (workspace_id, id, url, event_types, secret, created_at, updated_at)
			VALUES (?, ?, 'http://127.0.0.1:1/hook', '{member.*}', 'whsec_x', ?, ?)`, ws, id, now.Add(-90*day), now.Add(-90*day))
	}
	deliveries := map[string]uuid.UUID{}
	deliver := func(ws uuid.UUID, name, status string, made time.Time, lastAttempt any) {
		t.Helper()
		ev, del := models.NewID(), models.NewID()
		deliveries[name] = ev
		inWS(ws, `INSERT INTO webhook_events (workspace_id, id, type, data, created_at) VALUES (?, ?, 'member.added', '{}', ?)`, ws, ev, made)
		inWS(ws, `INSERT INTO webhook_deliveries (workspace_id, id, endpoint_id, event_id, seq, status, created_at, retry_from,
			next_attempt_at, attempts, last_attempt_at) SELECT ?, ?, ?, ?, seq, ?, ?, ?, ?, 1, ? FROM webhook_events WHERE workspace_id = ? AND id = ?`,
			ws, del, endpoint[ws], ev, status, made, made, made, lastAttempt, ws, ev)
	}
	deliver(a, "succeeded, last tried 31 days ago", "succeeded", now.Add(-40*day), now.Add(-31*day))
	deliver(a, "given up, last tried 31 days ago", "failed", now.Add(-40*day), now.Add(-31*day))
	deliver(a, "given up, never tried, made 31 days ago", "failed", now.Add(-31*day), nil)
	deliver(a, "succeeded, last tried 29 days ago (made 40)", "succeeded", now.Add(-40*day), now.Add(-29*day))
	deliver(a, "pending, made 60 days ago", "pending", now.Add(-60*day), now.Add(-59*day))
	deliver(b, "B's, succeeded 29 days ago", "succeeded", now.Add(-29*day), now.Add(-29*day))
	lone := models.NewID() // an event whose endpoint is gone: no delivery
	inWS(a, `INSERT INTO webhook_events (workspace_id, id, type, data, created_at) VALUES (?, ?, 'member.added', '{}', ?)`, a, lone, now.Add(-31*day))
	recent := models.NewID()
	inWS(a, `INSERT INTO webhook_events (workspace_id, id, type, data, created_at) VALUES (?, ?, 'member.added', '{}', ?)`, a, recent, now.Add(-29*day))

	// A key per workspace and its hourly counters 101 and 99 days back.
	hour := now.UTC().Truncate(time.Hour)
	key := map[uuid.UUID]uuid.UUID{a: models.NewID(), b: models.NewID()}
	for ws, id := range key {
		inWS(ws, `INSERT INTO api_keys (workspace_id, id, name, prefix, secret_hash, created_at) VALUES (?, ?, 'k', ?, '\x00', ?)`,
			ws, id, "ret"+uuid.NewString()[:8], now.Add(-200*day))
	}
	for _, h := range []struct {
		ws uuid.UUID
		at time.Time
	}{{a, hour.Add(-101 * day)}, {a, hour.Add(-99 * day)}, {b, hour.Add(-99 * day)}} {
		inWS(h.ws, `INSERT INTO api_key_usage_hourly (workspace_id, key_id, hour, calls) VALUES (?, ?, ?, 5)`, h.ws, key[h.ws], h.at)
	}

	res, err := models.RunRetention(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("swept: %+v", res)
	event := func(name string) int {
		return count(`SELECT count(*) FROM webhook_events WHERE id = ?`, deliveries[name])
	}
	delivery := func(name string) int {
		return count(`SELECT count(*) FROM webhook_deliveries WHERE event_id = ?`, deliveries[name])
	}
	checks := []struct {
		what      string
		got, want int
	}{
		{"A's alert of 14 months ago", count(`SELECT count(*) FROM quota_alerts WHERE workspace_id = ? AND period_start = ?`, a, month.AddDate(0, -14, 0)), 0},
		{"A's alert of 12 months ago", count(`SELECT count(*) FROM quota_alerts WHERE workspace_id = ? AND period_start = ?`, a, month.AddDate(0, -12, 0)), 1},
		{"B's alert", count(`SELECT count(*) FROM quota_alerts WHERE workspace_id = ?`, b), 1},
		{"event with no delivery, 31 days old", count(`SELECT count(*) FROM webhook_events WHERE id = ?`, lone), 0},
		{"event with no delivery, 29 days old", count(`SELECT count(*) FROM webhook_events WHERE id = ?`, recent), 1},
		{"A's key hour 101 days back", count(`SELECT count(*) FROM api_key_usage_hourly WHERE workspace_id = ? AND hour < ?`, a, hour.Add(-100*day)), 0},
		{"A's key hour 99 days back", count(`SELECT count(*) FROM api_key_usage_hourly WHERE workspace_id = ? AND hour >= ?`, a, hour.Add(-100*day)), 1},
		{"B's key hour", count(`SELECT count(*) FROM api_key_usage_hourly WHERE workspace_id = ?`, b), 1},
	}
	for name, want := range map[string]int{
		"succeeded, last tried 31 days ago":           0,
		"given up, last tried 31 days ago":            0,
		"given up, never tried, made 31 days ago":     0,
		"succeeded, last tried 29 days ago (made 40)": 1,
		"pending, made 60 days ago":                   1,
		"B's, succeeded 29 days ago":                  1,
	} {
		checks = append(checks, struct {
			what      string
			got, want int
		}{"delivery " + name, delivery(name), want}, struct {
			what      string
			got, want int
		}{"event of delivery " + name, event(name), want})
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %d rows, want %d", c.what, c.got, c.want)
		}
	}
	// (At least: rows that earlier tests left behind may be old at this clock too.)
	if res.QuotaAlerts < 1 || res.WebhookDeliveries < 3 || res.WebhookEvents < 4 || res.KeyUsageHours < 1 {
		t.Errorf("reported %+v", res)
	}
	again, err := models.RunRetention(ctx, db, now)
	if err != nil {
		t.Fatal(err)
	}
	if again.QuotaAlerts+again.WebhookDeliveries+again.WebhookEvents+again.KeyUsageHours != 0 {
		t.Errorf("a second sweep deleted %+v", again)
	}
}

// retentionHelpers are the retention tests' two helpers: inWS runs a statement in a workspace's
// transaction, count scans one number as the owner.
func retentionHelpers(t *testing.T, db, owner *bun.DB) (inWS func(ws uuid.UUID, q string, args ...any), count func(q string, args ...any) int) {
	inWS = func(ws uuid.UUID, q string, args ...any) {
		t.Helper()
		err := models.InWorkspace(testdb.Ctx(t), db, ws, func(ctx context.Context, tn *models.Tenant) error {
			_, err := tn.Tx().NewRaw(q, args...).Exec(ctx)
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	count = func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := owner.NewRaw(q, args...).Scan(context.Background(), &n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	return inWS, count
}
