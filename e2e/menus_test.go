package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"atrium/handlers/webtest"
)

// TestMenusCloseAsExpected: the workspace switcher and the account menu close on Escape and on a
// click outside them, and opening one closes the other.
func TestMenusCloseAsExpected(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("menus")
	owner := app.User(email)
	ws := app.Workspace(owner, webtest.UniqueSlug("menus"))
	app.Workspace(owner, webtest.UniqueSlug("menus-b"))

	ctx := browser(t)
	login(t, ctx, app, email)
	step(t, ctx, "open the workspace", chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug),
		chromedp.WaitVisible(chromedp.CSS(tid("workspace-name"))))

	isOpen := func(id string) bool {
		return eval[bool](t, ctx, `document.querySelector('[data-testid="`+id+`"]').open`)
	}
	want := func(when string, switcher, user bool) {
		t.Helper()
		if s, u := isOpen("switcher"), isOpen("user-menu"); s != switcher || u != user {
			shot(t, ctx, "failed-menus")
			t.Fatalf("%s: switcher open %v (want %v), account menu open %v (want %v)", when, s, switcher, u, user)
		}
	}
	// An empty spot of the page, below the content and clear of both menus.
	outside := func() chromedp.Action[chromedp.Void] { return chromedp.MouseClickXY(1200, 860) }
	if hit := eval[string](t, ctx, `(function(){var e=document.elementFromPoint(1200,860);return e&&e.closest("details")?"menu":"page"})()`); hit != "page" {
		t.Fatalf("the spot used for an outside click is inside a menu")
	}

	want("at first", false, false)
	step(t, ctx, "open the switcher", click(tid("switcher")+" summary"))
	want("after opening the switcher", true, false)
	step(t, ctx, "press Escape", chromedp.KeyEvent(kb.Escape))
	want("after Escape", false, false)
	if focused := eval[bool](t, ctx, `document.activeElement === document.querySelector('[data-testid="switcher"] summary')`); !focused {
		t.Error("after Escape, focus is not back on the switcher's button")
	}

	step(t, ctx, "open the switcher again", click(tid("switcher")+" summary"))
	want("after reopening the switcher", true, false)
	step(t, ctx, "open the account menu", click(tid("user-menu")+" summary"))
	want("after opening the account menu", false, true)
	step(t, ctx, "click outside", outside())
	want("after a click outside the account menu", false, false)

	step(t, ctx, "open the account menu", click(tid("user-menu")+" summary"))
	step(t, ctx, "open the switcher", click(tid("switcher")+" summary"))
	want("after opening the switcher over the account menu", true, false)
	step(t, ctx, "click outside", outside())
	want("after a click outside the switcher", false, false)

	step(t, ctx, "open the account menu", click(tid("user-menu")+" summary"))
	step(t, ctx, "press Escape", chromedp.KeyEvent(kb.Escape))
	want("after Escape in the account menu", false, false)
}
