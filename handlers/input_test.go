package handlers_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
)

// badTexts are what a hostile client types: a NUL (PostgreSQL refuses it in text), another control
// character, and bytes that are not UTF-8.
var badTexts = map[string]string{"NUL": "a\x00b", "escape": "a\x1b[2Jb", "not UTF-8": "a\xff\xfeb"}

// TestBadTextInFormsIsRefusedAtTheField: every console form with a text field that reaches the
// database is refused with the field's message (after a redirect without JavaScript); nothing
// answers 500.
func TestBadTextInFormsIsRefusedAtTheField(t *testing.T) {
	app := webtest.Start(t)
	ownerUser := app.User(webtest.UniqueEmail("badtext"))
	owner := app.Login(ownerUser.Email)
	ws := app.Workspace(ownerUser, webtest.UniqueSlug("badtext"))
	app.SetTier(ws, models.TierPro)
	w := "/w/" + ws.Slug
	cases := []struct {
		name, page, path, field string
		form                    url.Values
		anonymous               bool
	}{
		{"workspace name", "/workspaces", "/workspaces", "name", url.Values{"slug": {webtest.UniqueSlug("x")}}, false},
		{"workspace slug", "/workspaces", "/workspaces", "slug", url.Values{"name": {"Fine"}}, false},
		{"account name", "/account", "/account/name", "name", nil, false},
		{"key name", w + "/keys", w + "/keys", "name", url.Values{"scope": {"read"}, "expires_in_days": {"30"}}, false},
		{"invitation email", w + "/members", w + "/invitations", "email", url.Values{"role": {"member"}}, false},
		{"log-in email", "/login", "/login", "email", url.Values{"password": {webtest.Password}}, true},
		{"sign-up email", "/signup", "/signup", "email", url.Values{"name": {"Ann"}, "password": {webtest.Password}}, true},
		{"sign-up name", "/signup", "/signup", "name", url.Values{"email": {webtest.UniqueEmail("n")}, "password": {webtest.Password}}, true},
	}
	for _, tc := range cases {
		for kind, bad := range badTexts {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				c := owner
				if tc.anonymous {
					c = app.Client()
				}
				c.Get(tc.page)
				form := url.Values{}
				for k, v := range tc.form {
					form[k] = v
				}
				form.Set(tc.field, bad)
				res := c.Follow(c.Post(tc.path, form))
				if res.TestID("error-"+tc.field) == "" {
					t.Fatalf("%d, error-%s %q", res.StatusCode, tc.field, res.TestID("error-"+tc.field))
				}
			})
		}
	}
	// The workspace's name on its settings page, htmx or not.
	owner.Get(w + "/settings")
	if res := owner.Follow(owner.Post(w+"/settings/name", url.Values{"name": {"a\x00b"}})); !res.Has("error-name") {
		t.Fatalf("settings name: %d", res.StatusCode)
	}
	if res := owner.HTMX(http.MethodPost, w+"/settings/name", url.Values{"name": {"a\x00b"}}); res.StatusCode != http.StatusUnprocessableEntity || !res.Has("error-name") {
		t.Fatalf("settings name over htmx: %d", res.StatusCode)
	}
}

