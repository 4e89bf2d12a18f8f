package handlers_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// controlledAPIKey makes a read_write key with controls in sp's workspace.
func controlledAPIKey(t *testing.T, app *webtest.App, sp *apiSpace, name string, c models.KeyControls) string {
	t.Helper()
	var token string
	err := models.InWorkspace(context.Background(), app.DB.App, sp.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		_, token, err = models.CreateKey(ctx, tn, models.Actor{UserID: sp.owner.ID, Role: models.RoleOwner},
			models.NewKey{Name: name, Scope: "read_write", ExpiresInDays: "0", KeyControls: c}, testdb.Now(t))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// apiServer runs another app process on its own pool, with cfg.
func apiServer(t *testing.T, app *webtest.App, cfg handlers.Config) string {
	t.Helper()
	pool, err := app.DB.OpenApp(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	srv := handlers.New(pool, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	srv.Now = testdb.Clock
	t.Cleanup(func() { srv.Close(context.Background()) })
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return hs.URL
}

// TestAPIKeyLimitIsExactAcrossServers: a key limited to 100 calls an hour, in a workspace allowed
// 1,000, called 300 times at once through two servers: exactly 100 × 200 and 200 × 429
// key_rate_limited, whose headers describe the key's limit.
func TestAPIKeyLimitIsExactAcrossServers(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierStarter)
	token := controlledAPIKey(t, app, sp, "sliced", models.KeyControls{RateLimitPerHour: "100"})
	bases := []string{apiServer(t, app, handlers.Config{}), apiServer(t, app, handlers.Config{})}
	var mu sync.Mutex
	counts := map[string]int{}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := apiCall(t, bases[i%2], "GET", "/api/v1/workspace", token, "")
			key := strconv.Itoa(r.Status)
			if r.Status != 200 {
				key += " " + r.Code(t)
				ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
				if err != nil || ra < 1 || ra > 3600 || r.Header.Get("RateLimit-Remaining") != "0" || r.Header.Get("RateLimit-Limit") != "100" {
					t.Errorf("429 headers: %v", r.Header)
				}
			} else if r.Header.Get("RateLimit-Limit") != "100" {
				t.Errorf("200 says RateLimit-Limit %q, want the key's 100", r.Header.Get("RateLimit-Limit"))
			}
			mu.Lock()
			counts[key]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	if counts["200"] != 100 || counts["429 key_rate_limited"] != 200 {
		t.Fatalf("statuses %v, want exactly 100 × 200 and 200 × 429 key_rate_limited", counts)
	}
	// The workspace's other keys go on.
	if r := apiCall(t, bases[0], "GET", "/api/v1/workspace", sp.readKey, ""); r.Status != 200 {
		t.Fatalf("another key: %d %s", r.Status, r.Body)
	}
}

// TestAPIKeyAllowlist: behind a trusted proxy, the client address of X-Forwarded-For is checked
// against the key's list (IPv4 and IPv6 ranges); without one, a forged X-Forwarded-For changes
// nothing: the connection's own address is checked.
func TestAPIKeyAllowlist(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierStarter)
	token := controlledAPIKey(t, app, sp, "fenced", models.KeyControls{AllowedIPs: "203.0.113.0/24\n2001:db8::/32"})
	proxied := apiServer(t, app, handlers.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}})
	direct := apiServer(t, app, handlers.Config{})
	for _, tc := range []struct {
		base, xff string
		want      int
	}{
		{proxied, "203.0.113.5", 200},
		{proxied, "2001:db8::5", 200},
		{proxied, "198.51.100.1", 403},
		{proxied, "2001:db9::1", 403},
		{direct, "203.0.113.5", 403},
	} {
		r := apiCall(t, tc.base, "GET", "/api/v1/workspace", token, "", "X-Forwarded-For", tc.xff)
		if r.Status != tc.want {
			t.Errorf("from %s (%s): %d %s, want %d", tc.xff, map[bool]string{true: "proxied", false: "direct"}[tc.base == proxied], r.Status, r.Body, tc.want)
			continue
		}
		if r.Status == 403 && (r.Code(t) != "ip_not_allowed" || r.Header.Get("RateLimit-Limit") == "") {
			t.Errorf("from %s: %s %v", tc.xff, r.Body, r.Header)
		}
	}
	var refused int64
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action = 'api.ip_not_allowed'", sp.ws.ID).
		Scan(context.Background(), &refused); err != nil || refused != 1 {
		t.Fatalf("%d ip_not_allowed audit events (%v), want 1 per key and hour", refused, err)
	}
}

// TestAPITaskCarriesItsKeyAndTheRefusalLinksToRunningTasks: a task answers the key that started
// it, by name, when started, read, listed and completed; a start refused for the concurrent limit
// carries the console page of the running tasks.
func TestAPITaskCarriesItsKeyAndTheRefusalLinksToRunningTasks(t *testing.T) {
	app := webtest.Start(t)
	sp := newAPISpace(t, app, models.TierFree)
	base := app.HTTP.URL
	agent := apiCall(t, base, "POST", "/api/v1/agents", sp.writeKey, `{"name": "a"}`).JSON(t)["id"].(string)
	started := apiCall(t, base, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`"}`).JSON(t)
	if started["key_name"] != "test read_write" || started["key_id"] != sp.writeKeyK.ID.String() {
		t.Fatalf("started task: key %v %v", started["key_id"], started["key_name"])
	}
	id := started["id"].(string)
	refused := apiCall(t, base, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`"}`)
	e, _ := refused.JSON(t)["error"].(map[string]any)
	if refused.Status != 429 || e["code"] != "concurrent_task_limit" || e["url"] != base+"/w/"+sp.ws.Slug+"/tasks?status=running" {
		t.Fatalf("refused start: %d %s", refused.Status, refused.Body)
	}
	if got := apiCall(t, base, "GET", "/api/v1/tasks/"+id, sp.readKey, "").JSON(t); got["key_name"] != "test read_write" {
		t.Fatalf("read task: %v", got)
	}
	list := apiCall(t, base, "GET", "/api/v1/tasks", sp.readKey, "").JSON(t)["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["key_name"] != "test read_write" {
		t.Fatalf("listed tasks: %v", list)
	}
	other := controlledAPIKey(t, app, sp, "finisher", models.KeyControls{})
	done := apiCall(t, base, "POST", "/api/v1/tasks/"+id+"/complete", other, `{"status": "succeeded"}`).JSON(t)
	if done["key_name"] != "test read_write" || !strings.EqualFold(done["status"].(string), "succeeded") {
		t.Fatalf("completed by another key, the task still names the key that started it: %v", done)
	}
}
