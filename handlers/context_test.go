package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers/webtest"
	"atrium/models"
)

// TestTitlesCarryTheWorkspace: every workspace page's title names the page, then the workspace,
// then Atrium; pages outside a workspace name only themselves.
func TestTitlesCarryTheWorkspace(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("titles"))
	ws := app.Workspace(owner, webtest.UniqueSlug("titles"))
	c := app.Login(owner.Email)
	base := "/w/" + ws.Slug
	for path, want := range map[string]string{
		base:               "Overview · " + ws.Name + " · Atrium",
		base + "/members":  "Members · " + ws.Name + " · Atrium",
		base + "/keys":     "API keys · " + ws.Name + " · Atrium",
		base + "/usage":    "Usage · " + ws.Name + " · Atrium",
		base + "/audit":    "Audit log · " + ws.Name + " · Atrium",
		base + "/settings": "Settings · " + ws.Name + " · Atrium",
		"/workspaces":      "Workspaces · Atrium",
		"/account":         "Account · Atrium",
	} {
		res := c.Get(path)
		if got := strings.TrimSpace(res.Doc().Find("head > title").Text()); res.StatusCode != http.StatusOK || got != want {
			t.Errorf("GET %s: %d, title %q, want %q", path, res.StatusCode, got, want)
		}
	}
}

// landing logs email in and follows the log-in's redirect to "/" once: where it lands.
func landing(t *testing.T, app *webtest.App, email string) string {
	t.Helper()
	c := app.Login(email)
	res := c.Get("/")
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET / after log-in: %d", res.StatusCode)
	}
	return res.Header.Get("Location")
}

// TestLoginLandsWhereThePersonWorks: no workspace → the list; one → that one; several → the one
// used last (on any device: kept with the person, not the session), else the list; a workspace
// left or deleted is no longer a landing.
func TestLoginLandsWhereThePersonWorks(t *testing.T) {
	app := webtest.Start(t)
	none := app.User(webtest.UniqueEmail("land-none"))
	if got := landing(t, app, none.Email); got != "/workspaces" {
		t.Errorf("no workspace: lands on %s", got)
	}

	solo := app.User(webtest.UniqueEmail("land-solo"))
	only := app.Workspace(solo, webtest.UniqueSlug("only"))
	if got := landing(t, app, solo.Email); got != "/w/"+only.Slug {
		t.Errorf("one workspace: lands on %s", got)
	}

	many := app.User(webtest.UniqueEmail("land-many"))
	a := app.Workspace(many, webtest.UniqueSlug("land-a"))
	b := app.Workspace(many, webtest.UniqueSlug("land-b"))
	if got := landing(t, app, many.Email); got != "/workspaces" {
		t.Errorf("two workspaces, none used yet: lands on %s", got)
	}
	phone := app.Login(many.Email)
	if res := phone.Get("/w/" + b.Slug + "/members"); res.StatusCode != http.StatusOK {
		t.Fatalf("open b: %d", res.StatusCode)
	}
	if got := landing(t, app, many.Email); got != "/w/"+b.Slug {
		t.Errorf("after using b on another device: lands on %s", got)
	}
	if res := phone.Get("/w/" + a.Slug); res.StatusCode != http.StatusOK {
		t.Fatalf("open a: %d", res.StatusCode)
	}
	if got := landing(t, app, many.Email); got != "/w/"+a.Slug {
		t.Errorf("after using a: lands on %s", got)
	}
	// Deleting a (its owner types its address) leaves b, the only one left.
	if res := phone.Get("/w/" + a.Slug + "/settings"); res.StatusCode != http.StatusOK {
		t.Fatalf("settings: %d", res.StatusCode)
	}
	if res := phone.Post("/w/"+a.Slug+"/settings/delete", map[string][]string{"confirm": {a.Slug}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete a: %d %s", res.StatusCode, res.Body)
	}
	u, err := models.UserByEmail(context.Background(), app.DB.App, many.Email)
	if err != nil {
		t.Fatal(err)
	}
	if u.LastWorkspaceID != nil {
		t.Errorf("a deleted workspace is still the last one used: %v", *u.LastWorkspaceID)
	}
	if got := landing(t, app, many.Email); got != "/w/"+b.Slug {
		t.Errorf("after deleting a: lands on %s", got)
	}
}

// TestSwitcherMarksTheCurrentWorkspace: the switcher marks the workspace the page is in (and only
// it), in the page and in its search's answer; names keep their own direction.
func TestSwitcherMarksTheCurrentWorkspace(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("switch"))
	a := app.Workspace(owner, webtest.UniqueSlug("sw-a"))
	b := app.Workspace(owner, webtest.UniqueSlug("sw-b"))
	c := app.Login(owner.Email)
	doc := c.Get("/w/" + b.Slug + "/members").Doc()
	cur := doc.Find(`[data-testid="switcher"] [aria-current]`)
	if slug, _ := cur.Attr("data-slug"); cur.Length() != 1 || slug != b.Slug {
		t.Fatalf("%d links marked current, the first %q; want only %s", cur.Length(), slug, b.Slug)
	}
	if dir, _ := cur.Find("span[dir]").Attr("dir"); dir != "auto" {
		t.Errorf("the name's direction is %q, want auto", dir)
	}
	if dir, _ := doc.Find(`[data-testid="current-workspace"]`).Attr("dir"); dir != "auto" {
		t.Errorf("the current name's direction is %q, want auto", dir)
	}
	res := c.HTMX(http.MethodGet, "/workspaces/switcher?q=sw-&current="+b.Slug, nil)
	marked := res.Doc().Find(`[aria-current]`)
	if slug, _ := marked.Attr("data-slug"); res.StatusCode != http.StatusOK || marked.Length() != 1 || slug != b.Slug {
		t.Errorf("search answer: %d, %d marked, %q", res.StatusCode, marked.Length(), slug)
	}
	if res.Doc().Find(`[data-slug="`+a.Slug+`"]`).Length() != 1 {
		t.Error("the search lost the other workspace")
	}
}

