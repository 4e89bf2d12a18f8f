package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// keysCrew is a workspace with one user per role.
type keysCrew struct {
	ws                                 *models.Workspace
	owner, admin, member, other, viewr *models.User
}

func newKeysCrew(t *testing.T, app *webtest.App) *keysCrew {
	t.Helper()
	c := &keysCrew{owner: app.User(webtest.UniqueEmail("k-owner")), admin: app.User(webtest.UniqueEmail("k-admin")),
		member: app.User(webtest.UniqueEmail("k-member")), other: app.User(webtest.UniqueEmail("k-other")),
		viewr: app.User(webtest.UniqueEmail("k-viewer"))}
	c.ws = app.Workspace(c.owner, webtest.UniqueSlug("keys"))
	app.SetTier(c.ws, models.TierPro)
	app.AddMember(c.ws, c.admin, models.RoleAdmin)
	app.AddMember(c.ws, c.member, models.RoleMember)
	app.AddMember(c.ws, c.other, models.RoleMember)
	app.AddMember(c.ws, c.viewr, models.RoleViewer)
	return c
}

// follow reads the page a redirect leads to, as a browser would; anything but a 303 fails.
func follow(t testing.TB, c *webtest.Client, res *webtest.Response) *webtest.Response {
	t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("want a redirect, got %d: %.300s", res.StatusCode, res.Body)
	}
	return c.Get(res.Header.Get("Location"))
}

// createKey submits the create form and returns the response and the key it shows.
func createKey(t testing.TB, c *webtest.Client, slug, name, scope string) (*webtest.Response, string) {
	t.Helper()
	c.Get("/w/" + slug + "/keys")
	res := follow(t, c, c.Post("/w/"+slug+"/keys", url.Values{"name": {name}, "scope": {scope}, "expires_in_days": {"30"}}))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("create key: %d %s", res.StatusCode, res.Body)
	}
	token, _ := res.Doc().Find(`[data-testid="new-key-value"]`).Attr("value")
	if _, _, ok := models.ParseKey(token); !ok {
		t.Fatalf("the page shows %q, not a key", token)
	}
	return res, token
}

func TestKeysPageByRole(t *testing.T) {
	app := webtest.Start(t)
	crew := newKeysCrew(t, app)
	for _, tc := range []struct {
		name   string
		user   *models.User
		status int
		nav    bool
	}{
		{"owner", crew.owner, 200, true},
		{"admin", crew.admin, 200, true},
		{"member", crew.member, 200, true},
		{"viewer", crew.viewr, 403, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := app.Login(tc.user.Email)
			if res := c.Get("/w/" + crew.ws.Slug + "/keys"); res.StatusCode != tc.status {
				t.Fatalf("keys page: %d, want %d", res.StatusCode, tc.status)
			}
			if res := c.Get("/w/" + crew.ws.Slug); res.Has("nav-keys") != tc.nav {
				t.Fatalf("nav link to keys shown: %v, want %v", !tc.nav, tc.nav)
			}
			res := c.Post("/w/"+crew.ws.Slug+"/keys", url.Values{"name": {"x"}, "scope": {"read"}, "expires_in_days": {"7"}})
			if want := map[bool]int{true: 303, false: 403}[tc.status == 200]; res.StatusCode != want {
				t.Fatalf("create: %d, want %d", res.StatusCode, want)
			}
		})
	}
}

