package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"atrium/handlers/webtest"
)

// TestKeyControlsThroughTheConsole: a key made with a description, a limit and an allowlist shows
// them in the list with its calls of the last 24 hours; its page shows its use and refusals; an
// edit refused for a bad entry comes back after its redirect with what was typed and the error; a
// good one is saved and reaches the API at once; others' and other workspaces' keys stay closed.
func TestKeyControlsThroughTheConsole(t *testing.T) {
	app := webtest.Start(t)
	crew := newKeysCrew(t, app)
	c := app.Login(crew.member.Email)
	slug := crew.ws.Slug
	c.Get("/w/" + slug + "/keys")
	res := follow(t, c, c.Post("/w/"+slug+"/keys", url.Values{"name": {"edge"}, "scope": {"read"}, "expires_in_days": {"30"},
		"description": {"The edge proxy"}, "rate_limit_per_hour": {"2"}, "allowed_ips": {"127.0.0.1, ::1\n192.0.2.0/24"}}))
	token, _ := res.Doc().Find(`[data-testid="new-key-value"]`).Attr("value")
	for i, want := range []int{200, 200, 429} {
		if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", token, ""); r.Status != want {
			t.Fatalf("call %d: %d %s, want %d", i+1, r.Status, r.Body, want)
		}
	}
	page := c.Get("/w/" + slug + "/keys")
	row := page.Doc().Find(`[data-testid="key-row"][data-prefix="` + token[:12] + `"]`)
	if fences := strings.Join(strings.Fields(row.Find(`[data-testid="key-fences"]`).Text()), " "); fences != "2/hour · 3 allowed addresses" {
		t.Fatalf("list row fences: %q", fences)
	}
	href, _ := row.Find(`[data-testid="key-name"]`).Attr("href")
	// The calls are written by the meter at most once a second: close it to write them now.
	if err := app.Server.Meter.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	page = c.Get("/w/" + slug + "/keys")
	row = page.Doc().Find(`[data-testid="key-row"][data-prefix="` + token[:12] + `"]`)
	if calls := strings.TrimSpace(row.Find(`[data-testid="key-calls-24h"]`).Text()); calls != "2" {
		t.Fatalf("calls in 24 h: %q, want 2", calls)
	}
	kp := c.Get(href)
	if kp.StatusCode != 200 || kp.TestID("key-page-calls") != "2" || kp.TestID("key-page-key-limited") != "1" ||
		kp.TestID("key-page-description") != "The edge proxy" || !kp.Has("chart-key-calls") || !kp.Has("chart-key-refusals") {
		t.Fatalf("key page: %d calls %q limited %q description %q", kp.StatusCode, kp.TestID("key-page-calls"), kp.TestID("key-page-key-limited"), kp.TestID("key-page-description"))
	}
	if ip := kp.TestID("key-page-last-ip"); !strings.Contains(ip, "127.0.0.1") {
		t.Errorf("last used from %q", ip)
	}

	// A bad entry: redirected back to the page, with what was typed and the error.
	bad := c.Post(href, url.Values{"description": {"changed"}, "rate_limit_per_hour": {"5"}, "allowed_ips": {"127.0.0.1\nnot-an-ip"}})
	if bad.StatusCode != http.StatusSeeOther || bad.Header.Get("Location") != href {
		t.Fatalf("refused edit: %d to %q", bad.StatusCode, bad.Header.Get("Location"))
	}
	back := c.Get(href)
	if !strings.Contains(back.TestID("error-allowed_ips"), `"not-an-ip"`) || back.Doc().Find(`[data-testid="key-allowed-ips"]`).Text() != "127.0.0.1\nnot-an-ip" ||
		back.Doc().Find(`[data-testid="key-description"]`).Text() != "changed" {
		t.Fatalf("refused edit's page: error %q, allowlist %q", back.TestID("error-allowed_ips"), back.Doc().Find(`[data-testid="key-allowed-ips"]`).Text())
	}
	// A reload shows the saved values again: the refused form was shown once.
	if again := c.Get(href); again.Has("error-allowed_ips") || again.Doc().Find(`[data-testid="key-description"]`).Text() != "The edge proxy" {
		t.Fatal("the refused form came back twice")
	}
	// A good edit: the allowlist leaves the test's address out, and the API refuses at once.
	ok := c.Post(href, url.Values{"description": {"moved"}, "rate_limit_per_hour": {""}, "allowed_ips": {"192.0.2.0/24"}})
	if ok.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: %d", ok.StatusCode)
	}
	if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/workspace", token, ""); r.Status != 403 || r.Code(t) != "ip_not_allowed" {
		t.Fatalf("after the edit: %d %s", r.Status, r.Body)
	}
	if saved := c.Get(href); saved.Doc().Find(`[data-testid="key-rate-limit"]`).AttrOr("value", "?") != "" || saved.TestID("key-page-description") != "moved" {
		t.Fatal("the edit was not saved")
	}

	// Others: another member gets 403, a viewer 403, another workspace's owner 404.
	if r := app.Login(crew.other.Email).Get(href); r.StatusCode != http.StatusForbidden {
		t.Errorf("another member: %d", r.StatusCode)
	}
	if r := app.Login(crew.viewr.Email).Get(href); r.StatusCode != http.StatusForbidden {
		t.Errorf("a viewer: %d", r.StatusCode)
	}
	oc := app.Login(crew.owner.Email)
	if r := oc.Get(href); r.StatusCode != http.StatusOK {
		t.Errorf("the owner: %d", r.StatusCode)
	}
	// The audit log says it in sentences: the edit, the key's own limit, the address refused.
	audit := oc.Get("/w/" + slug + "/audit").Body
	for _, want := range []string{"changed the controls of the API key", "the key&#39;s own 2 calls of this hour are used",
		"127.0.0.1 is not among the key&#39;s allowed addresses"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log does not say %q", want)
		}
	}
	stranger := app.User(webtest.UniqueEmail("k-stranger"))
	theirs := app.Workspace(stranger, webtest.UniqueSlug("keys-other"))
	sc := app.Login(stranger.Email)
	foreign := strings.Replace(href, "/w/"+slug+"/", "/w/"+theirs.Slug+"/", 1)
	if r := sc.Get(foreign); r.StatusCode != http.StatusNotFound {
		t.Errorf("another workspace's key through one's own workspace: %d", r.StatusCode)
	}
	if r := sc.Post(foreign, url.Values{"description": {"x"}}); r.StatusCode != http.StatusNotFound {
		t.Errorf("editing another workspace's key: %d", r.StatusCode)
	}
}
