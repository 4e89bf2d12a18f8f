package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"atrium/handlers/webtest"
	"atrium/models"
)

func TestSignupLoginLogout(t *testing.T) {
	app := webtest.Start(t)
	c := app.Client()
	c.Get("/signup")
	email := webtest.UniqueEmail("new")

	res := c.Back(c.Post("/signup", url.Values{"email": {email}, "name": {"Nina"}, "password": {"short"}}), "/signup")
	if !res.Has("error-password") {
		t.Fatalf("weak password: status %d, error shown %v", res.StatusCode, res.Has("error-password"))
	}
	if got := res.Doc().Find("#f-email").AttrOr("value", ""); got != email {
		t.Fatalf("the form lost the email: %q", got)
	}
	res = c.Back(c.Post("/signup", url.Values{"email": {email}, "name": {"Nina"}, "password": {"password1234"}}), "/signup")
	if !strings.Contains(res.TestID("error-password"), "common") {
		t.Fatalf("common password accepted: %d %q", res.StatusCode, res.TestID("error-password"))
	}
	res = c.Post("/signup", url.Values{"email": {email}, "name": {"Nina"}, "password": {webtest.Password}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/workspaces" {
		t.Fatalf("sign-up: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res = c.Get("/workspaces")
	if res.StatusCode != http.StatusOK || !res.Has("empty-workspaces") {
		t.Fatalf("after sign-up /workspaces: %d", res.StatusCode)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("authenticated page Cache-Control = %q", res.Header.Get("Cache-Control"))
	}
	// The same email again is refused with a message.
	other := app.Client()
	other.Get("/signup")
	res = other.Back(other.Post("/signup", url.Values{"email": {strings.ToUpper(email)}, "password": {webtest.Password}}), "/signup")
	if !res.Has("error-email") {
		t.Fatalf("duplicate email: %d", res.StatusCode)
	}

	// Log out: the old cookie no longer works, server-side.
	cookie := c.Cookie()
	res = c.Post("/logout", nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	replay := app.Client()
	u, _ := url.Parse(app.HTTP.URL)
	replay.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "atrium_session", Value: cookie}})
	if res := replay.Get("/workspaces"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("replayed cookie after logout: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}

	// Log in again.
	c.Get("/login")
	res = c.Post("/login", url.Values{"email": {email}, "password": {webtest.Password}})
	if res.StatusCode != http.StatusSeeOther || strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("login: %d", res.StatusCode)
	}
}

func TestSessionFixation(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("fix")
	app.User(email)
	c := app.Client()
	c.Get("/login")
	before := c.Cookie()
	if before == "" {
		t.Fatal("no session cookie before login")
	}
	res := c.Post("/login", url.Values{"email": {email}, "password": {webtest.Password}})
	if res.StatusCode != http.StatusSeeOther || strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("login: %d", res.StatusCode)
	}
	after := c.Cookie()
	if after == before {
		t.Fatal("session token did not change at login")
	}
	// The pre-login token must not carry the logged-in session.
	attacker := app.Client()
	u, _ := url.Parse(app.HTTP.URL)
	attacker.HTTP.Jar.SetCookies(u, []*http.Cookie{{Name: "atrium_session", Value: before}})
	if res := attacker.Get("/workspaces"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("old token still signed in: %d", res.StatusCode)
	}
}

// normalize strips the parts of a page that differ per request by design (the CSRF token) and the
// email the visitor typed, so two refusals can be compared byte for byte.
func normalize(body, email string) string {
	body = regexp.MustCompile(`(content|value)="[A-Za-z0-9_-]{43}"`).ReplaceAllString(body, `$1="TOKEN"`)
	body = regexp.MustCompile(`"X-CSRF-Token": "[A-Za-z0-9_-]{43}"`).ReplaceAllString(body, `"X-CSRF-Token": "TOKEN"`)
	return strings.ReplaceAll(body, email, "EMAIL")
}

func TestLoginAnswersTheSameForUnknownEmailAndWrongPassword(t *testing.T) {
	app := webtest.Start(t)
	known := webtest.UniqueEmail("known")
	app.User(known)
	unknown := webtest.UniqueEmail("unknown")
	c := app.Client()
	c.Get("/login")
	wrong := c.Post("/login", url.Values{"email": {known}, "password": {"not the password at all"}})
	wrongPage := c.Back(wrong, "/login")
	missing := c.Post("/login", url.Values{"email": {unknown}, "password": {"not the password at all"}})
	missingPage := c.Back(missing, "/login")
	if wrong.Body != missing.Body {
		t.Fatalf("answers differ:\n%s\n----\n%s", wrong.Body, missing.Body)
	}
	if a, b := normalize(wrongPage.Body, known), normalize(missingPage.Body, unknown); a != b || !wrongPage.Has("auth-message") {
		t.Fatalf("the pages after the answer differ (or say nothing):\n%s\n----\n%s", a, b)
	}
}

func TestLoginThrottlePerAccount(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("throttle")
	app.User(email)
	c := app.Client()
	c.Get("/login")
	for i := 0; i < models.AccountMaxFailures; i++ {
		res := c.Back(c.Post("/login", url.Values{"email": {email}, "password": {"wrong password " + string(rune('a'+i))}}), "/login")
		if !strings.Contains(res.TestID("auth-message"), "incorrect") {
			t.Fatalf("failure %d: %q", i+1, res.TestID("auth-message"))
		}
	}
	// Now even the right password is refused, with how long to wait.
	post := c.Post("/login", url.Values{"email": {email}, "password": {webtest.Password}})
	if post.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	res := c.Back(post, "/login")
	if msg := res.TestID("auth-message"); !regexp.MustCompile(`Try again in 1[45] minutes`).MatchString(msg) {
		t.Fatalf("after %d failures: message %q", models.AccountMaxFailures, msg)
	}
	// Another account from the same client is not locked by this one.
	other := webtest.UniqueEmail("other")
	app.User(other)
	if res := c.Post("/login", url.Values{"email": {other}, "password": {webtest.Password}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("other account: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestLoginThrottlePerIP(t *testing.T) {
	app := webtest.Start(t)
	ctx := context.Background()
	// 100 failures from this IP across many accounts, recorded as the handler records them.
	for i := 0; i < models.IPMaxFailures; i++ {
		if err := models.RecordLoginFailure(ctx, app.DB.App, webtest.UniqueEmail("spray"), "127.0.0.1", app.Server.Now()); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { app.DB.Owner.ExecContext(ctx, "DELETE FROM login_failures WHERE scope = 'ip'") })
	email := webtest.UniqueEmail("victim")
	app.User(email)
	c := app.Client()
	c.Get("/login")
	res := c.Back(c.Post("/login", url.Values{"email": {email}, "password": {webtest.Password}}), "/login")
	if !strings.Contains(res.TestID("auth-message"), "Too many failed log-ins") {
		t.Fatalf("after %d failures from the IP: %q", models.IPMaxFailures, res.TestID("auth-message"))
	}
	// A spoofed X-Forwarded-For does not escape the limit: no proxy is trusted.
	res = c.Back(c.Do(http.MethodPost, "/login", url.Values{"email": {email}, "password": {webtest.Password}, "_csrf": {c.CSRF}},
		http.Header{"X-Forwarded-For": {"203.0.113.9"}}), "/login")
	if !strings.Contains(res.TestID("auth-message"), "Too many failed log-ins") {
		t.Fatalf("X-Forwarded-For escaped the IP throttle: %q", res.TestID("auth-message"))
	}
}

func TestCSRF(t *testing.T) {
	app := webtest.Start(t)
	c := app.Login(webtest.UniqueEmail("csrf"))
	form := url.Values{"name": {"Evil"}, "slug": {webtest.UniqueSlug("evil")}}
	for name, tok := range map[string]string{"missing": "", "wrong": strings.Repeat("x", 43)} {
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		if tok != "" {
			f.Set("_csrf", tok)
		}
		res := c.Do(http.MethodPost, "/workspaces", f, nil)
		if res.StatusCode != http.StatusForbidden {
			t.Errorf("%s token: status %d", name, res.StatusCode)
		}
	}
	// The header form works (htmx).
	res := c.HTMX(http.MethodPost, "/workspaces", form)
	if res.StatusCode != http.StatusOK || res.Header.Get("HX-Redirect") == "" {
		t.Fatalf("htmx with header token: %d %q", res.StatusCode, res.Header.Get("HX-Redirect"))
	}
}

func TestOpenRedirectRefused(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("redir")
	app.User(email)
	cases := map[string]string{
		"/w/x/members":          "/w/x/members",
		"//evil.example":        "/",
		"/\\evil.example":       "/",
		"https://evil.example/": "/",
		"javascript:alert(1)":   "/",
		"/%2F%2Fevil.example":   "/%2F%2Fevil.example",
	}
	for next, want := range cases {
		c := app.Client()
		c.Get("/login")
		res := c.Post("/login", url.Values{"email": {email}, "password": {webtest.Password}, "next": {next}})
		if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != want {
			t.Errorf("next=%q: %d to %q, want %q", next, res.StatusCode, got, want)
		}
	}
}

func TestPasswordChangeEndsOtherSessions(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("pw")
	laptop := app.Login(email)
	phone := app.Login(email)
	res := laptop.Get("/account")
	if n := res.Doc().Find(`[data-testid="session-row"]`).Length(); n != 2 {
		t.Fatalf("account lists %d sessions, want 2", n)
	}
	res = laptop.Follow(laptop.Post("/account/password", url.Values{"current_password": {"wrong one entirely"}, "password": {"a brand new password"}}))
	if !res.Has("error-current_password") || strings.Contains(res.Body, "wrong one entirely") {
		t.Fatalf("wrong current password: %d", res.StatusCode)
	}
	res = laptop.Post("/account/password", url.Values{"current_password": {webtest.Password}, "password": {"a brand new password"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("change password: %d", res.StatusCode)
	}
	if res := laptop.Get("/account"); res.StatusCode != http.StatusOK {
		t.Fatalf("the changing session was logged out: %d", res.StatusCode)
	}
	if res := phone.Get("/account"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the other session survived the password change: %d", res.StatusCode)
	}
	// The new password works, the old one does not.
	c := app.Client()
	c.Get("/login")
	if res := c.Back(c.Post("/login", url.Values{"email": {email}, "password": {webtest.Password}}), "/login"); !res.Has("auth-message") {
		t.Fatalf("old password: no refusal")
	}
	if res := c.Post("/login", url.Values{"email": {email}, "password": {"a brand new password"}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("new password: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestEndOneSession(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("end")
	a := app.Login(email)
	b := app.Login(email)
	res := a.Get("/account")
	form := res.Doc().Find(`form[action^="/account/sessions/"]`)
	action, ok := form.Attr("action")
	if !ok || form.Length() != 1 {
		t.Fatalf("want one End button for the other session, got %d", form.Length())
	}
	if res := a.Post(action, nil); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("end session: %d", res.StatusCode)
	}
	if res := b.Get("/account"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("ended session still works: %d", res.StatusCode)
	}
	// Someone else's session id is not found.
	c := app.Login(webtest.UniqueEmail("stranger"))
	if res := c.Post(action, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("ending another user's session: %d", res.StatusCode)
	}
}

func TestSecurityHeadersEverywhere(t *testing.T) {
	app := webtest.Start(t)
	c := app.Client()
	for _, p := range []string{"/login", "/static/css/app.css", "/no-such-page", "/healthz", "/w/nope"} {
		res := c.Get(p)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %s", p, csp, want)
			}
		}
		if res.Header.Get("X-Content-Type-Options") != "nosniff" || res.Header.Get("Referrer-Policy") == "" {
			t.Errorf("%s: missing nosniff or Referrer-Policy", p)
		}
	}
	if res := c.Get("/no-such-page"); res.StatusCode != http.StatusNotFound || !res.Has("error-page") {
		t.Errorf("unknown page: %d, friendly page %v", res.StatusCode, res.Has("error-page"))
	}
}

func TestWorkspaceCreateAndSlugCheck(t *testing.T) {
	app := webtest.Start(t)
	c := app.Login(webtest.UniqueEmail("creator"))
	slug := webtest.UniqueSlug("acme")
	if res := c.HTMX(http.MethodGet, "/workspaces/slug-check?slug="+slug, nil); !res.Has("slug-available") {
		t.Fatalf("fresh slug not available: %s", res.Body)
	}
	res := c.Post("/workspaces", url.Values{"name": {"Acme <script>"}, "slug": {slug}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/w/"+slug {
		t.Fatalf("create: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	page := c.Get("/w/" + slug)
	if page.TestID("workspace-name") != "Acme <script>" || strings.Contains(page.Body, "Acme <script>") {
		t.Fatal("workspace name not shown escaped")
	}
	if page.TestID("role") != "Owner" || page.TestID("tier") != "Free" {
		t.Fatalf("role %q tier %q", page.TestID("role"), page.TestID("tier"))
	}
	if res := c.HTMX(http.MethodGet, "/workspaces/slug-check?slug="+slug, nil); !res.Has("slug-taken") {
		t.Fatal("taken slug reported available")
	}
	res = c.Follow(c.Post("/workspaces", url.Values{"name": {"Again"}, "slug": {slug}}))
	if !res.Has("error-slug") || res.Doc().Find(`#f-name`).AttrOr("value", "") != "Again" {
		t.Fatalf("duplicate slug: %d", res.StatusCode)
	}
	res = c.Follow(c.Post("/workspaces", url.Values{"name": {""}, "slug": {"AB"}}))
	if !res.Has("error-name") || !res.Has("error-slug") {
		t.Fatalf("invalid form: %d", res.StatusCode)
	}
	if res := c.HTMX(http.MethodPost, "/workspaces", url.Values{"name": {""}, "slug": {"AB"}}); res.StatusCode != http.StatusUnprocessableEntity || !res.Has("error-name") {
		t.Fatalf("invalid form over htmx: %d", res.StatusCode)
	}
	// "/" now opens the last workspace used.
	if res := c.Get("/"); res.Header.Get("Location") != "/w/"+slug {
		t.Fatalf("/ goes to %q", res.Header.Get("Location"))
	}
}