func TestCreateKeyShowsItOnce(t *testing.T) {
	app := webtest.Start(t)
	crew := newKeysCrew(t, app)
	c := app.Login(crew.member.Email)
	res, token := createKey(t, c, crew.ws.Slug, "deploy bot", "read_write")
	if !res.Has("copy-key") || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("created page: copy button %v, Cache-Control %q", res.Has("copy-key"), res.Header.Get("Cache-Control"))
	}
	if copyTarget, _ := res.Doc().Find(`[data-testid="copy-key"]`).Attr("data-copy"); copyTarget != "#new-key-value" {
		t.Fatalf("copy button points at %q", copyTarget)
	}
	if r := apiCall(t, app.HTTP.URL, "POST", "/api/v1/agents", token, `{"name": "made by the new key"}`); r.Status != 201 {
		t.Fatalf("the new key does not work: %d %s", r.Status, r.Body)
	}
	page := c.Get("/w/" + crew.ws.Slug + "/keys")
	if strings.Contains(page.Body, token[13:45]) || page.Has("new-key") {
		t.Fatal("the key is shown again")
	}
	row := page.Doc().Find(`[data-testid="key-row"][data-prefix="` + token[:12] + `"]`)
	if row.Length() != 1 || !strings.Contains(row.Text(), "deploy bot") || !strings.Contains(row.Text(), "Read and write") {
		t.Fatalf("list row: %q", row.Text())
	}
	if status, _ := row.Find(`[data-testid="key-status"]`).Attr("data-status"); status != "active" {
		t.Fatalf("status %q", status)
	}
	if lu := strings.TrimSpace(row.Find(`[data-testid="key-last-used"]`).Text()); lu == "Never" {
		t.Error("last used not shown after a call")
	}

	t.Run("htmx answers the panel", func(t *testing.T) {
		res := c.HTMX("POST", "/w/"+crew.ws.Slug+"/keys", url.Values{"name": {"ci"}, "scope": {"read"}, "expires_in_days": {"0"}})
		if res.StatusCode != 200 || strings.Contains(res.Body, "<html") || !strings.HasPrefix(strings.TrimSpace(res.Body), `<div id="keys-panel"`) || !res.Has("new-key-value") {
			t.Fatalf("htmx create: %d %.200s", res.StatusCode, res.Body)
		}
	})
	t.Run("invalid input comes back after a redirect, with its values", func(t *testing.T) {
		for _, form := range []url.Values{
			{"name": {""}, "scope": {"read"}, "expires_in_days": {"30"}},
			{"name": {"x"}, "scope": {"root"}, "expires_in_days": {"30"}},
			{"name": {"x"}, "scope": {"read"}, "expires_in_days": {"12"}},
		} {
			form.Set("description", "kept across the redirect")
			post := c.Post("/w/"+crew.ws.Slug+"/keys", form)
			if loc := post.Header.Get("Location"); post.StatusCode != 303 || loc != "/w/"+crew.ws.Slug+"/keys?new=1" {
				t.Fatalf("%v: %d to %q", form, post.StatusCode, loc)
			}
			res := c.Get(post.Header.Get("Location"))
			if res.StatusCode != 200 || res.Has("new-key") {
				t.Errorf("%v: %d", form, res.StatusCode)
			}
			if got := res.Doc().Find(`[data-testid="key-description"]`).Text(); got != "kept across the redirect" {
				t.Errorf("%v: description came back as %q", form, got)
			}
			field := map[string]string{"": "name", "root": "scope", "12": "expires_in_days"}
			key := form.Get("name")
			if key != "" {
				key = form.Get("scope")
				if key == "read" {
					key = form.Get("expires_in_days")
				}
			}
			if !res.Has("error-" + field[key]) {
				t.Errorf("%v: no message for %s", form, field[key])
			}
		}
	})
}

func TestMembersSeeAndManageOnlyTheirKeys(t *testing.T) {
	app := webtest.Start(t)
	crew := newKeysCrew(t, app)
	mine := app.Login(crew.member.Email)
	_, myKey := createKey(t, mine, crew.ws.Slug, "mine", "read")
	theirs := app.Login(crew.other.Email)
	_, theirKey := createKey(t, theirs, crew.ws.Slug, "theirs", "read")
	rows := func(c *webtest.Client) int {
		return c.Get("/w/" + crew.ws.Slug + "/keys").Doc().Find(`[data-testid="key-row"]`).Length()
	}
	if n := rows(mine); n != 1 {
		t.Fatalf("a member sees %d keys, want their own 1", n)
	}
	admin := app.Login(crew.admin.Email)
	if n := rows(admin); n != 2 {
		t.Fatalf("an admin sees %d keys, want 2", n)
	}
	var theirID string
	err := models.InWorkspace(context.Background(), app.DB.App, crew.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		return tn.Tx().NewSelect().Model((*models.APIKey)(nil)).Column("id").Where("prefix = ?", theirKey[:12]).Scan(ctx, &theirID)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"revoke", "roll"} {
		res := mine.Post("/w/"+crew.ws.Slug+"/keys/"+theirID+"/"+action, url.Values{"confirm": {"yes"}, "grace_hours": {"1"}})
		if res.StatusCode != 403 {
			t.Errorf("a member's %s of someone else's key: %d", action, res.StatusCode)
		}
	}
	if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", theirKey, ""); r.Status != 200 {
		t.Fatalf("the other member's key was touched: %d", r.Status)
	}
	if res := admin.Post("/w/"+crew.ws.Slug+"/keys/"+theirID+"/revoke", url.Values{"confirm": {"yes"}}); res.StatusCode != 303 {
		t.Fatalf("admin revoke: %d", res.StatusCode)
	}
	if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", theirKey, ""); r.Status != 401 {
		t.Fatalf("revoked key: %d", r.Status)
	}
	if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", myKey, ""); r.Status != 200 {
		t.Fatalf("untouched key: %d", r.Status)
	}
	// Another workspace's key id is not found.
	otherOwner := app.User(webtest.UniqueEmail("elsewhere"))
	elsewhere := app.Workspace(otherOwner, webtest.UniqueSlug("elsewhere"))
	res := app.Login(otherOwner.Email).Post("/w/"+elsewhere.Slug+"/keys/"+theirID+"/revoke", url.Values{"confirm": {"yes"}})
	if res.StatusCode != 404 {
		t.Fatalf("revoking another workspace's key: %d", res.StatusCode)
	}
}

