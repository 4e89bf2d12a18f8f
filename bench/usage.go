package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/uptrace/bun"

	"atrium/models"
)

// The usage section's sizes: 10,000 workspaces × 90 days × 24 hours = 21.6 million hourly rows.
const (
	usageWorkspaces = 10_000
	usageDays       = 90
	usageRequests   = 200 // measured per case, one client after usageWarmup
	usageWarmup     = 20
)

// benchUsage measures the usage page and the support console's table over a realistic volume of
// metered use, seeded by one set-based statement per table.
func benchUsage(ctx context.Context, env *Env) error {
	start := time.Now()
	if err := seedUsage(ctx, env); err != nil {
		return err
	}
	seeded := time.Since(start)
	var rows int64
	if err := env.Owner.NewRaw("SELECT count(*) FROM usage_hourly WHERE workspace_id IS NOT NULL").Scan(ctx, &rows); err != nil {
		return err
	}
	env.Log.Info("seeded", "workspaces", usageWorkspaces, "hourly rows", rows, "took", seeded.Round(time.Second))

	ownerEmail, supportEmail := "bench-usage-owner@example.com", "bench-support@example.com"
	const password = "bench password, not secret"
	owner, err := models.CreateUser(ctx, env.App, models.NewUser{Email: ownerEmail, Name: "Bench Owner", Password: password})
	if err != nil {
		return err
	}
	if _, err := models.CreateUser(ctx, env.App, models.NewUser{Email: supportEmail, Name: "Bench Support", Password: password,
		StaffRole: models.StaffSupport}); err != nil {
		return err
	}
	// The measured workspace is a pro one in the middle of the set.
	if _, err := env.Owner.ExecContext(ctx, `UPDATE workspaces SET tier = 'pro' WHERE slug = 'bench-5000';
		INSERT INTO workspace_members (workspace_id, user_id, role) SELECT id, ?, 'owner' FROM workspaces WHERE slug = 'bench-5000'`, owner.ID); err != nil {
		return err
	}
	ownerClient, err := benchLogin(ctx, env.URL, ownerEmail, password)
	if err != nil {
		return err
	}
	supportClient, err := benchLogin(ctx, env.URL, supportEmail, password)
	if err != nil {
		return err
	}
	get := func(c *http.Client, path string, htmx bool) func(context.Context) error {
		return func(ctx context.Context) error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.URL+path, nil)
			if htmx {
				req.Header.Set("HX-Request", "true")
			}
			res, err := c.Do(req)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d", path, res.StatusCode)
			}
			return err
		}
	}
	cases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"usage page, 7 days (168 hourly points)", get(ownerClient, "/w/bench-5000/usage?range=7", false)},
		{"usage page, 90 days (2,160 hourly points)", get(ownerClient, "/w/bench-5000/usage?range=90", false)},
		{"usage numbers fragment (the 30 s poll)", get(ownerClient, "/w/bench-5000/usage?range=90", true)},
		{"usage CSV, 90 days", get(ownerClient, "/w/bench-5000/usage.csv?range=90", false)},
		{"support table, by name, page 1", get(supportClient, "/support/workspaces", false)},
		{"support table, by agent-minutes ↓", get(supportClient, "/support/workspaces?sort=agent_minutes&dir=desc", false)},
		{"support table, by % of API-call limit ↓, page 100", get(supportClient, "/support/workspaces?sort=api_calls_pct&dir=desc&page=100", false)},
		{"support table, search by member email", get(supportClient, "/support/workspaces?q="+url.QueryEscape("bench-user-4242@"), false)},
		{"support usage page of a workspace, 90 days", get(supportClient, "/support/workspaces/bench-5000?range=90", false)},
	}
	results := make([]result, len(cases))
	for i, c := range cases {
		if results[i], err = measureSerial(ctx, c.name, c.fn); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.Out, "%d workspaces, %d days of hourly usage each (%s rows in usage_hourly), seeded in %s\n",
		usageWorkspaces, usageDays, models.FormatCount(rows), seeded.Round(time.Second))
	fmt.Fprintf(env.Out, "%d requests per case after %d warm-up, one client at a time (page latency, not throughput), loopback, GOMAXPROCS=%d\n\n",
		usageRequests, usageWarmup, runtime.GOMAXPROCS(0))
	w := tabwriter.NewWriter(env.Out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "case\treq/s\tp50\tp99\t")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t\n", r.name, r.rps, ms(r.p50), ms(r.p99))
	}
	w.Flush()
	fmt.Fprintln(env.Out, "\nThe seed writes each workspace's hours together (clustered by workspace), which is kind to one workspace's page and")
	fmt.Fprintln(env.Out, "unkind to \"this hour of every workspace\"; live metering writes hour by hour, the other way round.")
	return nil
}

