package handlers_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// supportLogin makes a support person and logs them in.
func supportLogin(t *testing.T, app *webtest.App) (*models.User, *webtest.Client) {
	t.Helper()
	u, err := models.CreateUser(context.Background(), app.DB.App, models.NewUser{Email: webtest.UniqueEmail("support"), Name: "Sam Support",
		Password: webtest.Password, StaffRole: models.StaffSupport}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	return u, app.LoginTwoFactor(u.Email, app.EnableTwoFactor(u))
}

// supportOpen gives a reason and a ticket to open the workspace slug to the support client.
func supportOpen(t *testing.T, sup *webtest.Client, slug string) {
	t.Helper()
	res := sup.Post("/support/workspaces/"+slug, url.Values{"reason": {"Customer asked about usage"}, "ticket": {"ZD-1001"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/support/workspaces/"+slug {
		t.Fatalf("support reason for %s: %d %q", slug, res.StatusCode, res.Header.Get("Location"))
	}
}

// supportMayPost are the state-changing routes open to support staff, and why: their own session
// and account are theirs (a support person must be able to log out and change a leaked password);
// the log-in and sign-up forms act on no workspace. The JSON API takes only workspace keys, which
// support cannot make, so a session there is simply unauthenticated (401).
var supportMayPost = map[string]bool{
	"POST /logout": true, "POST /login": true, "POST /signup": true,
	"POST /account/name": true, "POST /account/password": true, "POST /account/sessions/:id/end": true,
	"POST /login/passkey/options": true, "POST /login/passkey": true, "POST /account/passkeys/options": true,
	"POST /account/passkeys": true, "POST /account/passkeys/:id/rename": true, "POST /account/passkeys/:id/remove": true,
	"POST /account/delete": true,
	"POST /account/email":  true, "POST /account/email/resend": true,
	"POST /password/forgot": true, "POST /password/reset/:token": true,
	// Their own second factor: support staff must have one, and keep their recovery codes fresh.
	"POST /account/two-factor/enable": true, "POST /account/two-factor/recovery-codes": true, "POST /login/two-factor": true,
	"POST /login/two-factor/passkey/begin": true, "POST /login/two-factor/passkey/finish": true,
	// Step-up with a passkey confirms who they are, for their own account's actions.
	"POST /account/step-up/passkey/begin": true, "POST /account/step-up/passkey/finish": true,
	// The reason and ticket that open a workspace to them for a time-box: a record of their own
	// access in the workspace's audit log, changing nothing in it.
	"POST /support/workspaces/:slug": true,
}

// TestSupportIsRefusedEveryMutatingRoute walks the route table: logged in as support staff, every
// state-changing route of the console answers 403, workspace routes included (not 404), on a real
// workspace and on a made-up one, and changes nothing.
func TestSupportIsRefusedEveryMutatingRoute(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	_, sup := supportLogin(t, app)
	sup.Get("/support/workspaces")
	checked := 0
	for _, r := range app.Server.Echo().Routes() {
		key := r.Method + " " + r.Path
		switch {
		case r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == "echo_route_not_found" || strings.HasPrefix(r.Path, "/api/"):
			continue
		case supportMayPost[key]:
			continue
		}
		for _, slug := range []string{sp.ws.Slug, "no-such-workspace"} {
			path := fillParams(r.Path, slug)
			if strings.Contains(r.Path, ":user_id") {
				path = strings.Replace(path, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", c.target.ID.String(), 1)
			}
			if strings.Contains(r.Path, "/invitations/:token") {
				path = "/invitations/" + url.PathEscape(sp.invitation.Token) + strings.TrimPrefix(r.Path, "/invitations/:token")
			}
			form := url.Values{"_csrf": {sup.CSRF}, "confirm": {slug}, "tier": {"enterprise"}, "role": {"owner"},
				"name": {"taken"}, "email": {"x@example.com"}, "scope": {"read_write"}, "expires_in_days": {"0"}, "slug": {"support-made"}}
			res := sup.Do(r.Method, path, form, nil)
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("%s %s as support: %d, want 403", r.Method, path, res.StatusCode)
			}
			checked++
		}
	}
	if checked < 20 {
		t.Fatalf("checked only %d requests", checked)
	}
	if tierNow(t, app, sp.ws) != models.TierPro || roleIn(t, app, sp.ws, c.target) != models.RoleMember {
		t.Fatal("support changed something")
	}
	if res := sup.Post("/logout", nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("support cannot log out: %d", res.StatusCode)
	}
}

// TestSupportConsole: only support staff see it (404 for everyone else); search by name, slug and
// member email; the read-only usage page carries the support banner and no way to change anything;
// the look is in the workspace's audit log for its owner and admins, marked as support.
func TestSupportConsole(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	now := testdb.Now(t)
	fixClock(app, now)
	putUsageRow(t, app, sp.ws, now, 8_500, 40_000)
	staff, sup := supportLogin(t, app)

	for _, path := range []string{"/support/workspaces", "/support/workspaces.csv", "/support/workspaces/" + sp.ws.Slug} {
		for role, cl := range c.clients {
			if res := cl.Get(path); res.StatusCode != http.StatusNotFound {
				t.Errorf("%s as %s: %d, want 404", path, role, res.StatusCode)
			}
		}
	}
	if res := sup.Get("/w/" + sp.ws.Slug); res.StatusCode != http.StatusNotFound {
		t.Errorf("support on the member route: %d, want 404", res.StatusCode)
	}

	for _, q := range []string{sp.ws.Slug, strings.ToUpper(sp.ws.Name), c.member.Email} {
		res := sup.Get("/support/workspaces?q=" + url.QueryEscape(q))
		rows := res.Doc().Find(`[data-testid="support-row"]`)
		if res.StatusCode != http.StatusOK || rows.Length() != 1 {
			t.Fatalf("search %q: %d, %d rows", q, res.StatusCode, rows.Length())
		}
		if slug, _ := rows.Attr("data-slug"); slug != sp.ws.Slug {
			t.Fatalf("search %q found %s", q, slug)
		}
		if !res.Has("support-mode") || res.Has("nav-settings") {
			t.Error("the console is not marked as support mode")
		}
	}
	res := sup.Get("/support/workspaces?q=" + url.QueryEscape(sp.ws.Slug))
	for id, want := range map[string]string{
		"support-members": "5 +1 invited", "support-members-pct": "60 %", "support-agent-minutes": "40,000",
		"support-agent-minutes-pct": "40 %", "support-api-calls": "8,500", "support-api-calls-pct": "85 %",
	} {
		if got := strings.Join(strings.Fields(res.TestID(id)), " "); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	if frag := sup.HTMX(http.MethodGet, "/support/workspaces?q="+url.QueryEscape(sp.ws.Slug), nil); strings.Contains(frag.Body, "<html") || !frag.Has("support-row") {
		t.Errorf("htmx search did not answer the table alone")
	}
	if empty := sup.Get("/support/workspaces?q=nothing-matches-this"); !empty.Has("support-empty") || empty.TestID("support-total") != "0" {
		t.Error("no empty state")
	}

	supportOpen(t, sup, sp.ws.Slug)
	page := sup.Get("/support/workspaces/" + sp.ws.Slug + "?range=7")
	if page.StatusCode != http.StatusOK || !page.Has("support-banner") || page.TestID("meter-agent-minutes-used") != "40,000" ||
		page.TestID("support-members") != "5 members" || page.Doc().Find("form").Not(`[action="/logout"]`).Length() != 0 || page.Has("usage-csv") {
		t.Fatalf("support usage page: %d, banner %v, minutes %q", page.StatusCode, page.Has("support-banner"), page.TestID("meter-agent-minutes-used"))
	}
	if _, polls := page.Doc().Find(`[data-testid="usage-numbers"]`).Attr("hx-trigger"); polls {
		t.Error("the support page polls, and every poll would be another recorded look")
	}
	if res := sup.Get("/support/workspaces/no-such-workspace"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown workspace: %d", res.StatusCode)
	}

	for _, role := range []models.Role{models.RoleOwner, models.RoleAdmin} {
		audit := c.clients[role].Get("/w/" + sp.ws.Slug + "/audit?action=support.view")
		rows := audit.Doc().Find(`[data-testid="audit-row"]`)
		if rows.Length() != 1 || !strings.Contains(rows.Find(`[data-testid="audit-actor"]`).Text(), staff.Email) || rows.Find(`[data-testid="audit-support"]`).Length() != 1 {
			t.Fatalf("%s sees %d support views", role, rows.Length())
		}
	}
}

// TestSupportNeverSeesKeys: no page or download of the console holds a key's secret, its hash or
// even its public prefix.
func TestSupportNeverSeesKeys(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("keys"))
	k, token := apiKeyFor(t, app, ws, owner, models.RoleOwner, "read_write", "0")
	var hash []byte
	if err := app.DB.Owner.NewRaw("SELECT secret_hash FROM api_keys WHERE workspace_id = ? AND id = ?", ws.ID, k.ID).Scan(context.Background(), &hash); err != nil {
		t.Fatal(err)
	}
	_, sup := supportLogin(t, app)
	supportOpen(t, sup, ws.Slug)
	secret := token[len(k.Prefix)+1:]
	for _, path := range []string{"/support/workspaces?q=" + ws.Slug, "/support/workspaces.csv?q=" + ws.Slug, "/support/workspaces/" + ws.Slug} {
		res := sup.Get(path)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d", path, res.StatusCode)
		}
		for what, s := range map[string]string{"token": token, "secret": secret, "hash": hex.EncodeToString(hash), "prefix": k.Prefix} {
			if strings.Contains(res.Body, s) {
				t.Errorf("%s shows the key's %s", path, what)
			}
		}
	}
}

// TestSupportCSVMatchesTheTable: the download parses and holds the table's rows, in its order.
func TestSupportCSVMatchesTheTable(t *testing.T) {
	app := webtest.Start(t)
	now := testdb.Now(t)
	fixClock(app, now)
	word := strings.TrimPrefix(webtest.UniqueSlug("csvq"), "csvq-")
	for i, tier := range []models.Tier{models.TierFree, models.TierStarter, models.TierEnterprise} {
		owner := app.User(webtest.UniqueEmail("owner"))
		ws := app.Workspace(owner, "csv"+string(rune('a'+i))+"-"+word)
		app.SetTier(ws, tier)
		putUsageRow(t, app, ws, now, int64(90*(i+1)), int64(700*(i+1)))
	}
	_, sup := supportLogin(t, app)
	page := sup.Get("/support/workspaces?sort=-agent_minutes_pct&q=" + word)
	var table [][]string
	page.Doc().Find(`[data-testid="support-row"]`).Each(func(_ int, tr *goquery.Selection) {
		var cells []string
		tr.Find("td").Each(func(_ int, td *goquery.Selection) {
			cells = append(cells, strings.Join(strings.Fields(td.Text()), " "))
		})
		table = append(table, cells)
	})
	if len(table) != 3 || table[0][1] != "csva-"+word || table[2][1] != "csvc-"+word {
		t.Fatalf("table %v", table)
	}
	href, _ := page.Doc().Find(`[data-testid="support-csv"]`).Attr("href")
	recs := readCSV(t, sup.Get(href))
	if strings.Join(recs[0], ",") != strings.Join(models.SupportCSVHeader, ",") || len(recs) != 4 {
		t.Fatalf("CSV %v", recs)
	}
	for i, r := range recs[1:] {
		row := table[i]
		// slug, agent-minutes and API calls as the page shows them.
		if r[1] != row[1] || models.FormatCount(parseCount(r[7])) != row[5] || models.FormatCount(parseCount(r[10])) != row[7] {
			t.Errorf("CSV row %d %q, table %q", i, r, row)
		}
	}
	if recs[1][9] != "70.0" || recs[3][8] != "" {
		t.Errorf("percent %q, enterprise limit %q", recs[1][9], recs[3][8])
	}
}

// TestSupportSortsAsTheMembersListDoes: the support table's order is carried as the members
// list's is, sort=<column> with a leading "-" for descending; its headers link that way (a second
// click turns the order), the search form and the pages keep it, and an old dir= means nothing.
func TestSupportSortsAsTheMembersListDoes(t *testing.T) {
	app := webtest.Start(t)
	now := testdb.Now(t)
	fixClock(app, now)
	word := strings.TrimPrefix(webtest.UniqueSlug("sortq"), "sortq-")
	for i, tier := range []models.Tier{models.TierFree, models.TierStarter, models.TierPro} {
		owner := app.User(webtest.UniqueEmail("owner"))
		ws := app.Workspace(owner, "sort"+string(rune('a'+i))+"-"+word)
		app.SetTier(ws, tier)
		putUsageRow(t, app, ws, now, int64(100*(i+1)), int64(10*(i+1)))
	}
	_, sup := supportLogin(t, app)
	slugs := func(r *webtest.Response) string {
		var out []string
		r.Doc().Find(`[data-testid="support-row"]`).Each(func(_ int, tr *goquery.Selection) {
			out = append(out, strings.TrimSuffix(strings.TrimSpace(tr.Find("td").Eq(1).Text()), "-"+word))
		})
		return strings.Join(out, ",")
	}
	cases := []struct {
		query, want, ariaKey, aria string
	}{
		{"", "sorta,sortb,sortc", "name", "ascending"},
		{"sort=-agent_minutes", "sortc,sortb,sorta", "agent_minutes", "descending"},
		{"sort=agent_minutes", "sorta,sortb,sortc", "agent_minutes", "ascending"},
		{"sort=-name", "sortc,sortb,sorta", "name", "descending"},
		// The old form: the direction is not read, the column's own first direction is not guessed.
		{"sort=agent_minutes&dir=desc", "sorta,sortb,sortc", "agent_minutes", "ascending"},
		{"sort=-nonsense", "sorta,sortb,sortc", "name", "ascending"},
	}
	for _, tc := range cases {
		page := sup.Get("/support/workspaces?q=" + word + "&" + tc.query)
		if got := slugs(page); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.query, got, tc.want)
		}
		th := page.Doc().Find(`[data-testid="sort-` + tc.ariaKey + `"]`).Closest("th")
		if got := th.AttrOr("aria-sort", ""); got != tc.aria {
			t.Errorf("%q: %s header aria-sort %q, want %q", tc.query, tc.ariaKey, got, tc.aria)
		}
	}
	page := sup.Get("/support/workspaces?q=" + word + "&sort=-agent_minutes")
	doc := page.Doc()
	links := map[string]string{
		"agent_minutes": "sort=agent_minutes", // sorted by it, most first: the header turns it
		"members":       "sort=-members",      // a use column sorts most first at the first click
		"slug":          "sort=slug",
	}
	for key, want := range links {
		href := doc.Find(`[data-testid="sort-`+key+`"]`).AttrOr("href", "")
		u, err := url.Parse(href)
		if err != nil || u.Query().Get("dir") != "" || "sort="+u.Query().Get("sort") != want || u.Query().Get("q") != word {
			t.Errorf("header %s links to %q, want %s (and the search)", key, href, want)
		}
	}
	if got := doc.Find(`form input[type="hidden"][name="sort"]`).AttrOr("value", ""); got != "-agent_minutes" {
		t.Errorf("the search form keeps sort %q", got)
	}
	if doc.Find(`input[name="dir"]`).Length() != 0 {
		t.Error("the search form still sends dir")
	}
	if href := doc.Find(`[data-testid="support-csv"]`).AttrOr("href", ""); !strings.Contains(href, "sort=-agent_minutes") || strings.Contains(href, "dir=") {
		t.Errorf("the CSV link %q does not keep the order", href)
	}
}