func TestRevokeKeyAsksFirst(t *testing.T) {
	app := webtest.Start(t)
	crew := newKeysCrew(t, app)
	c := app.Login(crew.owner.Email)
	_, token := createKey(t, c, crew.ws.Slug, "to revoke", "read")
	page := c.Get("/w/" + crew.ws.Slug + "/keys")
	action, _ := page.Doc().Find(`[data-testid="key-row"] a[data-dialog][href$="/revoke"]`).Attr("href")
	if action == "" {
		t.Fatal("no revoke link that opens the dialog")
	}
	// The dialog's panel (htmx) and the page without JavaScript ask the same.
	panel := c.HTMX("GET", action, nil)
	if panel.StatusCode != 200 || strings.Contains(panel.Body, "<html") || !strings.Contains(panel.TestID("confirm-message"), "get 401") ||
		panel.Doc().Find(`form[action="`+action+`"] input[name="confirm"][value="yes"]`).Length() != 1 {
		t.Fatalf("revoke dialog: %d %.300s", panel.StatusCode, panel.Body)
	}
	// A post without the confirmation changes nothing and redirects to the page that asks.
	res := c.Post(action, nil)
	if res.StatusCode != 303 || res.Header.Get("Location") != action {
		t.Fatalf("unconfirmed revoke: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := c.Get(action); res.StatusCode != 200 || !res.Has("confirm-page") || !strings.Contains(res.Body, "to revoke") {
		t.Fatalf("confirmation page: %d", res.StatusCode)
	}
	if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", token, ""); r.Status != 200 {
		t.Fatalf("an unconfirmed revoke stopped the key: %d", r.Status)
	}
	res = c.Post(action, url.Values{"confirm": {"yes"}})
	if res.StatusCode != 303 || res.Header.Get("Location") != "/w/"+crew.ws.Slug+"/keys" {
		t.Fatalf("confirmed revoke: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	page = c.Get("/w/" + crew.ws.Slug + "/keys")
	if !strings.Contains(page.TestID("flash"), "revoked") || page.Has("key-row") {
		t.Fatalf("flash %q, or the revoked key is still among the active ones", page.TestID("flash"))
	}
	page = c.Get("/w/" + crew.ws.Slug + "/keys?status=revoked")
	if status, _ := page.Doc().Find(`[data-testid="key-status"]`).Attr("data-status"); status != "revoked" {
		t.Fatalf("status %q", status)
	}
	if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", token, ""); r.Status != 401 {
		t.Fatalf("revoked key: %d", r.Status)
	}
	var n int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action IN ('api_key.create', 'api_key.revoke')", crew.ws.ID).
		Scan(context.Background(), &n); err != nil || n != 2 {
		t.Fatalf("%d key audit events (%v), want create and revoke", n, err)
	}
}

func TestRollKeyFromThePage(t *testing.T) {
	app := webtest.Start(t)
	crew := newKeysCrew(t, app)
	c := app.Login(crew.member.Email)
	_, old := createKey(t, c, crew.ws.Slug, "rolling", "read")
	page := c.Get("/w/" + crew.ws.Slug + "/keys")
	action, _ := page.Doc().Find(`[data-testid="key-row"] a[data-dialog][href$="/roll"]`).Attr("href")
	rollForm := func() url.Values {
		t.Helper()
		p := c.Get(action)
		version, ok := p.Doc().Find(`[data-testid="roll-form"] input[name="version"]`).Attr("value")
		if p.StatusCode != 200 || !ok {
			t.Fatalf("roll page: %d", p.StatusCode)
		}
		return url.Values{"version": {version}}
	}
	form := rollForm()
	form.Set("grace_hours", "24")
	// Without JavaScript the roll ends in a redirect; the list then shows the new secret once.
	posted := c.Post(action, form)
	res := follow(t, c, posted)
	fresh, _ := res.Doc().Find(`[data-testid="new-key-value"]`).Attr("value")
	if fresh == "" || fresh == old || fresh[:12] != old[:12] {
		t.Fatalf("roll: new key %q for %q", fresh, old)
	}
	if res.Header.Get("Cache-Control") != "no-store" || !strings.Contains(res.TestID("new-key"), "previous secret stops working in 1 day") {
		t.Fatalf("roll page: Cache-Control %q, %q", res.Header.Get("Cache-Control"), res.TestID("new-key"))
	}
	again := c.Get("/w/" + crew.ws.Slug + "/keys")
	if again.Has("new-key") || strings.Contains(again.Body, fresh[13:45]) || !again.Has("key-grace") {
		t.Error("a reload shows the new secret again, or not the grace period")
	}
	// The same form sent again (back and re-submit) is refused and leaves both secrets working.
	res = follow(t, c, c.Post(action, form))
	if !strings.Contains(res.TestID("flash"), "rolled again since") || res.Has("new-key") {
		t.Fatalf("re-submitted roll: %q", res.TestID("flash"))
	}
	for _, tok := range []string{old, fresh} {
		if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", tok, ""); r.Status != 200 {
			t.Fatalf("within the grace: %d", r.Status)
		}
	}
	// htmx (the dialog) gets the keys panel with the secret instead of a redirect.
	form = rollForm()
	form.Set("grace_hours", "0")
	res = c.HTMX("POST", action, form)
	newest, _ := res.Doc().Find(`[data-testid="new-key-value"]`).Attr("value")
	if res.StatusCode != 200 || res.Header.Get("HX-Retarget") != "#keys-panel" || newest == "" {
		t.Fatalf("htmx roll: %d %q", res.StatusCode, res.Header.Get("HX-Retarget"))
	}
	for tok, want := range map[string]int{old: 401, fresh: 401, newest: 200} {
		if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", tok, ""); r.Status != want {
			t.Errorf("after a roll without grace: %d, want %d", r.Status, want)
		}
	}
	form = rollForm()
	form.Set("grace_hours", "5")
	if res := c.HTMX("POST", action, form); res.StatusCode != 422 || !strings.Contains(res.Body, "old secret keeps working") {
		t.Fatalf("odd grace (htmx): %d %q", res.StatusCode, res.Body)
	}
	if res := follow(t, c, c.Post(action, form)); !strings.Contains(res.TestID("flash"), "old secret keeps working") {
		t.Fatalf("odd grace: %q", res.TestID("flash"))
	}
}

