package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// TestConsolePagesInAtMostFiveRoundTrips: every workspace page (overview, members with a search, a
// role filter and an order, invitations pending and expired, keys, usage over 7 and 90 days, audit log and a filtered one, settings, webhooks and an endpoint with its deliveries,
// agents, an agent, tasks and a filtered list, a task) and the support console's pages (its list, a
// search, a look at a workspace under a grant, the scheduled deletions) makes at most five database
// round trips and five statements, counted on the wire with models/wirecount, session and frame
// included, once the once-a-minute notes (last active) are made. Only the pool the server is given
// is counted: no replica is configured here, so every read goes to it.
func TestConsolePagesInAtMostFiveRoundTrips(t *testing.T) {
	d := testdb.Get(t)
	var w testdb.WireCount
	opt := d.AppOptions(4)
	opt.Dial = w.Dial
	db, err := models.Open(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	app := &webtest.App{T: t, DB: d}
	app.Server = handlers.New(db, handlers.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	app.Server.Now = testdb.Clock
	app.HTTP = httptest.NewServer(app.Server)
	t.Cleanup(app.HTTP.Close)

	owner := app.User(webtest.UniqueEmail("rt"))
	ws := app.Workspace(owner, webtest.UniqueSlug("rt"))
	for i := range 3 {
		app.AddMember(ws, app.User(webtest.UniqueEmail("rt-member")), []models.Role{models.RoleAdmin, models.RoleMember, models.RoleViewer}[i])
	}
	keyK, key := apiKeyFor(t, app, ws, owner, models.RoleOwner, "read_write", "30")
	// 300 keys, each with calls in the last day: the list shows every key's calls of the last 24
	// hours in the same statement as its page.
	err = models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for i := range 299 {
			if _, _, err := models.CreateKey(ctx, tn, models.Actor{UserID: owner.ID, Role: models.RoleOwner},
				models.NewKey{Name: "fleet " + strconv.Itoa(i), Scope: "read", ExpiresInDays: "0",
					KeyControls: models.KeyControls{RateLimitPerHour: "10", AllowedIPs: "10.0.0.0/8"}}, testdb.Now(t)); err != nil {
				return err
			}
		}
		_, err := tn.Tx().NewRaw(`INSERT INTO api_key_usage_hourly (workspace_id, key_id, hour, calls)
			SELECT workspace_id, id, date_trunc('hour', ?::timestamptz), 3 FROM api_keys WHERE workspace_id = ?`, testdb.Now(t), ws.ID).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	agent := apiCall(t, app.HTTP.URL, "POST", "/api/v1/agents", key, `{"name": "rt"}`).JSON(t)["id"].(string)
	task := apiCall(t, app.HTTP.URL, "POST", "/api/v1/tasks", key, `{"agent_id": "`+agent+`"}`).JSON(t)["id"].(string)
	apiCall(t, app.HTTP.URL, "POST", "/api/v1/tasks/"+task+"/messages", key, `{"role": "user", "body": "hi"}`)
	c := app.Login(owner.Email)
	hook := c.Post("/w/"+ws.Slug+"/settings/webhooks", url.Values{"url": {"https://example.com/hook"}, "event_types": {"invitation.*"}}).
		Header.Get("Location")
	if !strings.HasPrefix(hook, "/w/"+ws.Slug+"/settings/webhooks/") {
		t.Fatalf("new endpoint: redirected to %q", hook)
	}
	c.Post("/w/"+ws.Slug+"/invitations", url.Values{"email": {webtest.UniqueEmail("rt-invitee")}, "role": {"member"}})
	_, sup := supportLogin(t, app)
	supportOpen(t, sup, ws.Slug)
	base := "/w/" + ws.Slug
	type page struct {
		who  *webtest.Client
		path string
		htmx bool
	}
	status := func(string) int { return http.StatusOK }
	var pages []page
	for _, p := range []string{base, base + "/members", base + "/members?q=rt-member", base + "/members?role=viewer&sort=-active&page=2",
		base + "/members?sort=name", base + "/invitations", base + "/invitations?status=expired", base + "/keys",
		base + "/keys?page=6", base + "/keys/" + keyK.ID.String(),
		base + "/usage?range=90", base + "/usage", base + "/audit", base + "/audit?action=member.invite", base + "/settings", base + "/settings/alerts",
		base + "/agents", base + "/agents/" + agent, base + "/tasks", base + "/tasks?status=running&agent=" + agent,
		base + "/tasks/" + task, base + "/settings/webhooks", hook, base + "/settings/export"} {
		pages = append(pages, page{c, p, false})
	}
	pages = append(pages, page{c, "/workspaces", false})
	// The settings page with an export under way, and the export section htmx polls.
	c.Get(base + "/settings")
	if res := c.Post(base+"/settings/export", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("start an export: %d", res.StatusCode)
	}
	pages = append(pages, page{c, base + "/settings/export", true})
	for _, p := range []string{"/support/workspaces", "/support/workspaces?q=" + ws.Slug, "/support/workspaces/" + ws.Slug, "/support/deletions"} {
		pages = append(pages, page{sup, p, false})
	}
	// A search is three round trips of four statements: the session, its read (the cross-tenant,
	// read-only opening and the statement, in one batch) and its line in the platform log. A look at
	// a workspace is three of four: the session, the grant's lookup with the look written into the
	// workspace's audit log (one statement), and the usage (its read-only binding and the statement,
	// in one batch), with prepared statements or without.
	budget := map[string]int64{}
	// Pages whose read is one statement send it with the workspace's binding (models.ReadPage):
	// with the session and frame, two round trips of three statements. Without prepared statements
	// (a transaction pooler) they are read in a transaction, within five.
	trips := map[string]int64{}
	if models.PreparesStatements(db) {
		for _, p := range []string{base, base + "/members", base + "/members?q=rt-member", base + "/members?role=viewer&sort=-active&page=2",
			base + "/members?sort=name", base + "/usage?range=90", base + "/usage", base + "/settings", base + "/settings/alerts",
			base + "/invitations", base + "/invitations?status=expired"} {
			budget[p], trips[p] = 3, 2
		}
		// The pages that show the usage numbers send the running tasks' count, planned at each
		// call, beside their statement: a fourth statement, in the same round trip.
		for _, p := range []string{base, base + "/usage?range=90", base + "/usage", base + "/settings"} {
			budget[p] = 4
		}
	}
	limit := func(p string) int64 {
		if n, ok := budget[p]; ok {
			return n
		}
		return 5
	}
	get := func(p page) *webtest.Response {
		if p.htmx {
			return p.who.HTMX(http.MethodGet, p.path, nil)
		}
		return p.who.Get(p.path)
	}
	for _, p := range pages { // settle: the session's CSRF token and workspace, last active
		if res := get(p); res.StatusCode != status(p.path) {
			t.Fatalf("GET %s: %d", p.path, res.StatusCode)
		}
	}
	for _, pg := range pages {
		p := pg.path
		best, bestSt := int64(1<<30), int64(1<<30)
		for range 3 { // a pooled connection idle for a second is pinged first: take the best of three
			rt0, st0 := w.RoundTrips.Load(), w.Statements.Load()
			if res := get(pg); res.StatusCode != status(p) {
				t.Fatalf("GET %s: %d", p, res.StatusCode)
			}
			rt, st := w.RoundTrips.Load()-rt0, w.Statements.Load()-st0
			best, bestSt = min(best, rt), min(bestSt, st)
			time.Sleep(10 * time.Millisecond)
		}
		// The once-a-minute note of last activity is a statement of its own: the best of three.
		if bestSt > limit(p) {
			t.Errorf("GET %s: %d statements, want at most %d", p, bestSt, limit(p))
		}
		tripLimit := limit(p)
		if n, ok := trips[p]; ok {
			tripLimit = n
		}
		if best > tripLimit {
			t.Errorf("GET %s: %d round trips, want at most %d", p, best, tripLimit)
		}
		t.Logf("GET %s: %d round trips, %d statements", p, best, bestSt)
	}
}
