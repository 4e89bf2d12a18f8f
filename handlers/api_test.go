package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// apiSpace is a workspace with an owner and a key of each scope.
type apiSpace struct {
	ws        *models.Workspace
	owner     *models.User
	readKey   string
	writeKey  string
	writeKeyK *models.APIKey
}

func newAPISpace(t *testing.T, app *webtest.App, tier models.Tier) *apiSpace {
	t.Helper()
	sp := &apiSpace{owner: app.User(webtest.UniqueEmail("api-owner"))}
	sp.ws = app.Workspace(sp.owner, webtest.UniqueSlug("api"))
	if tier != models.TierFree {
		app.SetTier(sp.ws, tier)
		sp.ws.Tier = tier
	}
	_, sp.readKey = apiKeyFor(t, app, sp.ws, sp.owner, models.RoleOwner, "read", "30")
	sp.writeKeyK, sp.writeKey = apiKeyFor(t, app, sp.ws, sp.owner, models.RoleOwner, "read_write", "0")
	return sp
}

func apiKeyFor(t *testing.T, app *webtest.App, ws *models.Workspace, u *models.User, role models.Role, scope, days string) (*models.APIKey, string) {
	t.Helper()
	var k *models.APIKey
	var token string
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		k, token, err = models.CreateKey(ctx, tn, models.Actor{UserID: u.ID, Role: role},
			models.NewKey{Name: "test " + scope, Scope: scope, ExpiresInDays: days}, testdb.Now(t))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return k, token
}

// apiRes is an API response with its body read.
type apiRes struct {
	Status int
	Header http.Header
	Body   string
}

// JSON decodes the body into a map.
func (r apiRes) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.Body), &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.Body, err)
	}
	return m
}

// Code is the error code of an error body.
func (r apiRes) Code(t *testing.T) string {
	t.Helper()
	e, _ := r.JSON(t)["error"].(map[string]any)
	code, _ := e["code"].(string)
	return code
}

// apiHTTP is the API tests' client: every exchange is checked against the OpenAPI document
// (contract_test.go).
var apiHTTP = contractClient(&http.Transport{MaxConnsPerHost: 64, MaxIdleConnsPerHost: 64})

// apiCall sends one request; body, when not empty, goes as JSON.
func apiCall(t testing.TB, base, method, path, token, body string, header ...string) apiRes {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := apiHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return apiRes{Status: res.StatusCode, Header: res.Header, Body: string(b)}
}