// TestRefusalKeepsTheWorkspaceFrame: a role's 403 inside a workspace stays in the workspace's
// frame (navigation, switcher) and says which roles may and who holds them.
func TestRefusalKeepsTheWorkspaceFrame(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("olivia"))
	ws := app.Workspace(owner, webtest.UniqueSlug("refuse"))
	admin := app.User(webtest.UniqueEmail("adam"))
	app.AddMember(ws, admin, models.RoleAdmin)
	viewer := app.User(webtest.UniqueEmail("vera"))
	app.AddMember(ws, viewer, models.RoleViewer)
	c := app.Login(viewer.Email)

	res := c.Get("/w/" + ws.Slug + "/audit")
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("viewer on the audit log: %d", res.StatusCode)
	}
	if got := res.TestID("current-workspace"); got != ws.Name {
		t.Errorf("the refusal's frame shows workspace %q", got)
	}
	if !res.Has("nav-members") {
		t.Error("the refusal has no workspace navigation")
	}
	if got := res.TestID("error-roles"); got != "Owners and admins" {
		t.Errorf("roles: %q", got)
	}
	var holders []string
	res.Doc().Find(`[data-testid="error-holders"] li`).Each(func(_ int, s *goquery.Selection) {
		holders = append(holders, s.Text())
	})
	want := []string{owner.Name + " (Owner)", admin.Name + " (Admin)"}
	if strings.Join(holders, "|") != strings.Join(want, "|") {
		t.Errorf("holders %q, want %q", holders, want)
	}
	if !strings.Contains(res.Doc().Find("head > title").Text(), ws.Name) {
		t.Errorf("title %q lacks the workspace", res.Doc().Find("head > title").Text())
	}

	// Settings are the owners' alone.
	res = app.Login(admin.Email).Get("/w/" + ws.Slug + "/settings")
	if got := res.TestID("error-roles"); res.StatusCode != http.StatusForbidden || got != "Only owners" {
		t.Errorf("admin on settings: %d, roles %q", res.StatusCode, got)
	}
	if got := res.TestID("error-holders"); !strings.Contains(got, owner.Name) || strings.Contains(got, admin.Name) {
		t.Errorf("settings' holders: %q", got)
	}

	// A workspace the person is not in stays a plain 404 with no frame of it.
	other := app.Workspace(owner, webtest.UniqueSlug("closed"))
	res = c.Get("/w/" + other.Slug + "/audit")
	if res.StatusCode != http.StatusNotFound || res.Has("nav-members") || res.Has("error-holders") {
		t.Errorf("non-member: %d, frame or holders shown", res.StatusCode)
	}
}

// TestSupportLandsOnTheSupportConsole: support staff land on the support console and are offered
// no workspace creation.
func TestSupportLandsOnTheSupportConsole(t *testing.T) {
	app := webtest.Start(t)
	_, c := supportLogin(t, app)
	res := c.Get("/")
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/support/workspaces" {
		t.Errorf("support lands on %d %s", res.StatusCode, loc)
	}
	res = c.Get("/workspaces")
	if res.StatusCode != http.StatusOK || res.Doc().Find(`#new-workspace`).Length() != 0 {
		t.Errorf("support's workspace list: %d, with a create form", res.StatusCode)
	}
	if strings.Contains(res.Body, "New workspace") {
		t.Error("support is offered a new workspace")
	}
	owner := app.User(webtest.UniqueEmail("plain"))
	res = app.Login(owner.Email).Get("/workspaces")
	if res.Doc().Find(`#new-workspace`).Length() != 1 {
		t.Error("a person who is not staff has no create form")
	}
}
