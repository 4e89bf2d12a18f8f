package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

func tierNow(t *testing.T, app *webtest.App, ws *models.Workspace) models.Tier {
	t.Helper()
	var tier models.Tier
	if err := app.DB.Owner.NewRaw("SELECT tier FROM workspaces WHERE id = ?", ws.ID).Scan(context.Background(), &tier); err != nil {
		t.Fatal(err)
	}
	return tier
}

// TestSettingsAreForOwners: admins and below get 403 on the page and every change, and see no link.
func TestSettingsAreForOwners(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	base := "/w/" + sp.ws.Slug + "/settings"
	for _, role := range models.Roles {
		t.Run(string(role), func(t *testing.T) {
			cl := c.clients[role]
			want := http.StatusForbidden
			if role == models.RoleOwner {
				want = http.StatusOK
			}
			page := cl.Get(base)
			if page.StatusCode != want {
				t.Fatalf("GET settings: %d, want %d", page.StatusCode, want)
			}
			if nav := cl.Get("/w/" + sp.ws.Slug).Has("nav-settings"); nav != (role == models.RoleOwner) {
				t.Errorf("settings in the navigation: %v", nav)
			}
			if role == models.RoleOwner {
				return
			}
			for path, form := range map[string]url.Values{
				"/name": {"name": {"Mine now"}}, "/tier": {"tier": {"enterprise"}}, "/delete": {"confirm": {sp.ws.Slug}},
			} {
				if res := cl.Post(base+path, form); res.StatusCode != http.StatusForbidden {
					t.Errorf("POST %s: %d, want 403", path, res.StatusCode)
				}
			}
			if tierNow(t, app, sp.ws) != models.TierPro {
				t.Fatal("the tier changed")
			}
		})
	}
}

