package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models/mail/smtptest"
)

// TestResetAPasswordThroughTheMail: a person who forgot their password follows "Forgot password?"
// from the log-in page, asks for a link, reads it in the mail the test SMTP server received, sets a
// new password there, and logs in with it; the old password no longer works and the link is spent.
func TestResetAPasswordThroughTheMail(t *testing.T) {
	smtp := smtptest.Start(t)
	app := webtest.StartWith(t, handlers.Config{SMTPURL: smtp.URL(), DeliverMail: true,
		MailRetryBase: 50 * time.Millisecond, MailPollInterval: 50 * time.Millisecond})
	email := webtest.UniqueEmail("e2e-forgetful")
	app.User(email)
	const fresh = "a brand new passphrase 42"

	tab := browser(t)
	step(t, tab, "follow Forgot password? from the log-in page",
		chromedp.Navigate(app.HTTP.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(tid("forgot-link"))),
		click(tid("forgot-link")),
		chromedp.WaitVisible(chromedp.CSS(tid("forgot-submit"))),
	)
	step(t, tab, "ask for a link",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		click(tid("forgot-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("flash"))),
	)
	if got := text(t, tab, tid("flash")); !strings.Contains(got, "If an account uses that address") {
		t.Fatalf("answer %q", got)
	}
	msg := smtp.Wait(email, 1, 30*time.Second)[0]
	link := regexp.MustCompile(regexp.QuoteMeta(app.HTTP.URL) + `/password/reset/[A-Za-z0-9_-]+`).FindString(msg.Body)
	if link == "" {
		t.Fatalf("no reset link in %q", msg.Body)
	}
	step(t, tab, "open the link and set a new password",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(tid("reset-submit"))),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), fresh),
		click(tid("reset-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("login-submit"))),
	)
	if got := text(t, tab, tid("flash")); !strings.Contains(got, "Your password is changed") {
		t.Fatalf("after the reset %q", got)
	}
	step(t, tab, "the old password is refused",
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), webtest.Password),
		click(tid("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("auth-message"))),
	)
	step(t, tab, "the new one logs in",
		chromedp.Navigate(app.HTTP.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`#f-email`)),
		chromedp.SendKeys(chromedp.CSS(`#f-email`), email),
		chromedp.SendKeys(chromedp.CSS(`#f-password`), fresh),
		click(tid("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("user-menu"))),
	)
	step(t, tab, "the link is spent",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(tid("link-gone"))),
	)
	if n := len(smtp.Wait(email, 2, 30*time.Second)); n != 2 {
		t.Fatalf("%d messages, want the link and the password-changed notice", n)
	}
}