// syncBuffer is a log sink the server and the test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestKeySecretAppearsNowhere creates a key through the page, uses it, and then looks for its
// secret in every column of every table, in everything the server logged and in every page
// fetched afterwards.
func TestKeySecretAppearsNowhere(t *testing.T) {
	base := webtest.Start(t)
	logs := &syncBuffer{}
	srv := handlers.New(base.DB.App, handlers.Config{}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	app := &webtest.App{T: t, Server: srv, HTTP: hs, DB: base.DB}
	crew := newKeysCrew(t, app)
	c := app.Login(crew.member.Email)
	res, token := createKey(t, c, crew.ws.Slug, "hygiene", "read_write")
	if !strings.Contains(res.Body, token) {
		t.Fatal("the first response must show the key")
	}
	_, secret, _ := models.ParseKey(token)

	// Use it, well and badly.
	u := hs.URL
	apiCall(t, u, "GET", "/api/v1/workspace", token, "")
	apiCall(t, u, "POST", "/api/v1/agents", token, `{"name": "hygiene agent"}`)
	apiCall(t, u, "POST", "/api/v1/agents", token, `{"nope": 1}`)
	apiCall(t, u, "GET", "/api/v1/agents/does-not-exist", token, "")
	apiCall(t, u, "GET", "/api/v1/agents?api_key="+token, "", "")
	apiCall(t, u, "GET", "/api/v1/agents/"+token, token, "")
	apiCall(t, u, "GET", "/api/v1/agents", token[:len(token)-1]+"x", "")
	var pages []string
	for _, path := range []string{"/w/" + crew.ws.Slug + "/keys", "/w/" + crew.ws.Slug, "/w/" + crew.ws.Slug + "/members",
		"/account", "/workspaces", "/w/" + crew.ws.Slug + "/usage", "/w/" + crew.ws.Slug + "/audit"} {
		pages = append(pages, c.Get(path).Body)
	}
	pages = append(pages, c.HTMX("GET", "/w/"+crew.ws.Slug+"/keys", nil).Body)
	ownerPages := app.Login(crew.owner.Email)
	for _, path := range []string{"/w/" + crew.ws.Slug + "/keys", "/w/" + crew.ws.Slug + "/audit"} {
		pages = append(pages, ownerPages.Get(path).Body)
	}
	for i, p := range pages {
		if strings.Contains(p, secret) {
			t.Errorf("page %d after creation shows the secret", i)
		}
	}
	if strings.Contains(logs.String(), secret) {
		t.Error("the server log contains the secret")
	}
	if !strings.Contains(logs.String(), "/api/v1/agents") {
		t.Fatal("the log buffer did not capture the requests; the check above proves nothing")
	}

	// Every text-like and bytea column of every table.
	ctx := context.Background()
	var cols []struct {
		Table  string `bun:"table_name"`
		Column string `bun:"column_name"`
		Type   string `bun:"data_type"`
	}
	err := app.DB.Owner.NewRaw(`SELECT table_name, column_name, data_type FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name IN (SELECT tablename FROM pg_tables WHERE schemaname = 'public')`).Scan(ctx, &cols)
	if err != nil || len(cols) < 20 {
		t.Fatalf("%d columns (%v)", len(cols), err)
	}
	checked, controls := 0, map[string]bool{}
	for _, col := range cols {
		var q string
		switch col.Type {
		case "bytea":
			q = fmt.Sprintf(`SELECT count(*) FROM %q WHERE position(convert_to(?, 'UTF8') IN %q) > 0`, col.Table, col.Column)
		default:
			q = fmt.Sprintf(`SELECT count(*) FROM %q WHERE strpos(%q::text, ?) > 0`, col.Table, col.Column)
		}
		for _, needle := range []string{secret, token, token[:12], c.CSRF} {
			var n int
			if err := app.DB.Owner.NewRaw(q, needle).Scan(ctx, &n); err != nil {
				t.Fatalf("%s.%s: %v", col.Table, col.Column, err)
			}
			switch {
			case n > 0 && (needle == secret || needle == token):
				t.Errorf("%s.%s holds the key's secret", col.Table, col.Column)
			case n > 0:
				controls[col.Table+"."+col.Column] = true // the search finds what is there
			}
		}
		checked++
	}
	if !controls["api_keys.prefix"] || !controls["sessions.data"] {
		t.Fatalf("the search did not find the key's prefix in api_keys.prefix and the CSRF token in sessions.data (found %v): it proves nothing", controls)
	}
	var sessions int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM sessions").Scan(ctx, &sessions); err != nil || sessions == 0 {
		t.Fatalf("no sessions to search (%v)", err)
	}
	t.Logf("searched %d columns, %d pages and %d bytes of log", checked, len(pages), len(logs.String()))
}

