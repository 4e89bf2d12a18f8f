package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium/handlers/webtest"
	"atrium/models"
)

// TestRefusedFormsComeBackAfterARedirect: a form posted without JavaScript that the server refuses
// is answered 303 to the page it is on (never a page answering the POST, which a reload would send
// again); that page shows what was typed (never a password) and each message, with the focus on
// the first field that has one; once only.
func TestRefusedFormsComeBackAfterARedirect(t *testing.T) {
	app, _ := mailApp(t)
	ownerUser := app.User(webtest.UniqueEmail("back"))
	owner := app.Login(ownerUser.Email)
	ws := app.Workspace(ownerUser, webtest.UniqueSlug("back"))
	w := "/w/" + ws.Slug
	taken := webtest.UniqueSlug("taken")
	app.Workspace(ownerUser, taken)

	cases := []struct {
		name, path, page string
		form             url.Values
		// errors are the fields with a message; kept the values shown again (field id → value).
		errors []string
		kept   map[string]string
		secret string // typed, and never to be seen again
	}{
		{name: "invitation", path: w + "/invitations", page: w + "/members",
			form: url.Values{"email": {"not an address"}, "role": {"admin"}}, errors: []string{"email"},
			kept: map[string]string{"f-email": "not an address", "f-role": "admin"}},
		{name: "invitation over the seats", path: w + "/invitations", page: w + "/members",
			form: url.Values{"email": {"second@example.com"}, "role": {"viewer"}}, errors: []string{"email"},
			kept: map[string]string{"f-email": "second@example.com", "f-role": "viewer"}},
		{name: "workspace name", path: w + "/settings/name", page: w + "/settings",
			form: url.Values{"name": {strings.Repeat("w", 81)}}, errors: []string{"name"},
			kept: map[string]string{"f-name": strings.Repeat("w", 81)}},
		{name: "tier", path: w + "/settings/tier", page: w + "/settings",
			form: url.Values{"tier": {"gold"}}, errors: []string{"tier"}},
		{name: "require two-factor", path: w + "/settings/two-factor", page: w + "/settings",
			form: url.Values{"require_two_factor": {"on"}}, errors: []string{"require_two_factor"}},
		{name: "account name", path: "/account/name", page: "/account",
			form: url.Values{"name": {strings.Repeat("n", 81)}}, errors: []string{"name"},
			kept: map[string]string{"f-name": strings.Repeat("n", 81)}},
		{name: "account email", path: "/account/email", page: "/account",
			form:   url.Values{"email": {"moved@example.com"}, "current_password": {"wrong password 7c1f"}},
			errors: []string{"current_password"}, kept: map[string]string{"f-email": "moved@example.com"},
			secret: "wrong password 7c1f"},
		{name: "account password", path: "/account/password", page: "/account",
			form:   url.Values{"current_password": {"wrong password 9a2e"}, "password": {"short"}},
			errors: []string{"current_password"}, secret: "wrong password 9a2e"},
		{name: "new workspace", path: "/workspaces", page: "/workspaces",
			form: url.Values{"name": {"Kept Name"}, "slug": {taken}}, errors: []string{"slug"},
			kept: map[string]string{"f-name": "Kept Name", "f-slug": taken}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			owner.Get(strings.SplitN(tc.page, "#", 2)[0])
			res := owner.Post(tc.path, tc.form)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != tc.page {
				t.Fatalf("POST %s: %d to %q, want 303 to %q", tc.path, res.StatusCode, res.Header.Get("Location"), tc.page)
			}
			page := owner.Get(res.Header.Get("Location"))
			if page.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", tc.page, page.StatusCode)
			}
			doc := page.Doc()
			for _, f := range tc.errors {
				if page.TestID("error-"+f) == "" {
					t.Errorf("no message for %s", f)
				}
			}
			for id, want := range tc.kept {
				el := doc.Find("#" + id)
				got := el.AttrOr("value", "")
				if el.Is("select") {
					got = el.Find("option[selected]").AttrOr("value", "")
				}
				if got != want {
					t.Errorf("%s shows %q, want %q", id, got, want)
				}
			}
			if tc.secret != "" && strings.Contains(page.Body, tc.secret) {
				t.Errorf("the page shows the password typed")
			}
			// The first field with a message has the focus: the page's first autofocus is invalid.
			first := doc.Find("[autofocus]").First()
			if v, _ := first.Attr("aria-invalid"); v != "true" {
				t.Errorf("the first autofocus is #%s (aria-invalid %q), not a field with a message", first.AttrOr("id", "?"), v)
			}
			// Once: a reload shows the page as it is.
			again := owner.Get(strings.SplitN(tc.page, "#", 2)[0])
			for _, f := range tc.errors {
				if again.Has("error-" + f) {
					t.Errorf("the message for %s is shown twice", f)
				}
			}
		})
	}
	if got := models.TierFree; tierNow(t, app, ws) != got {
		t.Fatalf("a refused form changed the tier")
	}
}

