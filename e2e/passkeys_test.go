package e2e

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// virtualAuthenticator gives the tab a platform authenticator that holds discoverable
// credentials and verifies the person (Chromium's DevTools WebAuthn domain), so
// navigator.credentials.create/get answer without a dialog.
func virtualAuthenticator(t *testing.T, tab context.Context) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(tab, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	res, err := chromedp.Call(tab, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Ctap2version:                webauthn.Ctap2versionCtap21,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		},
	})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return res.AuthenticatorID
}

// TestPasskeyRegisterThenLogIn: a person adds a passkey on the account page with the browser's
// authenticator, names it, logs out, and logs in again with "Sign in with a passkey" alone, no
// email or password typed.
func TestPasskeyRegisterThenLogIn(t *testing.T) {
	// WebAuthn wants a domain name: the console is served as http://localhost:<port>.
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	base := app.BaseURL()
	email := webtest.UniqueEmail("e2e-passkey")
	u := app.User(email)

	tab := browser(t)
	virtualAuthenticator(t, tab)
	step(t, tab, "log in with the password",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), webtest.Password),
		click(tid("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("user-menu"))),
	)
	step(t, tab, "add a passkey",
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.CSS(tid("passkeys-empty"))),
		chromedp.SendKeys(chromedp.CSS(tid("passkey-new-name")), "Test laptop"),
		click(tid("passkey-add")),
		chromedp.WaitVisible(chromedp.CSS(tid("passkey-row"))),
	)
	if got := text(t, tab, tid("passkey-name")); got != "Test laptop" {
		t.Fatalf("listed passkey %q, want Test laptop", got)
	}
	keys, err := models.ListPasskeys(context.Background(), app.DB.App, u.ID)
	if err != nil || len(keys) != 1 || !keys[0].Credential.Flags.UserVerified {
		t.Fatalf("stored passkeys %+v (%v), want one, user-verified", keys, err)
	}

	step(t, tab, "log out",
		click(tid("user-menu")),
		click(tid("logout")),
	)
	waitFor(t, tab, "the log-in page", `location.pathname === "/login" && !!document.querySelector('[data-testid="passkey-login"]')`)
	step(t, tab, "sign in with the passkey",
		click(tid("passkey-login")),
		chromedp.WaitVisible(chromedp.CSS(tid("user-menu"))),
	)
	if p := location(t, tab); p == "/login" {
		t.Fatalf("still on %s after the passkey log-in: %q", p, text(t, tab, tid("passkey-status")))
	}
	keys, err = models.ListPasskeys(context.Background(), app.DB.App, u.ID)
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil {
		t.Fatalf("the passkey's use was not recorded: %+v (%v)", keys, err)
	}
}

// TestPasskeyAsSecondFactor: a person whose only second factor is a passkey logs in with the
// password, is asked for the passkey (no code form, since they have no authenticator app), and
// is in after "Use a passkey" with the browser's authenticator; the second step is used at a
// phone's width, where the button must be visible and on top too.
func TestPasskeyAsSecondFactor(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	base := app.BaseURL()
	email := webtest.UniqueEmail("e2e-pk2")
	u := app.User(email)

	tab := browser(t)
	virtualAuthenticator(t, tab)
	step(t, tab, "log in with the password",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), webtest.Password),
		click(tid("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("user-menu"))),
	)
	step(t, tab, "add a passkey",
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.CSS(tid("passkeys-empty"))),
		chromedp.SendKeys(chromedp.CSS(tid("passkey-new-name")), "Second factor"),
		click(tid("passkey-add")),
		chromedp.WaitVisible(chromedp.CSS(tid("passkey-row"))),
	)
	step(t, tab, "log out",
		click(tid("user-menu")),
		click(tid("logout")),
	)
	waitFor(t, tab, "the log-in page", `location.pathname === "/login" && !!document.querySelector("#f-email")`)
	step(t, tab, "the password again, on a phone",
		chromedp.EmulateViewport(390, 844),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), webtest.Password),
		click(tid("login-submit")),
	)
	waitFor(t, tab, "the second step", `location.pathname === "/login/two-factor" && !!document.querySelector('[data-testid="second-factor-passkey-use"]:not([hidden])')`)
	if n := eval[int](t, tab, `document.querySelectorAll('[data-testid="code-form"]').length`); n != 0 {
		t.Fatalf("a person without an authenticator app is shown %d code forms", n)
	}
	shot(t, tab, "passkey-second-factor-phone")
	step(t, tab, "use the passkey",
		click(tid("second-factor-passkey-use")),
		chromedp.WaitVisible(chromedp.CSS(tid("user-menu"))),
	)
	if p := location(t, tab); p == "/login/two-factor" || p == "/login" {
		t.Fatalf("still on %s after the passkey: %q", p, text(t, tab, tid("passkey-status")))
	}
	keys, err := models.ListPasskeys(context.Background(), app.DB.App, u.ID)
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil {
		t.Fatalf("the passkey's use was not recorded: %+v (%v)", keys, err)
	}
}

