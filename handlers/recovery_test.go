package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/mail/smtptest"
	"atrium/models/testdb"
)

// mailApp runs the server with the mail worker on, delivering to a test SMTP server.
func mailApp(t *testing.T) (*webtest.App, *smtptest.Server) {
	t.Helper()
	smtp := smtptest.Start(t)
	app := webtest.StartWith(t, handlers.Config{SMTPURL: smtp.URL(), DeliverMail: true,
		MailRetryBase: 50 * time.Millisecond, MailPollInterval: 50 * time.Millisecond})
	return app, smtp
}

// linkIn finds the first link of base+prefix in a mail body.
func linkIn(t *testing.T, app *webtest.App, body, prefix string) string {
	t.Helper()
	m := regexp.MustCompile(regexp.QuoteMeta(app.HTTP.URL+prefix) + `[A-Za-z0-9_-]+`).FindString(body)
	if m == "" {
		t.Fatalf("no %s link in %q", prefix, body)
	}
	return strings.TrimPrefix(m, app.HTTP.URL)
}

// askReset submits the forgot-password form and returns the page shown after the redirect.
func askReset(t *testing.T, c *webtest.Client, email string) *webtest.Response {
	t.Helper()
	c.Get("/password/forgot")
	res := c.Post("/password/forgot", url.Values{"email": {email}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/password/forgot" {
		t.Fatalf("forgot %s: %d %s", email, res.StatusCode, res.Header.Get("Location"))
	}
	return c.Get("/password/forgot")
}

func flashOf(r *webtest.Response) string {
	return strings.TrimSpace(r.Doc().Find(`[data-testid="flash"]`).Text())
}

func TestPasswordResetThroughTheMail(t *testing.T) {
	app, smtp := mailApp(t)
	u := app.User(webtest.UniqueEmail("forgetful"))
	other := app.Login(u.Email) // a session elsewhere, which the reset must end
	if res := other.Get("/account"); res.StatusCode != http.StatusOK {
		t.Fatalf("account before reset: %d", res.StatusCode)
	}

	login := app.Client()
	page := login.Get("/login")
	if href, _ := page.Doc().Find(`[data-testid="forgot-link"]`).Attr("href"); href != "/password/forgot" {
		t.Fatalf("log-in page links %q for a forgotten password", href)
	}

	// A known and an unknown address get the very same answer.
	unknown := webtest.UniqueEmail("nobody")
	a := askReset(t, app.Client(), unknown)
	b := askReset(t, login, u.Email)
	if flashOf(a) == "" || flashOf(a) != flashOf(b) {
		t.Fatalf("answers differ: %q vs %q", flashOf(a), flashOf(b))
	}
	msgs := smtp.Wait(u.Email, 1, 20*time.Second)
	link := linkIn(t, app, msgs[0].Body, "/password/reset/")
	if !strings.HasPrefix(app.HTTP.URL+link, app.Server.Cfg.BaseURL+"/password/reset/") {
		t.Fatalf("link %s is not on the base URL", link)
	}
	token := strings.TrimPrefix(link, "/password/reset/")

	// Only the token's hash is stored, and the delivered mail's text is gone from the outbox.
	db := testdb.Get(t).Owner
	ctx := context.Background()
	var stored int
	if err := db.NewRaw("SELECT count(*) FROM account_tokens WHERE token_hash = ?", models.HashInvitationToken(token)).Scan(ctx, &stored); err != nil || stored != 1 {
		t.Fatalf("hash rows %d (%v)", stored, err)
	}
	// (The worker marks the row sent just after the SMTP server's answer, so look for a moment.)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var leaks int
		if err := db.NewRaw("SELECT (SELECT count(*) FROM account_tokens WHERE token_hash = ?) + (SELECT count(*) FROM mail_outbox WHERE body LIKE ?)",
			token, "%"+token+"%").Scan(ctx, &leaks); err != nil {
			t.Fatal(err)
		}
		if leaks == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the token itself is stored %d times", leaks)
		}
	}

	// The link works: a weak password is refused and the link stays usable; a good one is set.
	form := login.Get(link)
	if form.StatusCode != http.StatusOK || form.TestID("reset-email") != u.Email {
		t.Fatalf("reset page %d %q", form.StatusCode, form.TestID("reset-email"))
	}
	if res := login.Post(link, url.Values{"password": {"short"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("weak password: %d", res.StatusCode)
	}
	const fresh = "a brand new passphrase 42"
	res := login.Post(link, url.Values{"password": {fresh}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("reset: %d %s", res.StatusCode, res.Header.Get("Location"))
	}

	// Every session ended; the link is used up; the new password logs in, the old one does not.
	if res := other.Get("/account"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the other session still opens /account: %d", res.StatusCode)
	}
	if res := login.Get(link); res.StatusCode != http.StatusGone || !res.Has("link-gone") {
		t.Fatalf("reused link: %d", res.StatusCode)
	}
	if res := login.Post(link, url.Values{"password": {"yet another passphrase 7"}}); res.StatusCode != http.StatusGone {
		t.Fatalf("reused link POST: %d", res.StatusCode)
	}
	if res := app.Client().Post("/login", url.Values{"email": {u.Email}, "password": {webtest.Password}}); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old password: %d", res.StatusCode)
	}
	if res := app.Client().Post("/login", url.Values{"email": {u.Email}, "password": {fresh}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("new password: %d", res.StatusCode)
	}

	// The person is told by mail; the unknown address got nothing at all.
	notice := smtp.Wait(u.Email, 2, 20*time.Second)[1]
	if !strings.Contains(notice.Subject, "password was changed") {
		t.Fatalf("second mail %q", notice.Subject)
	}
	if n := len(smtp.To(unknown)); n != 0 {
		t.Fatalf("%d messages to an address without an account", n)
	}
}

func TestPasswordResetLinksExpireAndAreReplaced(t *testing.T) {
	app, smtp := mailApp(t)
	u := app.User(webtest.UniqueEmail("twice"))
	c := app.Client()
	askReset(t, c, u.Email)
	first := linkIn(t, app, smtp.Wait(u.Email, 1, 20*time.Second)[0].Body, "/password/reset/")
	askReset(t, c, u.Email)
	second := linkIn(t, app, smtp.Wait(u.Email, 2, 20*time.Second)[1].Body, "/password/reset/")
	if first == second {
		t.Fatal("the same link twice")
	}
	// The newer link replaces the older one.
	if res := c.Get(first); res.StatusCode != http.StatusGone {
		t.Fatalf("superseded link: %d", res.StatusCode)
	}
	if res := c.Post(first, url.Values{"password": {"a brand new passphrase 42"}}); res.StatusCode != http.StatusGone {
		t.Fatalf("superseded link POST: %d", res.StatusCode)
	}
	if res := c.Get(second); res.StatusCode != http.StatusOK {
		t.Fatalf("newest link: %d", res.StatusCode)
	}
	// Thirty minutes later it has expired.
	app.Server.Now = func() time.Time { return testdb.Clock().Add(models.PasswordResetLifetime + time.Second) }
	if res := c.Get(second); res.StatusCode != http.StatusGone {
		t.Fatalf("expired link: %d", res.StatusCode)
	}
	if res := c.Post(second, url.Values{"password": {"a brand new passphrase 42"}}); res.StatusCode != http.StatusGone {
		t.Fatalf("expired link POST: %d", res.StatusCode)
	}
	app.Server.Now = testdb.Clock
	if res := app.Client().Post("/login", url.Values{"email": {u.Email}, "password": {webtest.Password}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the password changed through a dead link: %d", res.StatusCode)
	}
}

func TestPasswordResetIsThrottled(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("hammered") // no account: the throttle says nothing about that
	c := app.Client()
	for i := range models.ResetMaxPerAccount {
		if res := c.Post("/password/forgot", url.Values{"email": {email}}); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("request %d: %d", i+1, res.StatusCode)
		}
	}
	res := c.Post("/password/forgot", url.Values{"email": {email}})
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d", res.StatusCode)
	}
	// Another address from the same client is still served.
	if res := c.Post("/password/forgot", url.Values{"email": {webtest.UniqueEmail("other")}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("another address: %d", res.StatusCode)
	}
}

func TestMailNotConfiguredInProduction(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{Production: true, BaseURL: "https://atrium.example"})
	res := app.Client().Get("/password/forgot")
	if res.StatusCode != http.StatusOK || !res.Has("mail-off") {
		t.Fatalf("forgot page without SMTP in production: %d", res.StatusCode)
	}
	if res := app.Client().Get("/dev/mail"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("/dev/mail in production: %d", res.StatusCode)
	}
}

func TestSignUpVerificationGates(t *testing.T) {
	app, smtp := mailApp(t)
	email := webtest.UniqueEmail("newcomer")
	c := app.Client()
	c.Get("/signup")
	if res := c.Post("/signup", url.Values{"email": {email}, "name": {"New Comer"}, "password": {webtest.Password}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up: %d", res.StatusCode)
	}
	first := linkIn(t, app, smtp.Wait(email, 1, 20*time.Second)[0].Body, "/email/verify/")

	// The console works: a workspace of one's own.
	slug := webtest.UniqueSlug("fresh")
	c.Get("/workspaces")
	if res := c.Post("/workspaces", url.Values{"name": {"Fresh"}, "slug": {slug}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create workspace: %d %s", res.StatusCode, res.Body)
	}
	// Keys and invitations wait for the confirmed address, with the way to get a link.
	c.Get("/w/" + slug + "/keys")
	res := c.Post("/w/"+slug+"/keys", url.Values{"name": {"k"}, "scope": {"read"}, "expires_in_days": {"0"}})
	if res.StatusCode != http.StatusForbidden || !res.Has("resend-verification") || !strings.Contains(res.TestID("error-message"), "Confirm your email") {
		t.Fatalf("key before verification: %d %q", res.StatusCode, res.TestID("error-message"))
	}
	hx := c.HTMX(http.MethodPost, "/w/"+slug+"/keys", url.Values{"name": {"k"}, "scope": {"read"}, "expires_in_days": {"0"}})
	if hx.Header.Get("HX-Redirect") != "/account" {
		t.Fatalf("htmx key before verification: %d %v", hx.StatusCode, hx.Header)
	}
	if acc := c.Get("/account"); !acc.Has("email-unverified") || !strings.Contains(flashOf(acc), "Confirm your email") {
		t.Fatalf("account page after a refusal: %q", flashOf(acc))
	}
	if res := c.Post("/w/"+slug+"/invitations", url.Values{"email": {webtest.UniqueEmail("friend")}, "role": {"member"}}); res.StatusCode != http.StatusForbidden {
		t.Fatalf("invite before verification: %d", res.StatusCode)
	}

	// Resending replaces the first link.
	if res := c.Post("/account/email/resend", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("resend: %d", res.StatusCode)
	}
	second := linkIn(t, app, smtp.Wait(email, 2, 20*time.Second)[1].Body, "/email/verify/")
	if res := c.Get(first); res.StatusCode != http.StatusGone {
		t.Fatalf("replaced verification link: %d", res.StatusCode)
	}
	if res := c.Get(second); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("verification link: %d", res.StatusCode)
	}
	if acc := c.Get("/account"); !acc.Has("email-verified") {
		t.Fatal("the account page does not show the address confirmed")
	}
	c.Get("/w/" + slug + "/keys")
	if res := c.Post("/w/"+slug+"/keys", url.Values{"name": {"k"}, "scope": {"read"}, "expires_in_days": {"0"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("key after verification: %d", res.StatusCode)
	}
}

func TestAcceptingAnInvitationVerifiesTheAddress(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("host"))
	ws := app.Workspace(owner, webtest.UniqueSlug("host"))
	app.SetTier(ws, models.TierPro)
	email := webtest.UniqueEmail("guest")
	inv := inviteDirect(t, app, ws, owner, email, models.RoleMember)
	c := app.Client()
	c.Get("/signup")
	if res := c.Post("/signup", url.Values{"email": {email}, "password": {webtest.Password}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-up: %d", res.StatusCode)
	}
	u, _ := models.UserByEmail(context.Background(), app.DB.App, email)
	if u.EmailVerified() {
		t.Fatal("verified at sign-up")
	}
	c.Get("/invitations/" + inv.Token)
	if res := c.Post("/invitations/"+inv.Token+"/accept", nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("accept: %d", res.StatusCode)
	}
	u, _ = models.UserByEmail(context.Background(), app.DB.App, email)
	if !u.EmailVerified() {
		t.Fatal("accepting the invitation sent to the address did not verify it")
	}
}

func TestEmailChangeNeedsTheNewAddressConfirmed(t *testing.T) {
	app, smtp := mailApp(t)
	u := app.User(webtest.UniqueEmail("mover"))
	c := app.Login(u.Email)
	c.Get("/account")
	newAddr := webtest.UniqueEmail("moved")
	if res := c.Post("/account/email", url.Values{"email": {newAddr}, "current_password": {"wrong password here"}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	if res := c.Post("/account/email", url.Values{"email": {newAddr}, "current_password": {webtest.Password}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", res.StatusCode)
	}
	link := linkIn(t, app, smtp.Wait(newAddr, 1, 20*time.Second)[0].Body, "/email/verify/")
	notice := smtp.Wait(u.Email, 1, 20*time.Second)[0]
	if !strings.Contains(notice.Body, newAddr) {
		t.Fatalf("the old address's notice: %q", notice.Body)
	}
	if acc := c.Get("/account"); acc.TestID("account-email") != u.Email {
		t.Fatalf("the address changed before confirmation: %q", acc.TestID("account-email"))
	}
	if res := c.Get(link); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirm: %d", res.StatusCode)
	}
	if acc := c.Get("/account"); acc.TestID("account-email") != newAddr || !acc.Has("email-verified") {
		t.Fatalf("after confirmation: %q", acc.TestID("account-email"))
	}
	if res := c.Get(link); res.StatusCode != http.StatusGone {
		t.Fatalf("confirmation link reused: %d", res.StatusCode)
	}
}

func TestDevMailboxShowsMailWithoutSMTP(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{DeliverMail: true, MailPollInterval: 50 * time.Millisecond})
	email := webtest.UniqueEmail("devbox")
	c := app.Client()
	c.Get("/signup")
	c.Post("/signup", url.Values{"email": {email}, "password": {webtest.Password}})
	deadline := time.Now().Add(15 * time.Second)
	for {
		box := app.Client().Get("/dev/mail")
		if box.StatusCode != http.StatusOK {
			t.Fatalf("/dev/mail: %d", box.StatusCode)
		}
		found := false
		box.Doc().Find(`[data-testid="mail"]`).Each(func(_ int, s *goquery.Selection) {
			if strings.TrimSpace(s.Find(`[data-testid="mail-to"]`).Text()) == email &&
				strings.TrimSpace(s.Find(`[data-testid="mail-state"]`).Text()) == "sent" &&
				strings.Contains(s.Find(`[data-testid="mail-link"]`).Text(), "/email/verify/") {
				found = true
			}
		})
		if found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no delivered verification mail for %s in the mailbox", email)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