// TestBadTextInParametersIs400: search boxes, filters, cursors and path segments with such bytes
// are refused with 400 naming the parameter, on the console and the API.
func TestBadTextInParametersIs400(t *testing.T) {
	app := webtest.Start(t)
	ownerUser := app.User(webtest.UniqueEmail("params"))
	owner := app.Login(ownerUser.Email)
	ws := app.Workspace(ownerUser, webtest.UniqueSlug("params"))
	_, support := supportLogin(t, app)
	w := "/w/" + ws.Slug
	for kind, bad := range badTexts {
		esc := url.QueryEscape(bad)
		for _, tc := range []struct {
			c     *webtest.Client
			path  string
			param string
		}{
			{owner, w + "/members?q=" + esc, "q"},
			{owner, w + "/members?page=" + esc, "page"},
			{owner, "/workspaces?q=" + esc, "q"},
			{owner, "/workspaces/slug-check?slug=" + esc, "slug"},
			{owner, w + "/audit?action=" + esc, "action"},
			{owner, w + "/audit?actor=" + esc, "actor"},
			{owner, w + "/audit?after=" + esc, "after"},
			{owner, w + "/keys?cursor=" + esc, "cursor"},
			{owner, w + "/usage?range=" + esc, "range"},
			{owner, "/login?next=" + esc, "next"},
			{owner, "/w/" + url.PathEscape(bad) + "/members", "slug"},
			{app.Client(), "/invitations/" + url.PathEscape(bad), "token"},
			{support, "/support/workspaces?q=" + esc, "q"},
			{support, "/support/workspaces?sort=" + esc, "sort"},
			{support, "/support/workspaces/" + url.PathEscape(bad), "slug"},
		} {
			res := tc.c.Get(tc.path)
			if res.StatusCode != http.StatusBadRequest || !strings.Contains(res.Body, "parameter "+tc.param+" ") {
				t.Errorf("%s %s: %d", kind, tc.path, res.StatusCode)
			}
		}
		// htmx asks for the members search as a fragment: the same 400.
		if res := owner.HTMX(http.MethodGet, w+"/members?q="+esc, nil); res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: htmx search %d", kind, res.StatusCode)
		}
	}

	sp := newAPISpace(t, app, models.TierPro)
	for kind, bad := range badTexts {
		esc := url.QueryEscape(bad)
		for _, tc := range []struct{ path, param string }{
			{"/api/v1/agents?cursor=" + esc, "cursor"},
			{"/api/v1/agents?limit=" + esc, "limit"},
			{"/api/v1/tasks?status=" + esc, "status"},
			{"/api/v1/tasks?agent_id=" + esc, "agent_id"},
			{"/api/v1/agents/" + url.PathEscape(bad), "id"},
			{"/api/v1/tasks/" + url.PathEscape(bad) + "/messages", "id"},
		} {
			r := apiCall(t, app.HTTP.URL, "GET", tc.path, sp.readKey, "")
			msg, _ := r.JSON(t)["error"].(map[string]any)["message"].(string)
			if r.Status != http.StatusBadRequest || r.Code(t) != "invalid_parameter" || !strings.Contains(msg, "parameter "+tc.param+" ") {
				t.Errorf("%s %s: %d %s", kind, tc.path, r.Status, r.Body)
			}
		}
	}
}

// TestBadJSONIs400NamingTheField: control characters, bytes that are not UTF-8 and repeated keys
// in a JSON body are refused with 400 naming the field; line breaks in free text are kept.
func TestBadJSONIs400NamingTheField(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierPro)
	base := app.HTTP.URL
	agent := apiCall(t, base, "POST", "/api/v1/agents", sp.writeKey, `{"name": "a"}`).JSON(t)["id"].(string)
	task := apiCall(t, base, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`", "input": "line one\nline two\ttabbed"}`)
	if task.Status != http.StatusCreated || task.JSON(t)["input"] != "line one\nline two\ttabbed" {
		t.Fatalf("free text with line breaks: %d %s", task.Status, task.Body)
	}
	taskID := task.JSON(t)["id"].(string)
	cases := []struct {
		name, path, body, code, field string
		status                        int
	}{
		{"NUL in a name", "/api/v1/agents", `{"name": "a\u0000b"}`, "invalid_text", "name", 400},
		{"escape in a name", "/api/v1/agents", `{"name": "a\u001bb"}`, "invalid_text", "name", 400},
		{"not UTF-8", "/api/v1/agents", "{\"name\": \"a\xffb\"}", "invalid_text", "name", 400},
		{"NUL in free text", "/api/v1/tasks", `{"agent_id": "` + agent + `", "input": "x\u0000"}`, "invalid_text", "input", 400},
		{"NUL in a message", "/api/v1/tasks/" + taskID + "/messages", `{"role": "user", "body": "hi\u0000"}`, "invalid_text", "body", 400},
		{"NUL in a status", "/api/v1/tasks/" + taskID + "/complete", `{"status": "\u0000"}`, "invalid_text", "status", 400},
		{"NUL in an id", "/api/v1/tasks", `{"agent_id": "\u0000"}`, "invalid_text", "agent_id", 400},
		{"NUL in a key", "/api/v1/agents", `{"na\u0000me": "a"}`, "invalid_text", "na", 400},
		{"repeated key", "/api/v1/agents", `{"name": "a", "name": "b"}`, "duplicate_field", "name", 400},
		{"repeated key, other case", "/api/v1/tasks/" + taskID + "/messages", `{"role": "user", "body": "x", "body": "y"}`, "duplicate_field", "body", 400},
		{"line break in a name", "/api/v1/agents", `{"name": "a\nb"}`, "invalid", "name", 422},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := apiCall(t, base, "POST", tc.path, sp.writeKey, tc.body)
			msg, _ := r.JSON(t)["error"].(map[string]any)["message"].(string)
			if r.Status != tc.status || r.Code(t) != tc.code || !strings.Contains(msg, tc.field) {
				t.Fatalf("%d %s, want %d %s naming %s", r.Status, r.Body, tc.status, tc.code, tc.field)
			}
		})
	}
	// Nothing of the refused bodies was written.
	if list := apiCall(t, base, "GET", "/api/v1/agents", sp.readKey, "").JSON(t)["data"].([]any); len(list) != 1 {
		t.Fatalf("%d agents, want 1", len(list))
	}
}