// TestSupportSeesScheduledDeletions: the support console links to the scheduled deletions, which
// list a deleted workspace with who deleted it and when it is erased, and not one still in use;
// after its restore it is gone from the list. Members never reach the page.
func TestSupportSeesScheduledDeletions(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	gone, kept := c.space(t, models.TierPro), c.space(t, models.TierPro)
	_, sup := supportLogin(t, app)
	if !sup.Get("/support/workspaces").Has("support-deletions-link") {
		t.Fatal("the support console does not link to the scheduled deletions")
	}
	owner := c.clients[models.RoleOwner]
	if res := owner.Post("/w/"+gone.ws.Slug+"/settings/delete", url.Values{"confirm": {gone.ws.Slug}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	page := sup.Get("/support/deletions")
	row := page.Doc().Find(`[data-testid="support-deletion-row"][data-slug="` + gone.ws.Slug + `"]`)
	if page.StatusCode != http.StatusOK || row.Length() != 1 || !strings.Contains(row.Text(), c.owner.Email) || row.Find(`[data-testid="erase-after"]`).Text() == "" {
		t.Fatalf("the scheduled deletion is not listed with its owner and erase date: %d", page.StatusCode)
	}
	if page.Doc().Find(`[data-slug="`+kept.ws.Slug+`"]`).Length() != 0 {
		t.Fatal("a workspace in use is listed as scheduled")
	}
	if res := owner.Get("/support/deletions"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("an owner reaches the support page: %d", res.StatusCode)
	}
	owner.Post("/workspaces/"+gone.ws.Slug+"/restore", nil)
	if sup.Get("/support/deletions").Doc().Find(`[data-slug="`+gone.ws.Slug+`"]`).Length() != 0 {
		t.Fatal("a restored workspace is still listed")
	}
}

// TestSupportGivesAReasonFirst: support's look at a workspace first asks for a reason and a
// ticket (nothing of the workspace shown, nothing recorded); a refused form comes back with its
// messages and what was typed; given, the usage opens, each look lands in the audit log with the
// reason and ticket (the owners' audit page says them), further looks within the time-box need no
// new reason, and after it the form is back. Owners who opted in on the settings page (admins
// cannot) get one mail per grant, however many looks.
func TestSupportGivesAReasonFirst(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{SupportAccessWindow: 30 * time.Minute})
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	now := testdb.Now(t)
	fixClock(app, now)
	staff, sup := supportLogin(t, app)
	path := "/support/workspaces/" + sp.ws.Slug
	count := func(q string, args ...any) int {
		var n int
		if err := app.DB.Owner.NewRaw(q, args...).Scan(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	views := func() int {
		return count("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action = 'support.view'", sp.ws.ID)
	}

	// The owners opt in to mail; an admin may not.
	if res := c.clients[models.RoleAdmin].Post("/w/"+sp.ws.Slug+"/settings/support-mail", url.Values{"notify_support_access": {"on"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("an admin changes the support mail: %d", res.StatusCode)
	}
	owner := c.clients[models.RoleOwner]
	if res := owner.Post("/w/"+sp.ws.Slug+"/settings/support-mail", url.Values{"notify_support_access": {"on"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the owner turns the support mail on: %d", res.StatusCode)
	}
	if owner.Get("/w/"+sp.ws.Slug+"/settings").Doc().Find(`[data-testid="support-mail-checkbox"]:checked`).Length() != 1 {
		t.Fatal("the settings page does not show the support mail on")
	}

	form := sup.Get(path)
	if form.StatusCode != http.StatusOK || !form.Has("support-reason-form") || form.Has("meter-agent-minutes-used") ||
		form.Doc().Find(`label[for="f-reason"]`).Length() != 1 || form.Doc().Find(`label[for="f-ticket"]`).Length() != 1 {
		t.Fatalf("the first look does not ask for a reason: %d", form.StatusCode)
	}
	if views() != 0 {
		t.Fatal("asking for a reason recorded a look")
	}
	res := sup.Post(path, url.Values{"reason": {"  "}, "ticket": {"ZD-77"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != path {
		t.Fatalf("an empty reason: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	back := sup.Get(path)
	if back.TestID("error-reason") == "" || back.Doc().Find(`input[name="ticket"]`).AttrOr("value", "") != "ZD-77" || back.Has("meter-agent-minutes-used") {
		t.Fatalf("the refused form: error %q, ticket kept %q", back.TestID("error-reason"), back.Doc().Find(`input[name="ticket"]`).AttrOr("value", ""))
	}
	res = sup.Post(path, url.Values{"reason": {"Usage looks wrong <b>since</b> Monday"}, "ticket": {"ZD-77"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != path {
		t.Fatalf("a reason: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	for range 3 {
		page := sup.Get(path)
		if page.StatusCode != http.StatusOK || !page.Has("meter-agent-minutes-used") || page.TestID("support-grant-ticket") != "ZD-77" ||
			page.TestID("support-grant-reason") != "Usage looks wrong <b>since</b> Monday" {
			t.Fatalf("the look under the grant: %d, ticket %q", page.StatusCode, page.TestID("support-grant-ticket"))
		}
	}
	if views() != 3 {
		t.Fatalf("%d looks recorded, want 3", views())
	}
	audit := owner.Get("/w/" + sp.ws.Slug + "/audit?action=support.view")
	sentence := audit.Doc().Find(`[data-testid="audit-row"]`).First().Text()
	if !strings.Contains(sentence, "ZD-77") || !strings.Contains(sentence, "Usage looks wrong <b>since</b> Monday") || !strings.Contains(sentence, staff.Email) {
		t.Fatalf("the owners' audit sentence lacks the reason and ticket: %q", strings.Join(strings.Fields(sentence), " "))
	}
	mails := func() int {
		return count("SELECT count(*) FROM mail_outbox WHERE to_address = ? AND subject = ?", c.owner.Email, "Atrium support opened "+sp.ws.Name)
	}
	if mails() != 1 {
		t.Fatalf("%d mails to the owner after one grant and three looks, want 1", mails())
	}

	// Within the box (29 minutes on) no new reason; after it (30) the form again.
	fixClock(app, now.Add(29*time.Minute))
	if !sup.Get(path).Has("meter-agent-minutes-used") {
		t.Fatal("a look within the time-box asks again")
	}
	fixClock(app, now.Add(30*time.Minute))
	if again := sup.Get(path); !again.Has("support-reason-form") || again.Has("meter-agent-minutes-used") {
		t.Fatal("the time-box did not end")
	}
	if views() != 4 {
		t.Fatalf("%d looks recorded, want 4", views())
	}
	supportOpen(t, sup, sp.ws.Slug)
	if mails() != 2 {
		t.Fatalf("%d mails after a second grant, want 2", mails())
	}
}