// TestKeysSearchStatusAndPages: the list shows active keys by default, revoked and expired ones
// apart, each status with its count; the search finds names and prefixes; the page numbers keep
// the search and the status.
func TestKeysSearchStatusAndPages(t *testing.T) {
	app := webtest.Start(t)
	crew := newKeysCrew(t, app)
	now := testdb.Now(t)
	owner := models.Actor{UserID: crew.owner.ID, Role: models.RoleOwner}
	var revoked, short *models.APIKey
	err := models.InWorkspace(context.Background(), app.DB.App, crew.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for i := 0; i < models.KeyPageSize+2; i++ {
			if _, _, err := models.CreateKey(ctx, tn, owner, models.NewKey{Name: fmt.Sprintf("batch %02d", i), Scope: "read", ExpiresInDays: "0"}, now); err != nil {
				return err
			}
		}
		var err error
		if revoked, _, err = models.CreateKey(ctx, tn, owner, models.NewKey{Name: "old deploy", Scope: "read", ExpiresInDays: "0"}, now); err != nil {
			return err
		}
		if _, err = models.RevokeKey(ctx, tn, owner, revoked.ID, now); err != nil {
			return err
		}
		short, _, err = models.CreateKey(ctx, tn, owner, models.NewKey{Name: "short lived", Scope: "read", ExpiresInDays: "7"}, now.AddDate(0, 0, -8))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c := app.Login(crew.owner.Email)
	base := "/w/" + crew.ws.Slug + "/keys"
	counts := func(res *webtest.Response) map[string]string {
		out := map[string]string{}
		for _, st := range []string{"active", "revoked", "expired"} {
			out[st] = strings.TrimSpace(res.Doc().Find(`[data-testid="key-tab-` + st + `"] [data-testid="key-tab-count"]`).Text())
		}
		return out
	}
	page := c.Get(base)
	if got := counts(page); got["active"] != "52" || got["revoked"] != "1" || got["expired"] != "1" {
		t.Fatalf("counts %v", got)
	}
	if n := page.Doc().Find(`[data-testid="key-row"]`).Length(); n != models.KeyPageSize || page.Doc().Find(`[data-status="revoked"], [data-status="expired"]`).Length() != 0 {
		t.Fatalf("the first page holds %d rows, or not only active keys", n)
	}
	if got := page.TestID("page-range"); got != "1–50 of 52 keys" {
		t.Fatalf("range %q", got)
	}
	next := page.Doc().Find(`[data-testid="keys-pagination"] [data-testid="page-2"]`).AttrOr("href", "")
	if res := c.Get(next); res.Doc().Find(`[data-testid="key-row"]`).Length() != 2 || res.TestID("page-current") != "2" {
		t.Fatalf("page 2 (%s): %d rows", next, res.Doc().Find(`[data-testid="key-row"]`).Length())
	}
	res := c.Get(page.Doc().Find(`[data-testid="key-tab-revoked"]`).AttrOr("href", ""))
	if rows := res.Doc().Find(`[data-testid="key-row"]`); rows.Length() != 1 || rows.AttrOr("data-prefix", "") != revoked.Prefix {
		t.Fatalf("revoked tab: %d rows", rows.Length())
	}
	if res := c.Get(base + "?status=expired"); res.Doc().Find(`[data-testid="key-row"]`).AttrOr("data-prefix", "") != short.Prefix {
		t.Fatal("the expired key is not under Expired")
	}
	// A search by prefix, in any case; the counts follow the search, the tabs keep it.
	res = c.Get(base + "?q=" + url.QueryEscape(strings.ToUpper(short.Prefix[4:])))
	if got := counts(res); got["active"] != "0" || got["expired"] != "1" || !res.Has("keys-none") {
		t.Fatalf("search by prefix: counts %v", got)
	}
	if href := res.Doc().Find(`[data-testid="key-tab-expired"]`).AttrOr("href", ""); !strings.Contains(href, "q=") || !strings.Contains(href, "status=expired") {
		t.Fatalf("the tab drops the search: %q", href)
	}
	res = c.Get(base + "?q=batch+0&page=1")
	if got := res.TestID("page-range"); got != "1–10 of 10 keys" || res.Has("keys-pagination") && res.Has("page-next") {
		t.Fatalf("search by name: %q", got)
	}
	// Page numbers keep the status and the search.
	res = c.Get(base + "?q=batch&page=9")
	if res.TestID("page-current") != "2" {
		t.Fatalf("beyond the last page: page %q", res.TestID("page-current"))
	}
	if prev := res.Doc().Find(`[data-testid="page-prev"]`).AttrOr("href", ""); prev != base+"?q=batch" {
		t.Fatalf("previous page link %q", prev)
	}
}