func TestAPIContract(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierStarter)
	base := app.HTTP.URL
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		r := apiCall(t, base, method, path, sp.writeKey, body)
		if r.Status != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
		}
		for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if _, err := strconv.ParseInt(r.Header.Get(h), 10, 64); err != nil {
				t.Errorf("%s %s: %s = %q, want a plain integer", method, path, h, r.Header.Get(h))
			}
		}
		if r.Header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: headers %v", method, path, r.Header)
		}
		return r.JSON(t)
	}

	w := call("GET", "/api/v1/workspace", "", 200)
	if w["id"] != sp.ws.ID.String() || w["slug"] != sp.ws.Slug || w["tier"] != "starter" || w["name"] != sp.ws.Name {
		t.Fatalf("workspace: %v", w)
	}
	var agents []string
	for i := 0; i < 3; i++ {
		a := call("POST", "/api/v1/agents", fmt.Sprintf(`{"name": "agent %d"}`, i), 201)
		if a["status"] != "active" || a["name"] != fmt.Sprintf("agent %d", i) || a["created_at"] == nil {
			t.Fatalf("agent: %v", a)
		}
		agents = append(agents, a["id"].(string))
	}
	t.Run("pagination", func(t *testing.T) {
		first := call("GET", "/api/v1/agents?limit=2", "", 200)
		data := first["data"].([]any)
		if len(data) != 2 || data[0].(map[string]any)["id"] != agents[2] || first["next_cursor"] == nil {
			t.Fatalf("first page: %v", first)
		}
		second := call("GET", "/api/v1/agents?limit=2&cursor="+first["next_cursor"].(string), "", 200)
		data = second["data"].([]any)
		if len(data) != 1 || data[0].(map[string]any)["id"] != agents[0] || second["next_cursor"] != nil {
			t.Fatalf("second page: %v", second)
		}
		for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=nope"} {
			if r := apiCall(t, base, "GET", "/api/v1/agents?"+q, sp.readKey, ""); r.Status != 400 || r.Code(t) != "invalid_page" {
				t.Errorf("?%s: %d %s", q, r.Status, r.Body)
			}
		}
	})
	if a := call("GET", "/api/v1/agents/"+agents[1], "", 200); a["name"] != "agent 1" {
		t.Fatalf("agent: %v", a)
	}
	task := call("POST", "/api/v1/tasks", `{"agent_id": "`+agents[0]+`", "input": "summarise"}`, 201)
	if task["status"] != "running" || task["started_at"] == nil || task["finished_at"] != nil || task["input"] != "summarise" {
		t.Fatalf("task: %v", task)
	}
	id := task["id"].(string)
	if got := call("GET", "/api/v1/tasks/"+id, "", 200); got["agent_id"] != agents[0] {
		t.Fatalf("task: %v", got)
	}
	if l := call("GET", "/api/v1/tasks?status=running&agent_id="+agents[0], "", 200); len(l["data"].([]any)) != 1 {
		t.Fatalf("filtered tasks: %v", l)
	}
	if l := call("GET", "/api/v1/tasks?status=succeeded", "", 200); len(l["data"].([]any)) != 0 {
		t.Fatalf("filtered tasks: %v", l)
	}
	m := call("POST", "/api/v1/tasks/"+id+"/messages", `{"role": "user", "body": "hello"}`, 201)
	if m["task_id"] != id || m["body"] != "hello" {
		t.Fatalf("message: %v", m)
	}
	if l := call("GET", "/api/v1/tasks/"+id+"/messages", "", 200); len(l["data"].([]any)) != 1 {
		t.Fatalf("messages: %v", l)
	}
	done := call("POST", "/api/v1/tasks/"+id+"/complete", `{"status": "succeeded"}`, 200)
	if done["status"] != "succeeded" || done["finished_at"] == nil || done["agent_minutes"] != float64(1) {
		t.Fatalf("completed: %v", done)
	}
	again := call("POST", "/api/v1/tasks/"+id+"/complete", `{"status": "failed"}`, 200)
	if again["status"] != "succeeded" || again["finished_at"] != done["finished_at"] || again["agent_minutes"] != float64(1) {
		t.Fatalf("second completion: %v", again)
	}
	if r := apiCall(t, base, "POST", "/api/v1/tasks/"+id+"/messages", sp.writeKey, `{"role": "user", "body": "late"}`); r.Status != 409 {
		t.Fatalf("message to a finished task: %d %s", r.Status, r.Body)
	}
	u := call("GET", "/api/v1/usage", "", 200)
	if u["tier"] != "starter" || u["period_start"] == nil || u["period_end"] == nil {
		t.Fatalf("usage: %v", u)
	}
	if am := u["agent_minutes"].(map[string]any); am["used"] != float64(1) || am["limit"] != float64(10000) {
		t.Fatalf("agent_minutes: %v (the completion counted once)", am)
	}
	calls := u["api_calls_this_hour"].(map[string]any)
	if calls["limit"] != float64(1000) || calls["resets_at"] == nil || calls["used"].(float64) < 15 {
		t.Fatalf("api_calls_this_hour: %v", calls)
	}
	if ct := u["concurrent_tasks"].(map[string]any); ct["used"] != float64(0) || ct["limit"] != float64(5) {
		t.Fatalf("concurrent_tasks: %v", ct)
	}
	if mem := u["members"].(map[string]any); mem["used"] != float64(1) || mem["limit"] != float64(3) {
		t.Fatalf("members: %v", mem)
	}
	r := apiCall(t, base, "GET", "/api/v1/workspace", sp.readKey, "")
	used, _ := strconv.Atoi(r.Header.Get("RateLimit-Remaining"))
	reset, _ := strconv.Atoi(r.Header.Get("RateLimit-Reset"))
	if r.Header.Get("RateLimit-Limit") != "1000" || used < 900 || used > 990 || reset < 0 || reset > 3600 || r.Header.Get("Retry-After") != "" {
		t.Fatalf("headers: %v", r.Header)
	}
	if r := apiCall(t, base, "GET", "/api/v1/nothing-here", sp.readKey, ""); r.Status != 404 || r.Code(t) != "not_found" {
		t.Fatalf("unknown endpoint: %d %s", r.Status, r.Body)
	}
}

