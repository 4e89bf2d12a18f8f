package handlers_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// The fuzz tests send whatever the fuzzer makes up through the real server and the real test
// database, into every form field, query parameter, path segment and JSON body that reaches the
// models, and fail on any 5xx. `make test` runs each for a short fixed time; `go test` alone runs
// their seed corpus.

// fuzzSeeds are the values every target starts from; fuzzExtraSeeds go to the first target only
// (the fuzzer carries them over to the others), so the seed corpus stays quick under plain go test.
var (
	fuzzSeeds      = []string{"ok", "a\x00b", "\xff\xfe", "99999999999999999999"}
	fuzzExtraSeeds = []string{"", "a\x1b[0m", "line\nbreak", "😀 Zürich", "%", "%zz&=&a=1&a=2", "' OR 1=1 --", "-1",
		strings.Repeat("x", 300)}
)

// fuzzTarget is one place fuzzed input goes in. It builds the request for a value.
type fuzzTarget struct {
	name string
	// anonymous targets use a client that is not logged in; support ones a support person.
	who string
	do  func(v string) (method, path string, form url.Values, raw string)
}

// fuzzClient is a browser for the fuzz loop: unlike webtest.Client it reports nothing to a test
// (the fuzz function's t is a different one on every call).
type fuzzClient struct {
	base string
	http *http.Client
	csrf string
}

func newFuzzClient(f *testing.F, app *webtest.App, c *webtest.Client) *fuzzClient {
	f.Helper()
	c.Get("/login")
	if c.CSRF == "" {
		f.Fatal("no CSRF token on the log-in page")
	}
	return &fuzzClient{base: app.HTTP.URL, http: c.HTTP, csrf: c.CSRF}
}