// TestRefusedSignInFormsComeBackAfterARedirect: the forms of signing in, up and back (log-in and
// its second step, sign-up, a reset link's request and its new password, two-factor's own forms)
// answer a refusal without JavaScript with a 303 to the form's page, never a page of their own: it
// shows the message and what was typed once, never a password or a code, and the state the form
// belongs to (where the log-in was going, the pending second step) survives the redirect.
func TestRefusedSignInFormsComeBackAfterARedirect(t *testing.T) {
	app, smtp := mailApp(t)
	clock := startClock(t, app)
	known := app.User(webtest.UniqueEmail("prg-known"))
	tfa := app.User(webtest.UniqueEmail("prg-tfa"))
	tfaSecret := app.EnableTwoFactor(tfa)
	fresh := app.User(webtest.UniqueEmail("prg-fresh")) // enrols on its page
	// A reset link for known.
	visitor := app.Client()
	askReset(t, visitor, known.Email)
	resetLink := linkIn(t, app, smtp.Wait(known.Email, 1, 20*time.Second)[0].Body, "/password/reset/")

	type tcase struct {
		name string
		// client is the browser the form is posted from, at the page the form is on.
		client     func(t *testing.T) *webtest.Client
		path, page string
		form       url.Values
		// shown are the data-testids of the messages; kept the values shown again (field id → value).
		shown  []string
		kept   map[string]string
		secret string // typed, and never to be seen again
	}
	anon := func(page string) func(t *testing.T) *webtest.Client {
		return func(t *testing.T) *webtest.Client { c := app.Client(); c.Get(page); return c }
	}
	cases := []tcase{
		{name: "log-in, wrong password", client: anon("/login?next=/account"), path: "/login", page: "/login?next=%2Faccount",
			form:  url.Values{"email": {known.Email}, "password": {"wrong password 51d0"}, "next": {"/account"}},
			shown: []string{"auth-message"}, kept: map[string]string{"f-email": known.Email}, secret: "wrong password 51d0"},
		{name: "log-in, unknown email", client: anon("/login"), path: "/login", page: "/login",
			form:  url.Values{"email": {"nobody-prg@example.com"}, "password": {"wrong password 8e44"}},
			shown: []string{"auth-message"}, kept: map[string]string{"f-email": "nobody-prg@example.com"}, secret: "wrong password 8e44"},
		{name: "sign-up", client: anon("/signup"), path: "/signup", page: "/signup?next=%2Fw%2Fx",
			form:  url.Values{"email": {known.Email}, "name": {"Kept Name"}, "password": {"a long secret 3b7c9"}, "next": {"/w/x"}},
			shown: []string{"error-email"}, kept: map[string]string{"f-email": known.Email, "f-name": "Kept Name"}, secret: "a long secret 3b7c9"},
		{name: "reset request", client: anon("/password/forgot"), path: "/password/forgot", page: "/password/forgot",
			form: url.Values{"email": {"not an address"}}, shown: []string{"error-email"}, kept: map[string]string{"f-email": "not an address"}},
		{name: "new password", client: anon(resetLink), path: resetLink, page: resetLink,
			form: url.Values{"password": {"short9f"}}, shown: []string{"error-password"}, secret: "short9f"},
		{name: "second step, wrong code", client: func(t *testing.T) *webtest.Client { return passwordStep(t, app, tfa.Email) },
			path: "/login/two-factor", page: "/login/two-factor",
			form: url.Values{"code": {"000417"}}, shown: []string{"auth-message"}, secret: "000417"},
		{name: "second step, wrong recovery code", client: func(t *testing.T) *webtest.Client { return passwordStep(t, app, tfa.Email) },
			path: "/login/two-factor", page: "/login/two-factor",
			form: url.Values{"recovery_code": {"zzzz-prg-0000"}}, shown: []string{"auth-message"}, secret: "zzzz-prg-0000"},
		{name: "two-factor, first code", client: func(t *testing.T) *webtest.Client {
			c := app.Login(fresh.Email)
			c.Get("/account/two-factor")
			return c
		}, path: "/account/two-factor/enable", page: "/account/two-factor",
			form: url.Values{"code": {"000518"}}, shown: []string{"error-code"}, secret: "000518"},
		{name: "two-factor off, wrong password", client: func(t *testing.T) *webtest.Client {
			c := app.LoginTwoFactor(tfa.Email, tfaSecret)
			c.Get("/account/two-factor")
			return c
		}, path: "/account/two-factor/disable", page: "/account/two-factor",
			form:  url.Values{"password": {"wrong password 77aa"}, "code": {"000619"}},
			shown: []string{"error-password"}, secret: "wrong password 77aa"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.client(t)
			res := c.Post(tc.path, tc.form)
			page := c.Back(res, tc.page)
			if page.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: %d", tc.page, page.StatusCode)
			}
			for _, id := range tc.shown {
				if page.TestID(id) == "" {
					t.Errorf("no %s on the page", id)
				}
			}
			doc := page.Doc()
			for id, want := range tc.kept {
				if got := doc.Find("#"+id).AttrOr("value", ""); got != want {
					t.Errorf("%s shows %q, want %q", id, got, want)
				}
			}
			if tc.secret != "" && strings.Contains(page.Body, tc.secret) {
				t.Errorf("the page shows the secret typed")
			}
			if next := tc.form.Get("next"); next != "" {
				if got := doc.Find(`input[name="next"]`).AttrOr("value", ""); got != next {
					t.Errorf("next is %q, want %q", got, next)
				}
			}
			// Once: a reload shows the form as it is.
			again := c.Get(tc.page)
			for _, id := range tc.shown {
				if again.Has(id) {
					t.Errorf("%s is shown twice", id)
				}
			}
		})
	}

	// The second step keeps its pending log-in across the redirect, each wrong code counts once
	// (not again when the page is shown), and the right code then signs in where it was going.
	t.Run("second step keeps its state", func(t *testing.T) {
		ctx := context.Background()
		c := app.Client()
		c.Get("/login")
		if res := c.Post("/login", url.Values{"email": {tfa.Email}, "password": {webtest.Password}, "next": {"/account"}}); res.Header.Get("Location") != "/login/two-factor" {
			t.Fatalf("password: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
		failures := func() (n int) {
			if err := app.DB.Owner.NewRaw(`SELECT count(*) FROM login_failures WHERE scope = 'second_user' AND key = ?`, tfa.ID.String()).Scan(ctx, &n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := failures()
		for range 2 {
			page := c.Back(c.Post("/login/two-factor", url.Values{"code": {"000000"}}), "/login/two-factor")
			if !page.Has("code-form") || !page.Has("auth-message") {
				t.Fatal("the second step's page lost its form or its message")
			}
			c.Get("/login/two-factor")
		}
		if got := failures() - before; got != 2 {
			t.Fatalf("two wrong codes counted %d times", got)
		}
		clock.add(time.Minute) // past the code the log-ins above spent
		res := c.Post("/login/two-factor", url.Values{"code": {code(t, tfaSecret, clock.now())}})
		if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/account" {
			t.Fatalf("right code: %d to %q, want 303 to /account", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

// TestRefusalsOfTheDomainGoBackToTheirPage: a console form that a rule refuses (here the only owner
// leaving, a conflict) without JavaScript ends in a redirect to the page it was sent from, which
// says why once; nothing changed. Without a page of this site to go back to (no Referer, another
// site's) and for htmx, the refusal is answered as before.
func TestRefusalsOfTheDomainGoBackToTheirPage(t *testing.T) {
	app := webtest.Start(t)
	ownerUser := app.User(webtest.UniqueEmail("goback"))
	owner := app.Login(ownerUser.Email)
	ws := app.Workspace(ownerUser, webtest.UniqueSlug("goback"))
	leave := "/w/" + ws.Slug + "/leave"
	page := "/w/" + ws.Slug + "/members?sort=-joined"
	owner.Get(leave)
	post := func(referer string, htmx bool) *webtest.Response {
		h := http.Header{}
		if referer != "" {
			h.Set("Referer", referer)
		}
		if htmx {
			h.Set("HX-Request", "true")
		}
		return owner.Do(http.MethodPost, leave, url.Values{"confirm": {"yes"}, "_csrf": {owner.CSRF}}, h)
	}
	res := post(app.HTTP.URL+page, false)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != page {
		t.Fatalf("refused leave with its page: %d to %q, want 303 to %s", res.StatusCode, res.Header.Get("Location"), page)
	}
	back := owner.Get(page)
	if msg := back.TestID("flash"); !strings.Contains(msg, "only owner") {
		t.Fatalf("the page does not say why: %q", msg)
	}
	if owner.Get(page).Has("flash") {
		t.Error("the reason is shown twice")
	}
	for name, res := range map[string]*webtest.Response{
		"no Referer":     post("", false),
		"another site's": post("https://evil.example"+page, false),
		"htmx":           post(app.HTTP.URL+page, true),
	} {
		if res.StatusCode != http.StatusConflict || !strings.Contains(res.Body, "only owner") {
			t.Errorf("%s: %d, want 409 with the reason", name, res.StatusCode)
		}
	}
	if got := owner.Get("/w/" + ws.Slug); got.StatusCode != http.StatusOK {
		t.Fatalf("the owner left: %d", got.StatusCode)
	}
}