// seedUsage makes usageWorkspaces workspaces with an owner each, one to five members, and
// usageDays days of hourly use ending this hour. One transaction on the owner connection, one
// INSERT … SELECT generate_series per table. It needs a superuser owner (the default test server
// and the embedded cluster are): row-level security is forced on the owner too, and replication
// mode skips the per-row foreign-key checks and rollup triggers, whose result the last statement
// writes in one aggregate instead.
func seedUsage(ctx context.Context, env *Env) error {
	var super bool
	if err := env.Owner.NewRaw("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(ctx, &super); err != nil {
		return err
	}
	if !super {
		return fmt.Errorf("the usage section seeds with set-based inserts, which row-level security allows only a superuser: point TEST_DATABASE_URL at a superuser")
	}
	err := env.Owner.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		steps := []struct{ what, sql string }{
			{"replication mode", `SET LOCAL session_replication_role = replica`},
			{"users", `INSERT INTO users (id, email, password_hash, name)
				SELECT gen_random_uuid(), 'bench-user-' || n || '@example.com', 'not-a-password-hash', 'Bench User ' || n
				FROM generate_series(1, ?0) AS n`},
			{"workspaces", `INSERT INTO workspaces (id, name, slug, tier, created_at)
				SELECT gen_random_uuid(), 'Bench Tenant ' || n, 'bench-' || n,
					(ARRAY['free', 'free', 'free', 'free', 'starter', 'starter', 'starter', 'pro', 'pro', 'enterprise'])[n % 10 + 1]::workspace_tier,
					now() - interval '100 days'
				FROM generate_series(1, ?0) AS n`},
			{"members", `INSERT INTO workspace_members (workspace_id, user_id, role)
				SELECT w.id, u.id, CASE WHEN k = 0 THEN 'owner' ELSE 'member' END::member_role
				FROM (SELECT id, substr(slug, 7)::int AS n FROM workspaces WHERE slug LIKE 'bench-%') AS w
				CROSS JOIN LATERAL generate_series(0, w.n % 5) AS k
				JOIN users AS u ON u.email = 'bench-user-' || ((w.n + k * 7) % ?0 + 1) || '@example.com'`},
			{"hourly usage", `INSERT INTO usage_hourly (workspace_id, hour, api_calls, agent_minutes)
				SELECT w.id, date_trunc('hour', now()) - g * interval '1 hour',
					(w.n * 37 + g * 11) % (CASE w.tier WHEN 'free' THEN 8 WHEN 'starter' THEN 90 ELSE 900 END),
					CASE WHEN (w.n + g) % 6 = 0 THEN (w.n + g) % (CASE w.tier WHEN 'free' THEN 9 ELSE 60 END) ELSE 0 END
				FROM (SELECT id, tier, substr(slug, 7)::int AS n FROM workspaces WHERE slug LIKE 'bench-%' ORDER BY id) AS w
				CROSS JOIN LATERAL generate_series(?1 * 24 - 1, 0, -1) AS g`},
			{"monthly rollup", `INSERT INTO usage_monthly (workspace_id, month, agent_minutes)
				SELECT workspace_id, date_trunc('month', hour, 'UTC'), sum(agent_minutes)
				FROM usage_hourly WHERE workspace_id IN (SELECT id FROM workspaces WHERE slug LIKE 'bench-%')
				GROUP BY 1, 2 HAVING sum(agent_minutes) <> 0`},
		}
		for _, s := range steps {
			t0 := time.Now()
			if _, err := tx.NewRaw(s.sql, usageWorkspaces, usageDays).Exec(ctx); err != nil {
				return fmt.Errorf("seed %s: %w", s.what, err)
			}
			env.Log.Info("seed", "step", s.what, "took", time.Since(t0).Round(time.Millisecond))
		}
		return nil
	})
	if err != nil {
		return err
	}
	// What autovacuum would do soon after such a load (without statistics the planner guesses), and
	// the load's dirty pages written now rather than by a checkpoint in the middle of the figures.
	_, err = env.Owner.ExecContext(ctx, "ANALYZE users, workspaces, workspace_members, invitations, usage_hourly, usage_monthly; CHECKPOINT")
	return err
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)"`)

// benchLogin logs a cookie-keeping client in through the real form.
func benchLogin(ctx context.Context, base, email, password string) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/login", nil)
	res, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfMeta.FindSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("no CSRF token on /login")
	}
	form := url.Values{"email": {email}, "password": {password}, "_csrf": {string(m[1])}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err = c.Do(req)
	if err != nil {
		return nil, err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		return nil, fmt.Errorf("log in as %s: %d", email, res.StatusCode)
	}
	return c, nil
}

// measureSerial runs fn usageWarmup times, then usageRequests times one after another, and reports
// the rate and the latency percentiles of the measured part.
func measureSerial(ctx context.Context, name string, fn func(context.Context) error) (result, error) {
	for range usageWarmup {
		if err := fn(ctx); err != nil {
			return result{}, err
		}
	}
	lat := make([]time.Duration, usageRequests)
	start := time.Now()
	for i := range lat {
		t0 := time.Now()
		if err := fn(ctx); err != nil {
			return result{}, err
		}
		lat[i] = time.Since(t0)
	}
	took := time.Since(start)
	slices.Sort(lat)
	return result{name: name, rps: float64(usageRequests) / took.Seconds(), p50: lat[usageRequests/2], p99: lat[usageRequests*99/100]}, nil
}