func TestAPIUnlimitedTierHeaders(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierEnterprise)
	r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/usage", sp.readKey, "")
	if r.Status != 200 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	want := strconv.Itoa(handlers.UnlimitedRate)
	if r.Header.Get("RateLimit-Limit") != want || r.Header.Get("RateLimit-Remaining") != want || r.Header.Get("RateLimit-Reset") == "" {
		t.Fatalf("unlimited headers: %v", r.Header)
	}
	u := r.JSON(t)
	for _, k := range []string{"agent_minutes", "api_calls_this_hour", "concurrent_tasks", "members"} {
		if m := u[k].(map[string]any); m["limit"] != nil {
			t.Errorf("%s limit %v, want null", k, m["limit"])
		}
	}
}

func TestAPIKeyOfAnotherWorkspaceGets404(t *testing.T) {
	app := webtest.Start(t)
	a := newAPISpace(t, app, models.TierPro)
	b := newAPISpace(t, app, models.TierPro)
	base := app.HTTP.URL
	agent := apiCall(t, base, "POST", "/api/v1/agents", b.writeKey, `{"name": "b's agent"}`).JSON(t)["id"].(string)
	task := apiCall(t, base, "POST", "/api/v1/tasks", b.writeKey, `{"agent_id": "`+agent+`"}`).JSON(t)["id"].(string)
	for _, tc := range []struct{ method, path, body string }{
		{"GET", "/api/v1/agents/" + agent, ""},
		{"GET", "/api/v1/tasks/" + task, ""},
		{"POST", "/api/v1/tasks/" + task + "/complete", `{"status": "failed"}`},
		{"GET", "/api/v1/tasks/" + task + "/messages", ""},
		{"POST", "/api/v1/tasks/" + task + "/messages", `{"role": "user", "body": "x"}`},
		{"POST", "/api/v1/tasks", `{"agent_id": "` + agent + `"}`},
		{"GET", "/api/v1/agents/not-a-uuid", ""},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := apiCall(t, base, tc.method, tc.path, a.writeKey, tc.body)
			if r.Status != 404 || r.Code(t) != "not_found" {
				t.Fatalf("%d %s, want 404", r.Status, r.Body)
			}
		})
	}
	for _, path := range []string{"/api/v1/agents", "/api/v1/tasks"} {
		if l := apiCall(t, base, "GET", path, a.readKey, "").JSON(t); len(l["data"].([]any)) != 0 {
			t.Errorf("A lists B's rows at %s: %v", path, l)
		}
	}
	st := apiCall(t, base, "GET", "/api/v1/tasks/"+task, b.readKey, "").JSON(t)
	if st["status"] != "running" {
		t.Fatalf("A's attempt changed B's task: %v", st)
	}
}

