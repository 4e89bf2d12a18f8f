package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
)

// TestRefusedFormsKeepWhatWasTyped: with JavaScript, at 1280×800 and 390×844, a refused invitation
// (a plain form: refused, redirected, shown again) and a refused rename (an htmx form: swapped in
// place) show the message at the field, keep what was typed and put the focus on that field; the
// address bar shows the page, not the form's action.
func TestRefusedFormsKeepWhatWasTyped(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("e2e-back")
	owner := app.User(email)
	ws := app.Workspace(owner, webtest.UniqueSlug("back"))
	tab := browser(t)
	login(t, tab, app, email)
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			step(t, tab, "open Members", chromedp.EmulateViewport(size.w, size.h),
				chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/members"), chromedp.WaitVisible(chromedp.CSS(tid("invite-email"))))
			step(t, tab, "invite a bad address", chromedp.SendKeys(chromedp.CSS(tid("invite-email")), "not an address"),
				click(tid("invite-submit")))
			waitFor(t, tab, "the invitation's message", `!!document.querySelector('[data-testid="error-email"]')`)
			if got := location(t, tab); got != "/w/"+ws.Slug+"/members" {
				t.Fatalf("the address bar shows %s", got)
			}
			if got := eval[string](t, tab, `document.activeElement.id + "=" + document.activeElement.value`); got != "f-email=not an address" {
				t.Fatalf("focus and value after the refusal: %q", got)
			}

			long := strings.Repeat("n", 81)
			step(t, tab, "open Settings", chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/settings"),
				chromedp.WaitVisible(chromedp.CSS(`#settings-name #f-name`)))
			eval[bool](t, tab, `document.querySelector('#settings-name #f-name').value = ""; true`)
			step(t, tab, "rename to a long name", chromedp.SendKeys(chromedp.CSS(`#settings-name #f-name`), long),
				click(tid("rename-submit")))
			waitFor(t, tab, "the rename's message", `!!document.querySelector('#settings-name [data-testid="error-name"]')`)
			if got := location(t, tab); got != "/w/"+ws.Slug+"/settings" {
				t.Fatalf("the address bar shows %s", got)
			}
			waitFor(t, tab, "the focus on the name", `document.activeElement && document.activeElement.id === "f-name"`)
			if got := eval[string](t, tab, `document.activeElement.value`); got != long {
				t.Fatalf("the name field holds %q", got)
			}
		})
	}
}
