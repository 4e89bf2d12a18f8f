package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"atrium/handlers"
	"atrium/handlers/webtest"
)

// TestEveryRouteHasAnAccessRule walks the router: a route missing from the policy table fails.
func TestEveryRouteHasAnAccessRule(t *testing.T) {
	app := webtest.Start(t)
	n := 0
	for _, r := range app.Server.Echo().Routes() {
		if r.Method == "echo_route_not_found" || strings.HasSuffix(r.Name, "glob..func1") && r.Path == "/*" {
			continue
		}
		n++
		if key := r.Method + " " + r.Path; !handlers.HasRule(key) {
			t.Errorf("route %s has no rule in the policy table", key)
		}
	}
	if n < 10 {
		t.Fatalf("walked only %d routes", n)
	}
}

// fillParams puts values into a route pattern.
func fillParams(path, slug string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		switch {
		case p == ":slug":
			parts[i] = slug
		case strings.HasPrefix(p, ":"):
			parts[i] = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
		case p == "*":
			parts[i] = "x"
		}
	}
	return strings.Join(parts, "/")
}

// TestNonMemberGets404OnEveryWorkspaceRoute: for every /w/:slug route and method, a signed-in
// user who is not a member sees 404, the same as for a workspace that does not exist.
func TestNonMemberGets404OnEveryWorkspaceRoute(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("private"))
	outsider := app.Login(webtest.UniqueEmail("outsider"))
	checked := 0
	for _, r := range app.Server.Echo().Routes() {
		if !strings.HasPrefix(r.Path, "/w/:slug") {
			continue
		}
		for _, slug := range []string{ws.Slug, "no-such-workspace"} {
			path := fillParams(r.Path, slug)
			var res *webtest.Response
			if r.Method == http.MethodGet {
				res = outsider.Get(path)
			} else {
				res = outsider.Do(r.Method, path, url.Values{"_csrf": {outsider.CSRF}}, nil)
			}
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%s %s as a non-member: %d, want 404", r.Method, path, res.StatusCode)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no workspace routes found")
	}
}

// TestAnonymousIsSentToLogin: protected pages redirect to the log-in page with next=.
func TestAnonymousIsSentToLogin(t *testing.T) {
	app := webtest.Start(t)
	c := app.Client()
	res := c.Get("/w/some-space")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next=%2Fw%2Fsome-space" {
		t.Fatalf("anonymous: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}
