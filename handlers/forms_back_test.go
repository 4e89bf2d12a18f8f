package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

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