func TestAPIRefusedKeysGet401WithOneBody(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierFree)
	base := app.HTTP.URL
	revokedK, revoked := apiKeyFor(t, app, sp.ws, sp.owner, models.RoleOwner, "read", "7")
	expiredK, expired := apiKeyFor(t, app, sp.ws, sp.owner, models.RoleOwner, "read", "7")
	ctx := context.Background()
	if _, err := app.DB.Owner.ExecContext(ctx, "UPDATE api_keys SET revoked_at = ? WHERE id = ?", app.Server.Now(), revokedK.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := app.DB.Owner.ExecContext(ctx, "UPDATE api_keys SET expires_at = ? WHERE id = ?", app.Server.Now().Add(-time.Second), expiredK.ID); err != nil {
		t.Fatal(err)
	}
	wrongSecret := sp.readKey[:13] + strings.Repeat("x", 32) + sp.readKey[45:]
	cases := map[string]http.Header{
		"no header":       {},
		"revoked":         {"Authorization": {"Bearer " + revoked}},
		"expired":         {"Authorization": {"Bearer " + expired}},
		"malformed":       {"Authorization": {"Bearer atr_12345678_short"}},
		"bad checksum":    {"Authorization": {"Bearer " + wrongSecret}},
		"basic scheme":    {"Authorization": {"Basic " + sp.readKey}},
		"bare key":        {"Authorization": {sp.readKey}},
		"session cookies": {"Cookie": {"atrium_session=whatever"}},
	}
	var first string
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", base+"/api/v1/workspace", nil)
			req.Header = h
			res, err := apiHTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 401 || !strings.HasPrefix(res.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%d %s", res.StatusCode, b)
			}
			if first == "" {
				first = string(b)
			} else if string(b) != first {
				t.Fatalf("body %s differs from %s", b, first)
			}
		})
	}
	if !strings.Contains(first, `"code":"unauthorized"`) {
		t.Fatalf("401 body: %s", first)
	}
}

func TestAPIKeyInTheQueryStringIsRefused(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierFree)
	for _, q := range []string{"?api_key=" + sp.readKey, "?x=" + sp.readKey, "?access_token=abc", "?q=" + strings.ReplaceAll(sp.readKey, "_", "%5F")} {
		r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/agents"+q, sp.readKey, "")
		if r.Status != 400 || r.Code(t) != "key_in_query" {
			t.Errorf("%s: %d %s", q[:6], r.Status, r.Body)
		}
	}
	if r := apiCall(t, app.HTTP.URL, "GET", "/api/v1/agents/"+sp.readKey, sp.readKey, ""); r.Status != 400 || r.Code(t) != "key_in_query" {
		t.Errorf("key in the path: %d %s", r.Status, r.Body)
	}
	if calls := apiUsageCalls(t, app, sp.ws); calls != 0 {
		t.Errorf("refused requests were metered: %d", calls)
	}
}

