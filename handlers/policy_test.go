package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
)

// TestEveryRouteHasAnAccessRule walks the router: every route it answers is a row of the table
// with a known rule, and every row of the table is routed.
func TestEveryRouteHasAnAccessRule(t *testing.T) {
	app := webtest.Start(t)
	rows := map[string]handlers.Row{}
	for _, r := range handlers.Table() {
		key := r.Method + " " + r.Path
		if _, dup := rows[key]; dup {
			t.Errorf("route %s is in the table twice", key)
		}
		if r.Who == "" || r.Who == "member" && r.Action == "" || r.Who == "api" && r.Scope == "" {
			t.Errorf("route %s has no complete rule: %+v", key, r)
		}
		if r.Who == "member" && !models.RoleOwner.Can(r.Action) {
			t.Errorf("route %s names action %q, which no role may do", key, r.Action)
		}
		rows[key] = r
	}
	routed := map[string]bool{}
	for _, r := range app.Server.Echo().Routes() {
		if r.Method == "echo_route_not_found" {
			continue // the groups' catch-alls for unknown paths
		}
		key := r.Method + " " + r.Path
		if _, ok := rows[key]; !ok {
			t.Errorf("route %s is not in the route table", key)
		}
		routed[key] = true
	}
	for key := range rows {
		if !routed[key] {
			t.Errorf("table row %s is not routed", key)
		}
	}
	if len(routed) < 10 {
		t.Fatalf("walked only %d routes", len(routed))
	}
	// Workspace pages are member routes and nothing else.
	for key, r := range rows {
		if strings.Contains(key, " /w/:slug") != (r.Who == "member") {
			t.Errorf("route %s: rule %q; every /w/:slug route, and only those, is a member route", key, r.Who)
		}
	}
}

// fillParams puts values into a route pattern.
func fillParams(path, slug string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		switch {
		case p == ":slug":
			parts[i] = slug
		case strings.HasPrefix(p, ":"):
			parts[i] = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
		case p == "*":
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "/")
}

// rowsWho returns the table's rows for one audience.
func rowsWho(who string) []handlers.Row {
	var out []handlers.Row
	for _, r := range handlers.Table() {
		if r.Who == who {
			out = append(out, r)
		}
	}
	return out
}

// send makes the request a route row describes, with the client's CSRF token on a POST.
func send(c *webtest.Client, r handlers.Row, path string) *webtest.Response {
	if r.Method == http.MethodGet {
		return c.Get(path)
	}
	return c.Do(r.Method, path, url.Values{"_csrf": {c.CSRF}}, nil)
}

// TestNonMemberGets404OnEveryWorkspaceRoute: for every member route of the table, a signed-in
// user who is not a member sees 404, the same as for a workspace that does not exist.
func TestNonMemberGets404OnEveryWorkspaceRoute(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("private"))
	outsider := app.Login(webtest.UniqueEmail("outsider"))
	checked := 0
	for _, r := range rowsWho("member") {
		for _, slug := range []string{ws.Slug, "no-such-workspace"} {
			path := fillParams(r.Path, slug)
			if res := send(outsider, r, path); res.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s as a non-member: %d, want 404", r.Method, path, res.StatusCode)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("only %d workspace requests checked", checked)
	}
}

// TestRoleThatMayNotActGets403OnEveryWorkspaceRoute: for every member route, each role that may
// not do the route's action (by the models' own rule) is refused with 403 before the handler runs.
func TestRoleThatMayNotActGets403OnEveryWorkspaceRoute(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("roles"))
	clients := map[models.Role]*webtest.Client{}
	for _, role := range []models.Role{models.RoleAdmin, models.RoleMember, models.RoleViewer} {
		email := webtest.UniqueEmail(string(role))
		app.AddMember(ws, app.User(email), role)
		clients[role] = app.Login(email)
	}
	refused := 0
	for _, r := range rowsWho("member") {
		path := fillParams(r.Path, ws.Slug)
		for role, c := range clients {
			if role.Can(r.Action) {
				continue
			}
			if res := send(c, r, path); res.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s as %s (may not %s): %d, want 403", r.Method, path, role, r.Action, res.StatusCode)
			}
			refused++
		}
	}
	if refused < 20 {
		t.Fatalf("only %d refusals checked", refused)
	}
}

