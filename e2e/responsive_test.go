package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
	"atrium/models"
)

// TestPagesFitAPhone: at a phone's width (390 CSS pixels) no console page scrolls sideways; wide
// tables scroll inside their own box, and the compact navigation replaces the side bar.
func TestPagesFitAPhone(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("phone")
	owner := app.User(email)
	ws := app.Workspace(owner, webtest.UniqueSlug("phone"))
	app.AddMember(ws, app.User(webtest.UniqueEmail("a-rather-long-address-for-a-small-screen")), models.RoleAdmin)
	app.SetTier(ws, models.TierPro)
	tab := browser(t)
	step(t, tab, "phone viewport", chromedp.EmulateViewport(390, 844))
	login(t, tab, app, email)
	for _, p := range []string{"/workspaces", "/account", "/w/" + ws.Slug, "/w/" + ws.Slug + "/members", "/w/" + ws.Slug + "/keys",
		"/w/" + ws.Slug + "/usage", "/w/" + ws.Slug + "/audit", "/w/" + ws.Slug + "/settings"} {
		step(t, tab, "open "+p, chromedp.Navigate(app.HTTP.URL+p))
		if w := eval[int](t, tab, `document.documentElement.scrollWidth`); w > 390 {
			shot(t, tab, "too-wide")
			t.Errorf("%s is %d px wide on a 390 px screen", p, w)
		}
	}
	if visible := eval[bool](t, tab, `(function(){var n=document.querySelector('nav[aria-label="Workspace (compact)"]');return !!n && n.getBoundingClientRect().height > 0})()`); !visible {
		t.Error("no compact navigation on a phone")
	}
}
