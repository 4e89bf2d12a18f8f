package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
)

// TestSwitchWorkspacesInTwoTabs: log in, create a second workspace, open each in its own tab and
// see each tab stay in its own workspace while the other one navigates.
func TestSwitchWorkspacesInTwoTabs(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("tabs")
	owner := app.User(email)
	first := app.Workspace(owner, webtest.UniqueSlug("first"))

	tab1 := browser(t)
	login(t, tab1, app, email)

	second := webtest.UniqueSlug("second")
	step(t, tab1, "create the second workspace",
		chromedp.Navigate(app.HTTP.URL+"/workspaces"),
		chromedp.SendKeys(chromedp.CSS(`#f-name`), "Second Workspace"),
		chromedp.SendKeys(chromedp.CSS(`#f-slug`), second),
		chromedp.WaitVisible(chromedp.CSS(tid("slug-available"))),
		click(tid("create-workspace")),
		chromedp.WaitVisible(chromedp.CSS(tid("workspace-name"))),
	)
	if got := location(t, tab1); got != "/w/"+second {
		t.Fatalf("after creating, tab 1 is at %s", got)
	}

	// Tab 2 shares the session (same browser) and opens the first workspace from the switcher.
	tab2 := newTab(t, tab1)
	step(t, tab2, "open the first workspace in tab 2",
		chromedp.Navigate(app.HTTP.URL+"/w/"+second),
		click(tid("switcher")+" summary"),
		click(`[data-testid="switch-to"][data-slug="`+first.Slug+`"]`),
	)
	// The page it left has a workspace name too: wait for the new one.
	waitFor(t, tab2, "the first workspace's page", `location.pathname === "/w/`+first.Slug+`" && document.readyState === "complete"`)
	if got := text(t, tab2, tid("workspace-name")); got != first.Name {
		t.Fatalf("tab 2 shows %q, want %q", got, first.Name)
	}

	// Tab 1 keeps working in the second workspace: its links lead to the second one.
	step(t, tab1, "reload tab 1", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(tid("workspace-name"))))
	if got := text(t, tab1, tid("workspace-name")); got != "Second Workspace" {
		t.Fatalf("tab 1 switched to %q", got)
	}
	if got := text(t, tab1, tid("current-workspace")); got != "Second Workspace" {
		t.Fatalf("tab 1's switcher says %q", got)
	}
	if got := text(t, tab2, tid("current-workspace")); !strings.Contains(got, "Workspace "+first.Slug) {
		t.Fatalf("tab 2's switcher says %q", got)
	}
	shot(t, tab1, "overview")
}