// TestTierChangeInSettings: an upgrade applies at once; a downgrade the use exceeds is refused with
// what to reduce (page: after a redirect, with the list; htmx: 409 with the message); both land in
// the audit log.
func TestTierChangeInSettings(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("tier"))
	now := testdb.Now(t)
	fixClock(app, now)
	cl := app.Login(owner.Email)
	base := "/w/" + ws.Slug + "/settings"

	res := cl.Post(base+"/tier", url.Values{"tier": {"pro"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base {
		t.Fatalf("upgrade: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	page := cl.Get(base)
	if tierNow(t, app, ws) != models.TierPro || !strings.Contains(page.TestID("flash"), "from Free to Pro") {
		t.Fatalf("after the upgrade: tier %s, flash %q", tierNow(t, app, ws), page.TestID("flash"))
	}
	if _, checked := page.Doc().Find(`[data-testid="tier-option"][data-tier="pro"] input`).Attr("checked"); !checked {
		t.Errorf("pro is not the checked option")
	}

	putUsageRow(t, app, ws, now, 250, 1_200)
	page = cl.Get(base)
	blocked := page.Doc().Find(`[data-testid="tier-option"][data-tier="free"] [data-testid="tier-blocked"]`).Length()
	if blocked != 1 || page.Doc().Find(`[data-testid="tier-option"][data-tier="starter"] [data-testid="tier-blocked"]`).Length() != 0 {
		t.Errorf("free should show as blocked and starter not")
	}
	res = cl.Post(base+"/tier", url.Values{"tier": {"free"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base {
		t.Fatalf("downgrade over the limits: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res = cl.Get(base)
	if _, checked := res.Doc().Find(`[data-testid="tier-option"][data-tier="free"] input`).Attr("autofocus"); !checked {
		t.Errorf("the refused tier is not the focused option")
	}
	var reduce []string
	res.Doc().Find(`[data-testid="tier-reduce"]`).Each(func(_ int, s *goquery.Selection) { reduce = append(reduce, s.Text()) })
	if len(reduce) != 2 || !strings.HasPrefix(reduce[0], "Agent-minutes: 1,200 used") || !strings.HasPrefix(reduce[1], "API calls: 250 this hour") {
		t.Fatalf("what to reduce: %q", reduce)
	}
	res = cl.HTMX(http.MethodPost, base+"/tier", url.Values{"tier": {"free"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(res.Body, "Agent-minutes: 1,200 used") {
		t.Fatalf("htmx downgrade: %d %s", res.StatusCode, res.Body)
	}
	if tierNow(t, app, ws) != models.TierPro {
		t.Fatal("a refused downgrade changed the tier")
	}
	res = cl.Post(base+"/tier", url.Values{"tier": {"starter"}})
	if res.StatusCode != http.StatusSeeOther || tierNow(t, app, ws) != models.TierStarter {
		t.Fatalf("downgrade that fits: %d, tier %s", res.StatusCode, tierNow(t, app, ws))
	}
	if res := cl.Post(base+"/tier", url.Values{"tier": {"gold"}}); res.StatusCode != http.StatusSeeOther || tierNow(t, app, ws) != models.TierStarter {
		t.Fatalf("unknown tier: %d", res.StatusCode)
	}
	if got := cl.Get(base).TestID("error-tier"); !strings.Contains(got, "Choose") {
		t.Errorf("unknown tier message %q", got)
	}
	audit := cl.Get("/w/" + ws.Slug + "/audit?action=workspace.tier_change")
	if n := audit.Doc().Find(`[data-testid="audit-row"]`).Length(); n != 2 {
		t.Fatalf("%d tier changes in the audit log, want 2", n)
	}
}

func TestRenameAndDeleteWorkspace(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	cl := c.clients[models.RoleOwner]
	base := "/w/" + sp.ws.Slug + "/settings"

	res := cl.HTMX(http.MethodPost, base+"/name", url.Values{"name": {"  "}})
	if res.StatusCode != http.StatusUnprocessableEntity || !res.Has("error-name") || strings.Contains(res.Body, "<html") {
		t.Fatalf("empty name over htmx: %d\n%s", res.StatusCode, res.Body)
	}
	res = cl.Post(base+"/name", url.Values{"name": {"<script>x</script> Labs"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("rename: %d", res.StatusCode)
	}
	page := cl.Get("/w/" + sp.ws.Slug)
	if page.TestID("workspace-name") != "<script>x</script> Labs" || strings.Contains(page.Body, "<script>x</script>") {
		t.Fatalf("renamed workspace shows %q (escaped: %v)", page.TestID("workspace-name"), !strings.Contains(page.Body, "<script>x</script>"))
	}

	// The settings page asks for the address and leads (GET) to the page that asks once more; the
	// page's dialog shows that page's panel.
	settings := cl.Get(base)
	form := settings.Doc().Find(`form[data-testid="delete-form"]`)
	if form.AttrOr("method", "") != "get" || form.AttrOr("action", "") != base+"/delete" || form.Find(`[data-must-equal="`+sp.ws.Slug+`"]`).Length() != 1 ||
		!settings.Has("page-dialog") || strings.Contains(settings.Body, "data-confirm=") {
		t.Fatal("the delete form does not lead to the confirmation with its typed address")
	}
	ask := cl.Get(base + "/delete?confirm=" + sp.ws.Slug)
	if ask.StatusCode != http.StatusOK || !ask.Has("confirm-page") ||
		ask.Doc().Find(`[data-testid="confirm-form"] input[name="confirm"]`).AttrOr("value", "") != sp.ws.Slug {
		t.Fatalf("the confirmation page: %d", ask.StatusCode)
	}
	if panel := cl.HTMX(http.MethodGet, base+"/delete?confirm=x", nil); strings.Contains(panel.Body, "<html") || !panel.Has("confirm-form") {
		t.Fatal("the dialog's panel")
	}
	// A confirmation that does not match: a redirect to the page that asks, which says why once
	// and keeps what was typed.
	for _, typed := range []string{"", "yes", "<script>x</script> Labs"} {
		res := cl.Post(base+"/delete", url.Values{"confirm": {typed}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base+"/delete" {
			t.Fatalf("delete confirmed with %q: %d %q", typed, res.StatusCode, res.Header.Get("Location"))
		}
		back := cl.Get(base + "/delete")
		if !strings.Contains(back.TestID("error-confirm"), sp.ws.Slug) || back.Doc().Find(`input[name="confirm"]`).AttrOr("value", "-") != typed {
			t.Fatalf("after %q: error %q, kept %q", typed, back.TestID("error-confirm"), back.Doc().Find(`input[name="confirm"]`).AttrOr("value", "-"))
		}
		if again := cl.Get(base + "/delete"); again.Has("error-confirm") {
			t.Fatal("the error is shown twice")
		}
	}
	if cl.Get("/w/"+sp.ws.Slug).StatusCode != http.StatusOK {
		t.Fatal("a refused delete deleted")
	}
	res = cl.Post(base+"/delete", url.Values{"confirm": {sp.ws.Slug}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/workspaces" {
		t.Fatalf("delete: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	if got := cl.Get("/workspaces").TestID("flash"); !strings.Contains(got, "was deleted") {
		t.Errorf("flash %q", got)
	}
	for _, role := range models.Roles {
		if res := c.clients[role].Get("/w/" + sp.ws.Slug); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s after the delete: %d", role, res.StatusCode)
		}
	}
	// The session's last workspace was the deleted one: / falls back to the list.
	if res := cl.Get("/"); res.Header.Get("Location") != "/workspaces" {
		t.Errorf("/ goes to %q", res.Header.Get("Location"))
	}
}

// TestDeleteThenRestoreFromTheWorkspaceList: a deleted workspace answers 404 to every member and
// its key 401 at once; its owner's workspace list shows it with a restore button (nobody else's
// does), a non-owner's restore is 404, and the owner's brings back the pages and the key. Its
// address stays taken meanwhile.
func TestDeleteThenRestoreFromTheWorkspaceList(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	_, key := apiKeyFor(t, app, sp.ws, c.owner, models.RoleOwner, "read", "30")
	owner := c.clients[models.RoleOwner]
	if res := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", key, ""); res.Status != http.StatusOK {
		t.Fatalf("the key before: %d", res.Status)
	}
	res := owner.Post("/w/"+sp.ws.Slug+"/settings/delete", url.Values{"confirm": {sp.ws.Slug}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.StatusCode)
	}
	if res := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", key, ""); res.Status != http.StatusUnauthorized {
		t.Fatalf("the key after the deletion: %d", res.Status)
	}
	for _, role := range models.Roles {
		cl := c.clients[role]
		if res := cl.Get("/w/" + sp.ws.Slug); res.StatusCode != http.StatusNotFound {
			t.Errorf("%s: /w/%s answers %d", role, sp.ws.Slug, res.StatusCode)
		}
		list := cl.Get("/workspaces")
		if list.Doc().Find(`[data-testid="workspace-row"][data-slug="`+sp.ws.Slug+`"]`).Length() != 0 {
			t.Errorf("%s still has it in the list", role)
		}
		deleted := list.Doc().Find(`[data-testid="deleted-row"][data-slug="` + sp.ws.Slug + `"]`)
		if (role == models.RoleOwner) != (deleted.Length() == 1) {
			t.Errorf("%s sees the scheduled deletion: %v", role, deleted.Length() == 1)
		}
		if role != models.RoleOwner {
			if res := cl.Post("/workspaces/"+sp.ws.Slug+"/restore", nil); res.StatusCode != http.StatusNotFound {
				t.Errorf("%s restores: %d, want 404", role, res.StatusCode)
			}
		}
	}
	list := owner.Get("/workspaces")
	row := list.Doc().Find(`[data-testid="deleted-row"][data-slug="` + sp.ws.Slug + `"]`)
	if row.Find(`form`).AttrOr("action", "") != "/workspaces/"+sp.ws.Slug+"/restore" || row.Find(`[data-testid="restore-by"]`).Text() == "" {
		t.Fatal("the owner's list has no restore form with its deadline")
	}
	form := owner.HTMX(http.MethodPost, "/workspaces", url.Values{"name": {"Again"}, "slug": {sp.ws.Slug}})
	if form.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(form.TestID("error-slug"), "taken") {
		t.Fatalf("a new workspace with the scheduled one's address: %d %q", form.StatusCode, form.TestID("error-slug"))
	}
	res = owner.Post("/workspaces/"+sp.ws.Slug+"/restore", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/w/"+sp.ws.Slug {
		t.Fatalf("restore: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	for _, role := range models.Roles {
		if res := c.clients[role].Get("/w/" + sp.ws.Slug); res.StatusCode != http.StatusOK {
			t.Errorf("%s after the restore: %d", role, res.StatusCode)
		}
	}
	if res := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", key, ""); res.Status != http.StatusOK {
		t.Fatalf("the key after the restore: %d", res.Status)
	}
	audit := owner.Get("/w/" + sp.ws.Slug + "/audit")
	if !strings.Contains(audit.Body, "workspace.delete_scheduled") && audit.Doc().Find(`[data-testid="audit-row"]`).Length() < 2 {
		t.Fatal("the audit log lacks the deletion and the restore")
	}
}