func apiUsageCalls(t *testing.T, app *webtest.App, ws *models.Workspace) int64 {
	t.Helper()
	var n int64
	err := app.DB.Owner.NewRaw("SELECT coalesce(sum(api_calls), 0) FROM usage_hourly WHERE workspace_id = ?", ws.ID).Scan(context.Background(), &n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSessionsAndKeysDoNotCross(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierFree)
	browser := app.Login(sp.owner.Email)
	if res := browser.Get("/w/" + sp.ws.Slug); res.StatusCode != 200 {
		t.Fatalf("signed-in owner: %d", res.StatusCode)
	}
	// A signed-in browser's cookie does not open the API.
	if res := browser.Get("/api/v1/workspace"); res.StatusCode != 401 {
		t.Fatalf("API with a session cookie: %d %s", res.StatusCode, res.Body)
	}
	// A key does not open the console.
	anon := app.Client()
	res := anon.Do("GET", "/w/"+sp.ws.Slug+"/keys", nil, http.Header{"Authorization": {"Bearer " + sp.writeKey}})
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("console with a key: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
}

func TestAPIReadKeyCannotWrite(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierPro)
	base := app.HTTP.URL
	agent := apiCall(t, base, "POST", "/api/v1/agents", sp.writeKey, `{"name": "a"}`).JSON(t)["id"].(string)
	task := apiCall(t, base, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`"}`).JSON(t)["id"].(string)
	for _, tc := range []struct{ path, body string }{
		{"/api/v1/agents", `{"name": "b"}`},
		{"/api/v1/tasks", `{"agent_id": "` + agent + `"}`},
		{"/api/v1/tasks/" + task + "/complete", `{"status": "failed"}`},
		{"/api/v1/tasks/" + task + "/messages", `{"role": "user", "body": "x"}`},
	} {
		r := apiCall(t, base, "POST", tc.path, sp.readKey, tc.body)
		if r.Status != 403 || r.Code(t) != "insufficient_scope" {
			t.Errorf("POST %s with a read key: %d %s", tc.path, r.Status, r.Body)
		}
	}
	if r := apiCall(t, base, "GET", "/api/v1/tasks/"+task, sp.readKey, ""); r.Status != 200 || r.JSON(t)["status"] != "running" {
		t.Fatalf("read key reading, or the refused writes wrote: %d %s", r.Status, r.Body)
	}
}

func TestAPIBodyValidation(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierPro)
	base := app.HTTP.URL
	cases := []struct {
		name, contentType, body string
		status                  int
		code                    string
	}{
		{"unknown field", "application/json", `{"name": "a", "admin": true}`, 400, "unknown_field"},
		{"wrong type", "application/json", `{"name": 42}`, 400, "invalid_type"},
		{"not an object", "application/json", `["a"]`, 400, "invalid_json"},
		{"malformed", "application/json", `{"name": "a"`, 400, "invalid_json"},
		{"two objects", "application/json", `{"name": "a"} {"name": "b"}`, 400, "invalid_json"},
		{"empty body", "application/json", ``, 400, "invalid_json"},
		{"empty name", "application/json", `{"name": "  "}`, 422, "invalid"},
		{"missing name", "application/json", `{}`, 422, "invalid"},
		{"form encoded", "application/x-www-form-urlencoded", `name=a`, 415, "unsupported_media_type"},
		{"oversized", "application/json", `{"name": "` + strings.Repeat("a", 70<<10) + `"}`, 413, "body_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", base+"/api/v1/agents", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+sp.writeKey)
			req.Header.Set("Content-Type", tc.contentType)
			res, err := apiHTTP.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			var e struct {
				Error struct{ Code, Message string }
			}
			json.Unmarshal(b, &e)
			if res.StatusCode != tc.status || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Fatalf("%d %s, want %d %s", res.StatusCode, b, tc.status, tc.code)
			}
		})
	}
	t.Run("chunked oversized", func(t *testing.T) {
		pr, pw := io.Pipe()
		go func() {
			pw.Write([]byte(`{"name": "`))
			for i := 0; i < 80; i++ {
				pw.Write([]byte(strings.Repeat("b", 1024)))
			}
			pw.Write([]byte(`"}`))
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", base+"/api/v1/agents", pr)
		req.Header.Set("Authorization", "Bearer "+sp.writeKey)
		req.Header.Set("Content-Type", "application/json")
		res, err := apiHTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 413 {
			t.Fatalf("%d, want 413", res.StatusCode)
		}
	})
	for _, tc := range []struct{ path, body string }{
		{"/api/v1/tasks", `{"agent_id": "nope"}`},
		{"/api/v1/tasks", `{"agent_id": 7}`},
	} {
		if r := apiCall(t, base, "POST", tc.path, sp.writeKey, tc.body); r.Status != 422 && r.Status != 400 {
			t.Errorf("%s %s: %d %s", tc.path, tc.body, r.Status, r.Body)
		}
	}
	if l := apiCall(t, base, "GET", "/api/v1/agents", sp.readKey, "").JSON(t); len(l["data"].([]any)) != 0 {
		t.Fatalf("refused bodies wrote agents: %v", l)
	}
}