// anonymousClient is a fresh browser with the log-in page's CSRF token: a sign-up or log-in that
// works must not leave the next anonymous request logged in.
func anonymousClient(base string) (*fuzzClient, error) {
	jar, _ := cookiejar.New(nil)
	c := &fuzzClient{base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
	_, page, err := c.send(http.MethodGet, "/login", nil, "", false)
	if err != nil {
		return nil, err
	}
	c.csrf = between(between(page, `name="csrf-token"`, ">"), `content="`, `"`)
	if c.csrf == "" {
		return nil, fmt.Errorf("no CSRF token on the log-in page")
	}
	return c, nil
}

// send makes one request: a form (or a raw form body) for POST, the CSRF token in a header so
// a mangled body still reaches its handler. htmx asks for a fragment.
func (c *fuzzClient) send(method, path string, form url.Values, raw string, htmx bool) (int, string, error) {
	var body io.Reader
	if method == http.MethodPost {
		if form != nil {
			raw = form.Encode()
		}
		body = strings.NewReader(raw)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return 0, "", err
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if htmx {
		req.Header.Set("HX-Request", "true")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 2000))
	return res.StatusCode, string(b), nil
}

var fuzzSeq atomic.Int64

// FuzzConsoleInput drives the console's form fields, raw form bodies, list parameters (search,
// filters, page, cursor, range, sort) and path segments.
func FuzzConsoleInput(f *testing.F) {
	app := webtest.Start(f)
	ownerUser := app.User(webtest.UniqueEmail("fuzz-owner"))
	ws := app.Workspace(ownerUser, webtest.UniqueSlug("fuzz"))
	app.SetTier(ws, models.TierEnterprise)
	memberUser := app.User(webtest.UniqueEmail("fuzz-member"))
	app.AddMember(ws, memberUser, models.RoleMember)
	owner := app.Login(ownerUser.Email)
	_, key := createKey(f, owner, ws.Slug, "fuzz key", "read")
	supportUser, err := models.CreateUser(context.Background(), app.DB.App, models.NewUser{Email: webtest.UniqueEmail("fuzz-support"),
		Password: webtest.Password, StaffRole: models.StaffSupport}, testdb.Clock())
	if err != nil {
		f.Fatal(err)
	}
	clients := map[string]*fuzzClient{
		"owner":   newFuzzClient(f, app, owner),
		"support": newFuzzClient(f, app, app.Login(supportUser.Email)),
	}
	keyID := keyIDOf(f, owner, ws.Slug, key)
	w := "/w/" + ws.Slug
	q := url.QueryEscape
	form := func(pairs ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(pairs); i += 2 {
			v.Set(pairs[i], pairs[i+1])
		}
		return v
	}
	uniq := func(p string) string { return fmt.Sprintf("%s-%d", p, fuzzSeq.Add(1)) }
	post := func(path string, fv url.Values) (string, string, url.Values, string) {
		return http.MethodPost, path, fv, ""
	}
	get := func(path string) (string, string, url.Values, string) { return http.MethodGet, path, nil, "" }
	raw := func(path, body string) (string, string, url.Values, string) { return http.MethodPost, path, nil, body }
	targets := []fuzzTarget{
		{"workspace name", "owner", func(v string) (string, string, url.Values, string) {
			return post("/workspaces", form("name", v, "slug", uniq("fz")))
		}},
		{"workspace slug", "owner", func(v string) (string, string, url.Values, string) {
			return post("/workspaces", form("name", "Fuzz", "slug", v))
		}},
		{"account name", "owner", func(v string) (string, string, url.Values, string) { return post("/account/name", form("name", v)) }},
		{"key name", "owner", func(v string) (string, string, url.Values, string) {
			return post(w+"/keys", form("name", v, "scope", "read", "expires_in_days", "30"))
		}},
		{"key scope", "owner", func(v string) (string, string, url.Values, string) {
			return post(w+"/keys", form("name", "k", "scope", v, "expires_in_days", v))
		}},
		{"key roll grace", "owner", func(v string) (string, string, url.Values, string) {
			return post(w+"/keys/"+keyID+"/roll", form("grace_hours", v))
		}},
		{"invitation", "owner", func(v string) (string, string, url.Values, string) {
			return post(w+"/invitations", form("email", v, "role", v))
		}},
		{"member role", "owner", func(v string) (string, string, url.Values, string) {
			return post(w+"/members/"+memberUser.ID.String()+"/role", form("role", v))
		}},
		{"settings name", "owner", func(v string) (string, string, url.Values, string) {
			return post(w+"/settings/name", form("name", v))
		}},
		{"settings tier", "owner", func(v string) (string, string, url.Values, string) {
			return post(w+"/settings/tier", form("tier", v))
		}},
		{"log-in", "anonymous", func(v string) (string, string, url.Values, string) {
			return post("/login", form("email", v, "password", v, "next", v))
		}},
		{"sign-up", "anonymous", func(v string) (string, string, url.Values, string) {
			return post("/signup", form("email", v, "name", v, "password", v, "next", v))
		}},
		{"sign-up name", "anonymous", func(v string) (string, string, url.Values, string) {
			return post("/signup", form("email", uniq("fz")+"@example.com", "name", v, "password", webtest.Password))
		}},
		{"raw workspace form", "owner", func(v string) (string, string, url.Values, string) { return raw("/workspaces", v) }},
		{"raw key form", "owner", func(v string) (string, string, url.Values, string) { return raw(w+"/keys", v) }},
		{"raw log-in form", "anonymous", func(v string) (string, string, url.Values, string) { return raw("/login", v) }},
		{"members search", "owner", func(v string) (string, string, url.Values, string) {
			return get(w + "/members?q=" + q(v) + "&page=" + q(v))
		}},
		{"workspaces search", "owner", func(v string) (string, string, url.Values, string) { return get("/workspaces?q=" + q(v)) }},
		{"slug check", "owner", func(v string) (string, string, url.Values, string) { return get("/workspaces/slug-check?slug=" + q(v)) }},
		{"audit filters", "owner", func(v string) (string, string, url.Values, string) {
			return get(w + "/audit?action=" + q(v) + "&actor=" + q(v) + "&after=" + q(v))
		}},
		{"audit csv", "owner", func(v string) (string, string, url.Values, string) {
			return get(w + "/audit.csv?actor=" + q(v) + "&after=" + q(v))
		}},
		{"keys list", "owner", func(v string) (string, string, url.Values, string) {
			return get(w + "/keys?q=" + q(v) + "&status=" + q(v) + "&page=" + q(v))
		}},
		{"usage range", "owner", func(v string) (string, string, url.Values, string) { return get(w + "/usage?range=" + q(v)) }},
		{"usage csv", "owner", func(v string) (string, string, url.Values, string) { return get(w + "/usage.csv?range=" + q(v)) }},
		{"support list", "support", func(v string) (string, string, url.Values, string) {
			return get("/support/workspaces?q=" + q(v) + "&sort=" + q(v) + "&dir=" + q(v) + "&page=" + q(v))
		}},
		{"support csv", "support", func(v string) (string, string, url.Values, string) {
			return get("/support/workspaces.csv?q=" + q(v) + "&sort=" + q(v))
		}},
		{"support workspace", "support", func(v string) (string, string, url.Values, string) {
			return get("/support/workspaces/" + url.PathEscape(v) + "?range=" + q(v))
		}},
		{"workspace path", "owner", func(v string) (string, string, url.Values, string) {
			return get("/w/" + url.PathEscape(v) + "/members")
		}},
		{"invitation token", "anonymous", func(v string) (string, string, url.Values, string) { return get("/invitations/" + url.PathEscape(v)) }},
		{"member id", "owner", func(v string) (string, string, url.Values, string) {
			return post(w+"/members/"+url.PathEscape(v)+"/role", form("role", "viewer"))
		}},
		{"session id", "owner", func(v string) (string, string, url.Values, string) {
			return post("/account/sessions/"+url.PathEscape(v)+"/end", nil)
		}},
		{"log-in next", "anonymous", func(v string) (string, string, url.Values, string) { return get("/login?next=" + q(v)) }},
	}
	for i := range targets {
		for _, s := range fuzzSeeds {
			f.Add(uint8(i), s)
		}
	}
	for _, s := range fuzzExtraSeeds {
		f.Add(uint8(0), s)
	}
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		tg := targets[int(which&0x7f)%len(targets)]
		method, path, fv, body := tg.do(v)
		c := clients[tg.who]
		if tg.who == "anonymous" {
			var err error
			if c, err = anonymousClient(app.HTTP.URL); err != nil {
				t.Fatal(err)
			}
		}
		status, resBody, err := c.send(method, path, fv, body, which&0x80 != 0)
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		if status >= 500 {
			t.Fatalf("%s: %s %s answered %d: %.300s", tg.name, method, path, status, resBody)
		}
	})
}

