package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"atrium/handlers/webtest"
)

// TestTwoFactorEnrolAndLogIn: a person sets up an authenticator from the key the page shows
// (data-totp-secret), sees their recovery codes, logs out, and logs in again with the password
// and a code computed from that key; the password alone does not open the console.
func TestTwoFactorEnrolAndLogIn(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("e2e-2fa")
	app.User(email)
	ctx := browser(t)
	login(t, ctx, app, email)
	step(t, ctx, "open the two-factor page",
		chromedp.Navigate(app.HTTP.URL+"/account"),
		click(`[data-testid="account-2fa"] a`),
		chromedp.WaitVisible(chromedp.CSS(`[data-totp-secret]`)),
		chromedp.WaitVisible(chromedp.CSS(tid("totp-qr"))),
	)
	secret := eval[string](t, ctx, `document.querySelector("[data-totp-secret]").getAttribute("data-totp-secret")`)
	if len(secret) < 16 {
		t.Fatalf("secret %q", secret)
	}
	if w := eval[int](t, ctx, `document.querySelector('[data-testid="totp-qr"]').naturalWidth`); w < 100 {
		t.Fatalf("the QR code did not load (width %d)", w)
	}
	code, err := totp.GenerateCode(secret, app.Server.Now())
	if err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "confirm with a first code",
		chromedp.SendKeys(chromedp.CSS(`#f-code`), code),
		click(tid("enable-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("two-factor-enabled"))),
	)
	if n := eval[int](t, ctx, `document.querySelectorAll('[data-testid="recovery-code"]').length`); n != 10 {
		t.Fatalf("%d recovery codes shown", n)
	}
	shot(t, ctx, "two-factor-recovery-codes")
	step(t, ctx, "saved the codes",
		click(tid("recovery-continue")),
		chromedp.WaitVisible(chromedp.CSS(tid("two-factor-on"))),
	)
	step(t, ctx, "log out",
		click(tid("user-menu")+" summary"),
		click(tid("logout")),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
	)

	// The password alone leaves the console closed.
	step(t, ctx, "password only",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), webtest.Password),
		click(tid("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("code-form"))),
		chromedp.Navigate(app.HTTP.URL+"/workspaces"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
	)
	if got := location(t, ctx); got != "/login" {
		t.Fatalf("the pending log-in opened %s", got)
	}
	loginTwoFactor(t, ctx, app, email, secret)
	if got := location(t, ctx); got != "/workspaces" {
		t.Fatalf("after the code: %s", got)
	}
}
