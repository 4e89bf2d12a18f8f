package models_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

func newSupportUser(t *testing.T, db bun.IDB) *models.User {
	t.Helper()
	u, err := models.CreateUser(context.Background(), db, models.NewUser{
		Email: "support-" + uuid.NewString()[:8] + "@example.com", Name: "Sam Support", Password: "correct horse battery", StaffRole: models.StaffSupport}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// supportFixture is a few workspaces sharing a unique word in their names, so a search finds
// exactly them among the package's other workspaces.
type supportFixture struct {
	word string
	ws   map[string]*models.Workspace // by short name
	mail string                       // the email of a member of "beta" only
}

func newSupportFixture(t *testing.T, db bun.IDB, now time.Time) *supportFixture {
	t.Helper()
	ctx := context.Background()
	f := &supportFixture{word: "zq" + uuid.NewString()[:6], ws: map[string]*models.Workspace{}}
	spec := []struct {
		name           string
		tier           models.Tier
		extraMembers   int
		minutes, calls int64
	}{
		{"alpha", models.TierFree, 0, 900, 100},          // 90 % of minutes, 100 % of calls
		{"beta", models.TierStarter, 2, 2_000, 10},       // 20 %, 1 %, 3 of 3 seats
		{"gamma", models.TierPro, 0, 50_000, 9_000},      // 50 %, 90 %
		{"delta", models.TierEnterprise, 0, 900_000, 50}, // unlimited
	}
	for _, s := range spec {
		owner := newUser(t, db)
		slug := s.name + "-" + f.word
		ws, err := models.CreateWorkspace(ctx, db, owner, strings.ToUpper(s.name[:1])+s.name[1:]+" "+f.word, slug, testdb.Clock())
		if err != nil {
			t.Fatal(err)
		}
		f.ws[s.name] = ws
		err = models.InWorkspace(ctx, db, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			if _, err := tn.Tx().NewUpdate().Model(ws).Set("tier = ?", s.tier).WherePK().Exec(ctx); err != nil {
				return err
			}
			ws.Tier = s.tier
			for i := range s.extraMembers {
				u := newUser(t, db)
				if i == 0 {
					f.mail = u.Email
				}
				if _, err := tn.Tx().NewInsert().Model(&models.Member{CreatedAt: testdb.Clock(), UserID: u.ID, Role: models.RoleMember}).Exec(ctx); err != nil {
					return err
				}
			}
			// Last month's minutes and last hour's calls must not count. In a month's first hour
			// some of these hours are the same one: their counts add up in one row.
			var rows []*models.UsageHour
			put := func(h time.Time, calls, minutes int64) {
				for _, r := range rows {
					if r.Hour.Equal(h) {
						r.APICalls, r.AgentMinutes = r.APICalls+calls, r.AgentMinutes+minutes
						return
					}
				}
				rows = append(rows, &models.UsageHour{Hour: h, APICalls: calls, AgentMinutes: minutes})
			}
			put(now.Truncate(time.Hour), s.calls, s.minutes/2)
			put(models.MonthStart(now), 0, s.minutes-s.minutes/2)
			put(models.MonthStart(now).Add(-time.Hour), 1, 777)
			put(now.Truncate(time.Hour).Add(-time.Hour), 555, 0)
			_, err := tn.Tx().NewInsert().Model(&rows).Exec(ctx)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func TestSupportWorkspacesTable(t *testing.T) {
	db := testdb.Get(t).App
	ctx := testdb.Ctx(t)
	now := testdb.Now(t).Truncate(time.Minute)
	f := newSupportFixture(t, db, now)
	staff := newSupportUser(t, db)

	t.Run("only support staff", func(t *testing.T) {
		if _, err := models.SupportWorkspaces(ctx, db, newUser(t, db), models.SupportQuery{}, now); !errors.Is(err, models.ErrNotFound) {
			t.Fatalf("a customer: %v, want ErrNotFound", err)
		}
	})
	list := func(q models.SupportQuery) *models.SupportListing {
		t.Helper()
		l, err := models.SupportWorkspaces(ctx, db, staff, q, now)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	names := func(l *models.SupportListing) string {
		var out []string
		for _, r := range l.Rows {
			out = append(out, strings.Fields(r.Name)[0])
		}
		return strings.Join(out, " ")
	}
	t.Run("numbers", func(t *testing.T) {
		l := list(models.SupportQuery{Q: f.word})
		if l.Total != 4 || len(l.Rows) != 4 {
			t.Fatalf("%d of %d rows", len(l.Rows), l.Total)
		}
		want := map[string][3]int64{"alpha": {1, 900, 100}, "beta": {3, 2_000, 10}, "gamma": {1, 50_000, 9_000}, "delta": {1, 900_000, 50}}
		for _, r := range l.Rows {
			w := want[strings.ToLower(strings.Fields(r.Name)[0])]
			if r.Seats() != w[0] || r.AgentMinutes != w[1] || r.APICalls != w[2] {
				t.Errorf("%s: seats %d, minutes %d, calls %d; want %v", r.Slug, r.Seats(), r.AgentMinutes, r.APICalls, w)
			}
		}
	})
	t.Run("search", func(t *testing.T) {
		for _, tt := range []struct{ q, want string }{
			{"ALPHA-" + strings.ToUpper(f.word), "Alpha"},
			{"Gamma " + f.word, "Gamma"},
			{f.mail, "Beta"},
			{strings.ToUpper(f.mail[:12]), "Beta"},
			{f.word + "%", ""},
			{"_" + f.word, ""},
		} {
			if got := names(list(models.SupportQuery{Q: tt.q})); got != tt.want {
				t.Errorf("search %q: %q, want %q", tt.q, got, tt.want)
			}
		}
	})
	t.Run("sort", func(t *testing.T) {
		for _, tt := range []struct {
			sort string
			desc bool
			want string
		}{
			{"", false, "Alpha Beta Delta Gamma"},
			{"name", true, "Gamma Delta Beta Alpha"},
			{"tier", true, "Delta Gamma Beta Alpha"},
			{"members", true, "Beta Alpha Delta Gamma"},
			{"agent_minutes", true, "Delta Gamma Beta Alpha"},
			{"agent_minutes_pct", true, "Alpha Gamma Beta Delta"}, // unlimited last
			{"agent_minutes_pct", false, "Beta Gamma Alpha Delta"},
			{"api_calls", false, "Beta Delta Alpha Gamma"},
			{"api_calls_pct", true, "Alpha Gamma Beta Delta"},
			{"members_pct", true, "Alpha Beta Gamma Delta"},
			{"no-such-column; DROP TABLE users", false, "Alpha Beta Delta Gamma"},
		} {
			if got := names(list(models.SupportQuery{Q: f.word, Sort: tt.sort, Desc: tt.desc})); got != tt.want {
				t.Errorf("sort %s desc=%v: %q, want %q", tt.sort, tt.desc, got, tt.want)
			}
		}
	})
	t.Run("pages", func(t *testing.T) {
		var got []string
		for page := 1; page <= 3; page++ {
			l := list(models.SupportQuery{Q: f.word, Sort: "name", Page: page, PerPage: 3})
			if l.Pages != 2 || l.Total != 4 {
				t.Fatalf("page %d: %d pages, %d total", page, l.Pages, l.Total)
			}
			got = append(got, names(l))
		}
		if fmt.Sprint(got) != "[Alpha Beta Delta Gamma ]" {
			t.Fatalf("pages %q", got)
		}
	})
	t.Run("CSV", func(t *testing.T) {
		l := list(models.SupportQuery{Q: "alpha-" + f.word})
		rec := l.Rows[0].CSVRecord()
		want := []string{"Alpha " + f.word, "alpha-" + f.word, "free", "1", "0", "1", "100.0", "900", "1000", "90.0", "100", "100", "100.0"}
		if len(rec) != len(models.SupportCSVHeader) || fmt.Sprint(rec[:len(want)]) != fmt.Sprint(want) {
			t.Fatalf("CSV %q", rec)
		}
		d := list(models.SupportQuery{Q: "delta-" + f.word}).Rows[0].CSVRecord()
		if d[5] != "" || d[6] != "" || d[8] != "" || d[9] != "" {
			t.Fatalf("unlimited limits must be empty: %q", d)
		}
	})
}

// TestSupportWorkspaceReadsOneWorkspace: support's look at a workspace is its own numbers, not
// every workspace's (the read is bound to it); it is read-only; and the look lands in that
// workspace's audit log, before the read.
func TestSupportWorkspaceReadsOneWorkspace(t *testing.T) {
	db := testdb.Get(t).App
	ctx := testdb.Ctx(t)
	now := testdb.Now(t).Truncate(time.Minute)
	f := newSupportFixture(t, db, now)
	staff := newSupportUser(t, db)
	beta := f.ws["beta"]
	primary := func() *bun.DB { return db }

	if _, _, err := models.SupportLook(ctx, db, primary, newUser(t, db), beta.Slug, now, 7); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("a customer: %v, want ErrNotFound", err)
	}
	if _, _, err := models.SupportLook(ctx, db, primary, staff, "no-such-"+f.word, now, 7); !errors.Is(err, models.ErrNotFound) {
		t.Fatalf("unknown slug: %v, want ErrNotFound", err)
	}
	if _, err := models.GrantSupportAccess(ctx, db, staff, beta.ID, "Usage question", "T-7", now, time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	// The look is recorded before the usage is read: a read that fails still leaves it recorded.
	_, _, err := models.SupportLook(ctx, db, func() *bun.DB {
		if n := auditCount(t, testdb.Get(t).Owner, beta.ID, "support.view"); n != 1 {
			t.Errorf("%d support.view events in beta before the read, want 1", n)
		}
		closed, err := testdb.Get(t).OpenApp(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		closed.Close()
		return closed
	}, staff, beta.Slug, now, 7)
	if err == nil {
		t.Fatal("a look whose read fails answers no error")
	}
	_, v, err := models.SupportLook(ctx, db, primary, staff, beta.Slug, now, 7)
	if err != nil {
		t.Fatal(err)
	}
	// The 7 days hold this hour's 10 calls and last hour's 555, and last month's one call when its
	// last hour is within them (early in a month).
	wantSeries := int64(10 + 555)
	if lastMonth := models.MonthStart(now).Add(-time.Hour); !lastMonth.Before(v.Series.From) {
		wantSeries++
	}
	if v.Workspace.ID != beta.ID || v.Members != 3 || v.Usage.Members != 3 || v.Usage.AgentMinutesMonth != 2_000 ||
		v.Usage.APICallsHour != 10 || v.Month.AgentMinutes != 2_000 || v.Series.APICalls != wantSeries || v.Usage.Tier != models.TierStarter {
		t.Fatalf("support view of beta: members %d, usage %+v, month %+v, series calls %d", v.Members, v.Usage, v.Month, v.Series.APICalls)
	}
	if len(v.Series.Hours) != 7*24-23+now.Hour() || len(v.Series.Daily) != 7 {
		t.Fatalf("series of %d hours and %d days", len(v.Series.Hours), len(v.Series.Daily))
	}

	var p *models.AuditPage
	err = models.InWorkspace(ctx, db, beta.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		p, err = models.ListAudit(ctx, tn, models.AuditFilter{Action: "support.view"})
		if err != nil {
			return err
		}
		// The looks written by the database hold in the hash chain like every other line.
		r, err := models.VerifyAuditChain(ctx, tn, testdb.Clock())
		if err == nil && !r.OK() {
			t.Errorf("beta's audit chain after support's looks: %v", r.Broken)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) != 2 {
		t.Fatalf("%d support.view events in beta, want 2", len(p.Entries))
	}
	e := p.Entries[0]
	if e.ActorEmail != staff.Email || e.ActorStaff != models.StaffSupport || e.Target != beta.Slug || e.Details["page"] != "usage" ||
		e.Details["reason"] != "Usage question" || e.Details["ticket"] != "T-7" || fmt.Sprint(e.Details["range_days"]) != "7" {
		t.Fatalf("event %+v", e)
	}
	if n := auditCount(t, testdb.Get(t).Owner, f.ws["alpha"].ID, "support.view"); n != 0 {
		t.Fatalf("alpha got %d support.view events", n)
	}
}

// TestUsageMonthlyRollupFollowsEveryWrite: inserts, upserts, updates and deletes of hourly rows
// keep the rollup equal to the hourly sum, month by month.
func TestUsageMonthlyRollupFollowsEveryWrite(t *testing.T) {
	db := testdb.Get(t).App
	ws := newFixtureWorkspace(t, db)
	h := time.Date(2026, 8, 31, 23, 0, 0, 0, time.UTC)
	check := func(step string) {
		t.Helper()
		var bad []string
		err := testdb.Get(t).Owner.NewRaw(`SELECT format('%s: rollup %s, hourly %s', months.m, coalesce(r.agent_minutes, 0), coalesce(h.s, 0))
			FROM (SELECT DISTINCT date_trunc('month', hour, 'UTC') AS m FROM usage_hourly WHERE workspace_id = ?0
			      UNION SELECT month FROM usage_monthly WHERE workspace_id = ?0) AS months
			LEFT JOIN usage_monthly AS r ON r.workspace_id = ?0 AND r.month = months.m
			LEFT JOIN (SELECT date_trunc('month', hour, 'UTC') AS m, sum(agent_minutes) AS s FROM usage_hourly WHERE workspace_id = ?0 GROUP BY 1) AS h ON h.m = months.m
			WHERE coalesce(r.agent_minutes, 0) <> coalesce(h.s, 0)`, ws).Scan(context.Background(), &bad)
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
	exec("an API call's new hour", `INSERT INTO usage_hourly (workspace_id, hour, api_calls) VALUES (?, ?, 1)`, ws, h)
	exec("minutes added by upsert", `INSERT INTO usage_hourly AS u (workspace_id, hour, agent_minutes) VALUES (?, ?, 30)
		ON CONFLICT (workspace_id, hour) DO UPDATE SET agent_minutes = u.agent_minutes + EXCLUDED.agent_minutes`, ws, h)
	exec("minutes in a new hour of the next month", `INSERT INTO usage_hourly AS u (workspace_id, hour, agent_minutes) VALUES (?, ?, 12)
		ON CONFLICT (workspace_id, hour) DO UPDATE SET agent_minutes = u.agent_minutes + EXCLUDED.agent_minutes`, ws, h.Add(time.Hour))
	exec("API calls counted", `UPDATE usage_hourly SET api_calls = api_calls + 5 WHERE workspace_id = ?`, ws)
	exec("minutes corrected", `UPDATE usage_hourly SET agent_minutes = agent_minutes - 10 WHERE workspace_id = ? AND hour = ?`, ws, h)
	exec("an hour moved across months", `UPDATE usage_hourly SET hour = hour - interval '2 hours' WHERE workspace_id = ? AND hour = ?`, ws, h.Add(time.Hour))
	exec("rows deleted", `DELETE FROM usage_hourly WHERE workspace_id = ? AND hour = ?`, ws, h)
	var rolled int64
	if err := testdb.Get(t).Owner.NewRaw("SELECT coalesce(sum(agent_minutes), 0) FROM usage_monthly WHERE workspace_id = ?", ws).Scan(context.Background(), &rolled); err != nil {
		t.Fatal(err)
	}
	if rolled != 12 {
		t.Fatalf("rollup holds %d minutes in all, want 12", rolled)
	}
}

// TestSupportFunctionOnlyInReadOnlyCrossTenantTransactions: the owner-rights function behind the
// support table refuses a workspace's transaction, and a cross-tenant setting in a writable one.
func TestSupportFunctionOnlyInReadOnlyCrossTenantTransactions(t *testing.T) {
	db := testdb.Get(t).App
	ctx := testdb.Ctx(t)
	ws := newFixtureWorkspace(t, db)
	call := func(ctx context.Context, tx bun.IDB) error {
		var n int
		return tx.NewRaw("SELECT count(*) FROM atrium_support_workspaces(?)", testdb.Now(t)).Scan(ctx, &n)
	}
	if err := models.InWorkspace(ctx, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		return call(ctx, tn.Tx())
	}); err == nil || !strings.Contains(err.Error(), "read-only cross-tenant") {
		t.Errorf("in a workspace's transaction: %v", err)
	}
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.cross_tenant', 'read', true)"); err != nil {
			return err
		}
		return call(ctx, tx)
	})
	if err == nil || !strings.Contains(err.Error(), "read-only cross-tenant") {
		t.Errorf("cross-tenant but writable: %v", err)
	}
	if err := models.ReadAcrossTenants(ctx, db, "test", func(ctx context.Context, all *models.AllTenants) error {
		return call(ctx, all.Tx())
	}); err != nil {
		t.Errorf("in ReadAcrossTenants: %v", err)
	}
}