// TestAPIRateLimitIsExactAcrossServers: two server processes (two handlers.Server, each with its
// own pool) share the database; 2,000 concurrent calls against a limit of 1,000 give exactly 1,000
// successes, and usage_hourly says 1,000.
func TestAPIRateLimitIsExactAcrossServers(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierStarter)
	bystander := newAPISpace(t, app, models.TierFree)
	var bases []string
	for i := 0; i < 2; i++ {
		pool, err := app.DB.OpenApp(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close() })
		srv := handlers.New(pool, handlers.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		t.Cleanup(func() { srv.Close(context.Background()) })
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		bases = append(bases, hs.URL)
	}
	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 2000; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := apiCall(t, bases[i%2], "GET", "/api/v1/workspace", sp.readKey, "")
			mu.Lock()
			defer mu.Unlock()
			counts[r.Status]++
			if r.Status == 429 {
				ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
				if err != nil || ra < 1 || ra > 3600 || r.Header.Get("RateLimit-Remaining") != "0" || r.Header.Get("RateLimit-Limit") != "1000" {
					t.Errorf("429 headers: %v", r.Header)
				}
			}
		}(i)
	}
	wg.Wait()
	if counts[200] != 1000 || counts[429] != 1000 {
		t.Fatalf("statuses %v, want exactly 1000 × 200 and 1000 × 429", counts)
	}
	if calls := apiUsageCalls(t, app, sp.ws); calls != 1000 {
		t.Fatalf("usage_hourly.api_calls = %d, want 1000", calls)
	}
	r := apiCall(t, bases[0], "GET", "/api/v1/workspace", sp.readKey, "")
	if r.Status != 429 || r.Code(t) != "rate_limited" {
		t.Fatalf("after the limit: %d %s", r.Status, r.Body)
	}
	if r := apiCall(t, bases[1], "GET", "/api/v1/workspace", bystander.readKey, ""); r.Status != 200 || r.Header.Get("RateLimit-Remaining") != "99" {
		t.Fatalf("another workspace after the flood: %d %v", r.Status, r.Header)
	}
	var events int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action = 'api.rate_limited'", sp.ws.ID).
		Scan(context.Background(), &events); err != nil || events != 1 {
		t.Fatalf("%d rate-limit audit events (%v), want 1", events, err)
	}
}

func TestAPIConcurrentTaskStartsFillExactlyTheSlots(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierPro)
	base := app.HTTP.URL
	agent := apiCall(t, base, "POST", "/api/v1/agents", sp.writeKey, `{"name": "a"}`).JSON(t)["id"].(string)
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := apiCall(t, base, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`"}`)
			key := strconv.Itoa(r.Status)
			if r.Status != 201 {
				key += " " + r.Code(t)
				if r.Header.Get("Retry-After") == "" {
					t.Errorf("429 without Retry-After")
				}
			}
			mu.Lock()
			counts[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts["201"] != 20 || counts["429 concurrent_task_limit"] != 30 {
		t.Fatalf("statuses %v, want 20 × 201 and 30 × 429 concurrent_task_limit", counts)
	}
	l := apiCall(t, base, "GET", "/api/v1/tasks?status=running&limit=200", sp.readKey, "").JSON(t)
	running := l["data"].([]any)
	if len(running) != 20 {
		t.Fatalf("%d running", len(running))
	}
	// Completing one frees one slot.
	id := running[0].(map[string]any)["id"].(string)
	if r := apiCall(t, base, "POST", "/api/v1/tasks/"+id+"/complete", sp.writeKey, `{"status": "succeeded"}`); r.Status != 200 {
		t.Fatalf("complete: %d %s", r.Status, r.Body)
	}
	if r := apiCall(t, base, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`"}`); r.Status != 201 {
		t.Fatalf("start after a completion: %d %s", r.Status, r.Body)
	}
}