// TestAnonymousIsSentToLogin: protected pages redirect to the log-in page with next=, every
// signed-in, member and support page of the table alike.
func TestAnonymousIsSentToLogin(t *testing.T) {
	app := webtest.Start(t)
	c := app.Client()
	res := c.Get("/w/some-space")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fw%2Fsome-space" {
		t.Fatalf("anonymous: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	checked := 0
	for _, who := range []string{"signed-in", "member", "support"} {
		for _, r := range rowsWho(who) {
			if r.Method != http.MethodGet {
				continue
			}
			path := fillParams(r.Path, "some-space")
			want := "/login?next=" + url.QueryEscape(path)
			if path == "/" {
				want = "/login"
			}
			if res := c.Get(path); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != want {
				t.Errorf("anonymous GET %s: %d to %q, want 303 to %q", path, res.StatusCode, res.Header.Get("Location"), want)
			}
			checked++
		}
	}
	if checked < 10 {
		t.Fatalf("only %d pages checked", checked)
	}
}

// TestAPIScopeOfEveryRoute: a read key reads every read route's way in and is refused on every
// read_write route and the audit:read route of the table with 403 insufficient_scope.
func TestAPIScopeOfEveryRoute(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierPro)
	writes := 0
	for _, r := range rowsWho("api") {
		path := fillParams(r.Path, "")
		res := apiCall(t, app.HTTP.URL, r.Method, path, sp.readKey, `{}`)
		switch r.Scope {
		case models.ScopeReadWrite:
			if res.Status != http.StatusForbidden || res.Code(t) != "insufficient_scope" {
				t.Errorf("%s %s with a read key: %d %s, want 403 insufficient_scope", r.Method, path, res.Status, res.Body)
			}
			writes++
		case models.ScopeRead:
			if res.Status == http.StatusForbidden || res.Status == http.StatusUnauthorized {
				t.Errorf("%s %s with a read key: %d %s", r.Method, path, res.Status, res.Body)
			}
		case models.ScopeAuditRead:
			// Only a key of its own scope reads the audit log (api_audit_test.go).
			if res.Status != http.StatusForbidden || res.Code(t) != "insufficient_scope" {
				t.Errorf("%s %s with a read key: %d %s, want 403 insufficient_scope", r.Method, path, res.Status, res.Body)
			}
		default:
			t.Errorf("%s %s: unknown scope %q", r.Method, path, r.Scope)
		}
	}
	if writes < 4 {
		t.Fatalf("only %d write routes checked", writes)
	}
}

// TestNavShowsExactlyThePagesTheRoleMayOpen: for every role, the workspace navigation links the
// pages the role may open (200) and leaves out the ones it may not (403), all from the table.
func TestNavShowsExactlyThePagesTheRoleMayOpen(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("nav"))
	clients := map[models.Role]*webtest.Client{models.RoleOwner: app.Login(owner.Email)}
	for _, role := range []models.Role{models.RoleAdmin, models.RoleMember, models.RoleViewer} {
		email := webtest.UniqueEmail(string(role))
		app.AddMember(ws, app.User(email), role)
		clients[role] = app.Login(email)
	}
	navs := handlers.NavPaths()
	if len(navs) < 6 {
		t.Fatalf("navigation has %d entries", len(navs))
	}
	for role, c := range clients {
		page := c.Get("/w/" + ws.Slug)
		for key, pattern := range navs {
			path := fillParams(pattern, ws.Slug)
			link, shown := page.Doc().Find(`nav [data-testid="nav-` + key + `"]`).Attr("href")
			status := c.Get(path).StatusCode
			switch {
			case shown && (link != path || status != http.StatusOK):
				t.Errorf("%s: nav %s links %q (%d), want %q answering 200", role, key, link, status, path)
			case !shown && status != http.StatusForbidden:
				t.Errorf("%s: nav %s is hidden but %s answers %d", role, key, path, status)
			}
		}
	}
}