// keyIDOf finds the id of the key with token's prefix on the keys page.
func keyIDOf(f *testing.F, c *webtest.Client, slug, token string) string {
	f.Helper()
	row := c.Get("/w/" + slug + "/keys").Doc().Find(`[data-testid="key-row"][data-prefix="` + token[:12] + `"]`)
	action, _ := row.Find(`a[href$="/roll"]`).Attr("href")
	parts := strings.Split(action, "/")
	if len(parts) < 2 {
		f.Fatalf("no roll form for the key: %q", action)
	}
	return parts[len(parts)-2]
}

// FuzzAPIInput drives the JSON decoder with raw bodies and the API's list parameters (limit,
// cursor, status, agent_id) and path ids.
func FuzzAPIInput(f *testing.F) {
	app := webtest.Start(f)
	ownerUser := app.User(webtest.UniqueEmail("fuzz-api"))
	ws := app.Workspace(ownerUser, webtest.UniqueSlug("fuzz-api"))
	app.SetTier(ws, models.TierEnterprise)
	owner := app.Login(ownerUser.Email)
	_, key := createKey(f, owner, ws.Slug, "fuzz key", "read_write")
	jar, _ := cookiejar.New(nil)
	client := contractClient(http.DefaultTransport) // every exchange checked against the OpenAPI document
	client.Jar = jar
	call := func(method, path, body string) (int, string, error) {
		var rd io.Reader
		if method == http.MethodPost {
			rd = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, app.HTTP.URL+path, rd)
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		if method == http.MethodPost {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 2000))
		return res.StatusCode, string(b), nil
	}
	status, agentBody, err := call(http.MethodPost, "/api/v1/agents", `{"name": "fuzz agent"}`)
	if err != nil || status != http.StatusCreated {
		f.Fatalf("agent: %d %s %v", status, agentBody, err)
	}
	agent := between(agentBody, `"id":"`, `"`)
	status, taskBody, err := call(http.MethodPost, "/api/v1/tasks", `{"agent_id": "`+agent+`", "input": "x"}`)
	if err != nil || status != http.StatusCreated {
		f.Fatalf("task: %d %s %v", status, taskBody, err)
	}
	task := between(taskBody, `"id":"`, `"`)
	q := url.QueryEscape
	targets := []struct {
		name string
		do   func(v string) (method, path, body string)
	}{
		{"agent body", func(v string) (string, string, string) { return http.MethodPost, "/api/v1/agents", v }},
		{"task body", func(v string) (string, string, string) { return http.MethodPost, "/api/v1/tasks", v }},
		{"complete body", func(v string) (string, string, string) {
			return http.MethodPost, "/api/v1/tasks/" + task + "/complete", v
		}},
		{"message body", func(v string) (string, string, string) {
			return http.MethodPost, "/api/v1/tasks/" + task + "/messages", v
		}},
		{"agent name", func(v string) (string, string, string) {
			return http.MethodPost, "/api/v1/agents", `{"name": ` + jsonString(v) + `}`
		}},
		{"task input", func(v string) (string, string, string) {
			return http.MethodPost, "/api/v1/tasks", `{"agent_id": "` + agent + `", "input": ` + jsonString(v) + `}`
		}},
		{"message", func(v string) (string, string, string) {
			return http.MethodPost, "/api/v1/tasks/" + task + "/messages", `{"role": ` + jsonString(v) + `, "body": ` + jsonString(v) + `}`
		}},
		{"agents page", func(v string) (string, string, string) {
			return http.MethodGet, "/api/v1/agents?limit=" + q(v) + "&cursor=" + q(v), ""
		}},
		{"agents cursor", func(v string) (string, string, string) { return http.MethodGet, "/api/v1/agents?cursor=" + q(v), "" }},
		{"agents limit", func(v string) (string, string, string) { return http.MethodGet, "/api/v1/agents?limit=" + q(v), "" }},
		{"tasks filters", func(v string) (string, string, string) {
			return http.MethodGet, "/api/v1/tasks?status=" + q(v) + "&agent_id=" + q(v) + "&cursor=" + q(v), ""
		}},
		{"tasks status", func(v string) (string, string, string) { return http.MethodGet, "/api/v1/tasks?status=" + q(v), "" }},
		{"messages page", func(v string) (string, string, string) {
			return http.MethodGet, "/api/v1/tasks/" + task + "/messages?limit=" + q(v) + "&cursor=" + q(v), ""
		}},
		{"agent id", func(v string) (string, string, string) {
			return http.MethodGet, "/api/v1/agents/" + url.PathEscape(v), ""
		}},
		{"task id", func(v string) (string, string, string) {
			return http.MethodGet, "/api/v1/tasks/" + url.PathEscape(v), ""
		}},
	}
	bodies := []string{`{"name": "a"}`, `{"name": "a\u0000"}`, `{"name": "a", "name": "b"}`, `{"agent_id": "` + agent + `", "input": "hi\n"}`,
		`{"status": "succeeded"}`, `{"role": "user", "body": "hello"}`, `{"a": {"b": [1, {"c": "\u001b"}]}}`, "{\"name\": \"\xff\"}",
		`[]`, `null`, `{"name": 1e999}`, `{"name": "a"} x`}
	for i := range targets {
		for _, s := range fuzzSeeds {
			f.Add(uint8(i), s)
		}
	}
	for _, s := range append(fuzzExtraSeeds, bodies...) {
		for i := range 4 { // the raw bodies
			f.Add(uint8(i), s)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, v string) {
		tg := targets[int(which)%len(targets)]
		method, path, body := tg.do(v)
		status, resBody, err := call(method, path, body)
		if err != nil {
			t.Fatalf("%s: %v", tg.name, err)
		}
		if status >= 500 {
			t.Fatalf("%s: %s %s %q answered %d: %.300s", tg.name, method, path, body, status, resBody)
		}
	})
}

// jsonString quotes v as a JSON string the way a careless client might: bytes as they are,
// only quotes and backslashes escaped, control characters as \u escapes.
func jsonString(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func between(s, start, end string) string {
	_, after, _ := strings.Cut(s, start)
	v, _, _ := strings.Cut(after, end)
	return v
}