func TestAPIQuotaExceededIs402(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierFree)
	base := app.HTTP.URL
	agent := apiCall(t, base, "POST", "/api/v1/agents", sp.writeKey, `{"name": "a"}`).JSON(t)["id"].(string)
	// This hour is always in this month, whatever the date.
	_, err := app.DB.Owner.ExecContext(context.Background(),
		"INSERT INTO usage_hourly (workspace_id, hour, agent_minutes) VALUES (?, ?, 1000) ON CONFLICT (workspace_id, hour) DO UPDATE SET agent_minutes = 1000", sp.ws.ID, app.Server.Now().Truncate(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	r := apiCall(t, base, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`"}`)
	msg, _ := r.JSON(t)["error"].(map[string]any)["message"].(string)
	if r.Status != 402 || r.Code(t) != "quota_exceeded" || !strings.Contains(strings.ToLower(msg), "upgrade") {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
}

// TestAPIKeyRevokedThroughOneServerIsRefusedByAnother: two server processes, each with its own
// pool and key cache (the second caches for an hour here, so only the notification can stop it).
// A key revoked through the first is refused by the second within a second.
func TestAPIKeyRevokedThroughOneServerIsRefusedByAnother(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierPro)
	var servers []*handlers.Server
	var bases []string
	for i := 0; i < 2; i++ {
		pool, err := app.DB.OpenApp(context.Background(), 4)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close() })
		srv := handlers.New(pool, handlers.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		t.Cleanup(func() { srv.Close(context.Background()) })
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		servers, bases = append(servers, srv), append(bases, hs.URL)
	}
	servers[1].Keys.SetTTL(time.Hour)
	for deadline := time.Now().Add(5 * time.Second); !servers[1].Keys.Listening(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second server does not listen for key changes")
		}
	}
	if r := apiCall(t, bases[1], "GET", "/api/v1/workspace", sp.writeKey, ""); r.Status != 200 {
		t.Fatalf("before the revocation: %d %s", r.Status, r.Body)
	}
	err := models.InWorkspace(context.Background(), servers[0].DB, sp.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := models.RevokeKey(ctx, tn, models.Actor{UserID: sp.owner.ID, Role: models.RoleOwner}, sp.writeKeyK.ID, app.Server.Now())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	revoked := time.Now()
	for {
		r := apiCall(t, bases[1], "GET", "/api/v1/workspace", sp.writeKey, "")
		if r.Status == 401 {
			break
		}
		if time.Since(revoked) > time.Second {
			t.Fatalf("the revoked key still works on the other server after %s: %d", time.Since(revoked), r.Status)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("refused by the other server %s after the revocation", time.Since(revoked))
}

// TestAPIMeteredReadIsOneRoundTrip counts the database round trips of metered reads on a server
// whose pool dials through a counter: once the key is cached, the hour's block leased and the
// statements prepared, every read of the API (agents, tasks with and without filters, a task, its
// messages, the workspace, its usage, its audit log) is one round trip of two statements (the
// workspace's binding and the query; the usage adds its running tasks' count, planned at each
// call) and writes nothing, with prepared statements and without, and
// with the workspace's quota alerts on.
func TestAPIMeteredReadIsOneRoundTrip(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierPro)
	agent := apiCall(t, app.HTTP.URL, "POST", "/api/v1/agents", sp.writeKey, `{"name": "counted"}`).JSON(t)["id"].(string)
	task := apiCall(t, app.HTTP.URL, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`", "input": "counted input"}`).JSON(t)["id"].(string)
	if r := apiCall(t, app.HTTP.URL, "POST", "/api/v1/tasks/"+task+"/messages", sp.writeKey, `{"role": "user", "body": "counted message"}`); r.Status != 201 {
		t.Fatalf("add a message: %d %s", r.Status, r.Body)
	}
	_, auditKey := apiKeyFor(t, app, sp.ws, sp.owner, models.RoleOwner, "audit:read", "30")
	reads := []struct {
		path, want, key string
		stmts           int64 // 0: two
	}{
		{"/api/v1/agents/" + agent, agent, "", 0},
		{"/api/v1/agents", agent, "", 0},
		{"/api/v1/tasks", task, "", 0},
		{"/api/v1/tasks?status=running&agent_id=" + agent, task, "", 0},
		{"/api/v1/tasks?status=succeeded", `"data":[]`, "", 0},
		{"/api/v1/tasks/" + task, "counted input", "", 0},
		{"/api/v1/tasks/" + task + "/messages", "counted message", "", 0},
		{"/api/v1/workspace", sp.ws.ID.String(), "", 0},
		{"/api/v1/usage", `"concurrent_tasks":{"used":1`, "", 3},
		{"/api/v1/audit?limit=5", `"prev_hash"`, auditKey, 0},
	}
	// The last run has every quota alert of the workspace on: alerts add nothing to a call.
	for _, mode := range []struct{ noPrepare, alerts bool }{{false, false}, {true, false}, {false, true}} {
		noPrepare := mode.noPrepare
		if mode.alerts {
			err := models.InWorkspace(context.Background(), app.DB.App, sp.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
				var ins []models.AlertInput
				for _, k := range models.LimitKinds {
					ins = append(ins, models.AlertInput{Kind: k, Enabled: true, Thresholds: "1, 80, 100", Recipients: models.RecipientsOwners})
				}
				_, err := models.SaveAlertSettings(ctx, tn, models.Actor{UserID: sp.owner.ID, Role: models.RoleOwner}, ins, testdb.Now(t))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		var tc testdb.WireCount
		opt := app.DB.AppOptions(4)
		opt.Dial, opt.NoPrepare = tc.Dial, noPrepare
		pool, err := models.Open(context.Background(), opt)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pool.Close() })
		srv := handlers.New(pool, handlers.Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		t.Cleanup(func() { srv.Close(context.Background()) })
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		srv.Keys.SetTTL(time.Hour) // the test's pace must not decide; notifications still apply
		for deadline := time.Now().Add(5 * time.Second); !srv.Keys.Listening(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the server does not listen for key changes")
			}
		}
		calls := apiUsageCalls(t, app, sp.ws)
		for _, rd := range reads {
			best, bestSt, worstSt := int64(1<<30), int64(1<<30), int64(0)
			for i := range 6 {
				rt0, st0 := tc.RoundTrips.Load(), tc.Statements.Load()
				key := rd.key
				if key == "" {
					key = sp.readKey
				}
				r := apiCall(t, hs.URL, "GET", rd.path, key, "")
				if r.Status != 200 || !strings.Contains(r.Body, rd.want) {
					t.Fatalf("GET %s: %d %s", rd.path, r.Status, r.Body)
				}
				// The first call looks the key up, leases a block and prepares the statements.
				if i == 0 {
					continue
				}
				// A pooled connection idle for over a second is pinged first (a round trip, no
				// statement), and the meter's once-a-second flush of its lease runs on the same
				// pool and may land inside a call's window: both counts are the best of five. A
				// write or an extra read made by the call itself is in every one of them.
				best = min(best, tc.RoundTrips.Load()-rt0)
				n := tc.Statements.Load() - st0
				bestSt, worstSt = min(bestSt, n), max(worstSt, n)
			}
			if best != 1 {
				t.Errorf("prepare off=%v: GET %s took %d round trips, want 1", noPrepare, rd.path, best)
			}
			want := rd.stmts
			if want == 0 {
				want = 2
			}
			if bestSt != want {
				t.Errorf("prepare off=%v: GET %s ran %d statements, want %d (binding and query, no write)", noPrepare, rd.path, bestSt, want)
			} else if worstSt != want {
				t.Logf("prepare off=%v: GET %s: one call's window also held %d statements of background work", noPrepare, rd.path, worstSt-want)
			}
		}
		if after := apiUsageCalls(t, app, sp.ws); after <= calls {
			t.Errorf("usage_hourly went from %d to %d: the server admitted calls it did not lease", calls, after)
		}
	}
}