// TestCrossSiteStateChangesAre403: behind the CSRF token, a browser's word on where a request
// comes from refuses cross-site (and same-site) state changes; same-origin, user-initiated and
// header-less requests go on to the token.
func TestCrossSiteStateChangesAre403(t *testing.T) {
	const public = "https://atrium.example.com"
	app := webtest.StartWith(t, handlers.Config{BaseURL: public})
	u := app.User(webtest.UniqueEmail("origin"))
	c := app.Login(u.Email)
	post := func(header http.Header, name string) int {
		t.Helper()
		c.Get("/account")
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		for k, v := range header {
			h[k] = v
		}
		return c.Do(http.MethodPost, "/account/name", url.Values{"_csrf": {c.CSRF}, "name": {name}}, header).StatusCode
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"cross-site", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"same-site", http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://evil.atrium.example.com"}}, http.StatusForbidden},
		{"cross-site, no origin", http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden},
		{"old browser, foreign origin", http.Header{"Origin": {"https://evil.example"}}, http.StatusForbidden},
		{"old browser, null origin", http.Header{"Origin": {"null"}}, http.StatusForbidden},
		{"same-origin", http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {app.HTTP.URL}}, http.StatusSeeOther},
		{"user-initiated", http.Header{"Sec-Fetch-Site": {"none"}}, http.StatusSeeOther},
		{"old browser, own origin", http.Header{"Origin": {app.HTTP.URL}}, http.StatusSeeOther},
		{"behind a proxy, the base URL's origin", http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {public}}, http.StatusSeeOther},
		{"no headers: the token alone", nil, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := post(tc.header, tc.name); got != tc.want {
				t.Fatalf("%d, want %d", got, tc.want)
			}
		})
	}
	// The name changed only through the allowed requests.
	got, err := models.UserByID(t.Context(), app.DB.App, u.ID)
	if err != nil || got.Name != "no headers: the token alone" {
		t.Fatalf("name %q, %v", got.Name, err)
	}
	// Without the token the cross-site check's pass is not enough.
	res := c.Do(http.MethodPost, "/account/name", url.Values{"name": {"x"}}, http.Header{"Sec-Fetch-Site": {"same-origin"}})
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("same-origin without the token: %d", res.StatusCode)
	}
}

// TestInvitationLinkUsesTheBaseURL: a spoofed Host or X-Forwarded-Host never reaches the link the
// server writes for mail; ATRIUM_BASE_URL does.
func TestInvitationLinkUsesTheBaseURL(t *testing.T) {
	const public = "https://atrium.example.com/console"
	app := webtest.StartWith(t, handlers.Config{BaseURL: public + "/"})
	ownerUser := app.User(webtest.UniqueEmail("baseurl"))
	owner := app.Login(ownerUser.Email)
	ws := app.Workspace(ownerUser, webtest.UniqueSlug("baseurl"))
	app.SetTier(ws, models.TierPro)
	owner.Get("/w/" + ws.Slug + "/members")
	form := url.Values{"_csrf": {owner.CSRF}, "email": {webtest.UniqueEmail("guest")}, "role": {"member"}}
	req, err := http.NewRequest(http.MethodPost, app.HTTP.URL+"/w/"+ws.Slug+"/invitations", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	// The cookie jar files cookies by Host, so the session goes by hand.
	req.Host = "evil.example"
	req.Header.Set("Cookie", "atrium_session="+owner.Cookie())
	req.Header.Set("X-Forwarded-Host", "evil.example")
	req.Header.Set("X-Forwarded-Proto", "http")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("invite: %d", res.StatusCode)
	}
	// The members page the redirect leads to shows the link once (the reveal cookie holds its key).
	cookies := "atrium_session=" + owner.Cookie()
	for _, ck := range res.Cookies() {
		if ck.Name == "atrium_reveal" {
			cookies += "; atrium_reveal=" + ck.Value
		}
	}
	req, _ = http.NewRequest(http.MethodGet, app.HTTP.URL+res.Header.Get("Location"), nil)
	req.Host = "evil.example"
	req.Header.Set("Cookie", cookies)
	req.Header.Set("X-Forwarded-Host", "evil.example")
	res, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	page := &webtest.Response{Response: res, Body: string(b)}
	link, _ := page.Doc().Find(`[data-testid="invitation-url"]`).Attr("value")
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(link, public+"/invitations/") || strings.Contains(page.Body, "evil.example") {
		t.Fatalf("%d, link %q", res.StatusCode, link)
	}
}
