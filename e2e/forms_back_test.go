package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
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

// TestLogInWithoutJavaScriptEndsInARedirect: with JavaScript off, at 1280×800 and 390×844, a wrong
// password at the log-in form ends on the log-in page's own address (the redirect's, which keeps
// where the log-in was going), with the message and the email, never the password; a reload then
// sends nothing again (the failure is counted once) and shows the clean form.
func TestLogInWithoutJavaScriptEndsInARedirect(t *testing.T) {
	app := webtest.Start(t)
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			tab := browser(t) // a browser of its own: signed out
			step(t, tab, "turn JavaScript off", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
				return err
			}))
			email := webtest.UniqueEmail("e2e-nojs-" + size.name)
			app.User(email)
			failures := func() (n int) {
				if err := app.DB.Owner.NewRaw(`SELECT count(*) FROM login_failures WHERE scope = 'account' AND key = ?`, email).
					Scan(context.Background(), &n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			step(t, tab, "open the log-in page", chromedp.EmulateViewport(size.w, size.h),
				chromedp.Navigate(app.HTTP.URL+"/login?next=%2Faccount"), chromedp.WaitVisible(chromedp.CSS(`#f-email`)))
			if !eval[bool](t, tab, `typeof window.htmx === "undefined"`) {
				t.Fatal("the page's scripts ran: JavaScript is on")
			}
			step(t, tab, "a wrong password",
				chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
				chromedp.SendKeys(chromedp.CSS(`#f-password`), "not the password 4c2d"),
				click(tid("login-submit")))
			waitFor(t, tab, "the refusal", `!!document.querySelector('[data-testid="auth-message"]')`)
			if got := eval[string](t, tab, `location.pathname + location.search`); got != "/login?next=%2Faccount" {
				t.Fatalf("after the refusal the address is %s, want the log-in page's", got)
			}
			if got := eval[string](t, tab, `document.querySelector('#f-email').value + "|" + document.querySelector('#f-password').value`); got != email+"|" {
				t.Fatalf("email|password after the refusal: %q", got)
			}
			if got := eval[string](t, tab, `document.querySelector('input[name="next"]').value`); got != "/account" {
				t.Fatalf("next after the refusal: %q", got)
			}
			shot(t, tab, "login-nojs-refused-"+size.name)
			if n := failures(); n != 1 {
				t.Fatalf("%d failures counted for one wrong password", n)
			}
			step(t, tab, "reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#f-email`)))
			if eval[bool](t, tab, `!!document.querySelector('[data-testid="auth-message"]')`) {
				t.Fatal("the refusal is shown again after a reload")
			}
			if got := eval[string](t, tab, `location.pathname + location.search`); got != "/login?next=%2Faccount" {
				t.Fatalf("after the reload the address is %s", got)
			}
			if n := failures(); n != 1 {
				t.Fatalf("the reload sent the form again: %d failures", n)
			}
			// The right password from the same page still logs in and goes where it was going.
			step(t, tab, "the right password",
				chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
				chromedp.SendKeys(chromedp.CSS(`#f-password`), webtest.Password),
				click(tid("login-submit")))
			waitFor(t, tab, "the account page", `location.pathname === "/account"`)
		})
	}
}