// TestStepUpWithAPasskey: more than 10 minutes after log-in, deleting a workspace asks the
// person to confirm it's them; "Confirm with a passkey" uses the browser's authenticator, and the
// form then goes through by itself: the workspace is deleted.
func TestStepUpWithAPasskey(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	var later atomic.Int64 // how far the server's clock is ahead of the tests' clock
	app.Server.Now = func() time.Time { return testdb.Clock().Add(time.Duration(later.Load())) }
	base := app.BaseURL()
	email := webtest.UniqueEmail("e2e-pk-stepup")
	u := app.User(email)
	ws := app.Workspace(u, webtest.UniqueSlug("pkstep"))

	tab := browser(t)
	virtualAuthenticator(t, tab)
	step(t, tab, "log in and add a passkey",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), webtest.Password),
		click(tid("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("user-menu"))),
		chromedp.Navigate(base+"/account"),
		chromedp.WaitVisible(chromedp.CSS(tid("passkeys-empty"))),
		click(tid("passkey-add")),
		chromedp.WaitVisible(chromedp.CSS(tid("passkey-row"))),
	)
	later.Store(int64(11 * time.Minute))
	step(t, tab, "ask to delete the workspace",
		chromedp.Navigate(base+"/w/"+ws.Slug+"/settings"),
		chromedp.WaitVisible(chromedp.CSS(tid("delete-form"))),
	)
	step(t, tab, "type the address and delete",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="delete-form"] #f-confirm`), ws.Slug),
		click(tid("delete-submit")),
	)
	dialogOnTop(t, tab, "the delete dialog")
	step(t, tab, "confirm in the dialog", click(`#page-dialog `+tid("confirm-submit")))
	waitFor(t, tab, "the step-up form with its passkey button",
		`!!document.querySelector('[data-testid="step-up"]') && !!document.querySelector('[data-testid="step-up-passkey"]:not([hidden])')`)
	step(t, tab, "confirm with the passkey", click(tid("step-up-passkey")))
	waitFor(t, tab, "the workspaces list", `location.pathname === "/workspaces"`)
	var n int
	// Deleting schedules the deletion: the workspace is gone for its members, kept 30 days to restore.
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM workspaces WHERE id = ? AND deleted_at IS NULL", ws.ID).Scan(context.Background(), &n); err != nil || n != 0 {
		t.Fatalf("the workspace is not scheduled for deletion (%d, %v): %q", n, err, text(t, tab, tid("step-up-passkey-status")))
	}
}

// TestDeleteAccountAsksInTheDialog: deleting the account asks first in the page's own dialog;
// "Keep my account" changes nothing, "Delete my account" deletes it and lands on the log-in page.
func TestDeleteAccountAsksInTheDialog(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("e2e-delete")
	app.User(email)
	tab := browser(t)
	login(t, tab, app, email)
	step(t, tab, "fill in the deletion form and cancel in the dialog",
		chromedp.Navigate(app.HTTP.URL+"/account"),
		chromedp.WaitVisible(chromedp.CSS(tid("delete-account"))),
		chromedp.SendKeys(chromedp.CSS(tid("delete-password")), webtest.Password),
		click(tid("delete-confirm")),
		click(tid("delete-account-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("delete-account-dialog"))),
		click(tid("delete-account-cancel")),
		chromedp.WaitNotVisible(chromedp.CSS(tid("delete-account-dialog"))),
	)
	if _, err := models.UserByEmail(context.Background(), app.DB.App, email); err != nil {
		t.Fatalf("cancel deleted the account: %v", err)
	}
	step(t, tab, "confirm in the dialog",
		click(tid("delete-account-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("delete-account-dialog"))),
		click(tid("delete-account-confirm")),
	)
	waitFor(t, tab, "the log-in page", `location.pathname === "/login"`)
	step(t, tab, "the log-in page shows its message", chromedp.WaitVisible(chromedp.CSS(tid("flash"))))
	if got := text(t, tab, tid("flash")); !strings.Contains(got, "deleted") {
		t.Fatalf("flash %q", got)
	}
	if _, err := models.UserByEmail(context.Background(), app.DB.App, email); err == nil {
		t.Fatal("the account survived")
	}
}
