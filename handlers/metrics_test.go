package handlers_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
)

// scrape reads the metrics endpoint and returns its samples: the metric's line up to the value
// ("name{labels}") to the value.
func scrape(t *testing.T, url string) (map[string]float64, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("scrape: %d %s", res.StatusCode, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out, string(body)
}

// TestMetricsMoveWithTraffic starts the server with metrics on, sends API and console traffic
// (with a 429 of the hourly limit, a 429 of the concurrency limit, a 402 of the quota, an unknown
// route and a queued mail), scrapes the metrics endpoint and checks that each number moved by
// what was sent.
func TestMetricsMoveWithTraffic(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{Metrics: true})
	ms := httptest.NewServer(app.Server.MetricsHandler())
	t.Cleanup(ms.Close)
	before, _ := scrape(t, ms.URL)
	base := app.HTTP.URL

	sp := newAPISpace(t, app, models.TierFree)
	agent := apiCall(t, base, "POST", "/api/v1/agents", sp.writeKey, `{"name": "metered"}`).JSON(t)["id"].(string)
	if r := apiCall(t, base, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`"}`); r.Status != 201 {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	if r := apiCall(t, base, "POST", "/api/v1/tasks", sp.writeKey, `{"agent_id": "`+agent+`"}`); r.Status != 429 || r.Code(t) != "concurrent_task_limit" {
		t.Fatalf("second start on the free tier: %d %s", r.Status, r.Body)
	}
	broke := newAPISpace(t, app, models.TierFree)
	brokeAgent := apiCall(t, base, "POST", "/api/v1/agents", broke.writeKey, `{"name": "a"}`).JSON(t)["id"].(string)
	if _, err := app.DB.Owner.ExecContext(context.Background(),
		"INSERT INTO usage_hourly (workspace_id, hour, agent_minutes) VALUES (?, ?, 1000) ON CONFLICT (workspace_id, hour) DO UPDATE SET agent_minutes = 1000",
		broke.ws.ID, app.Server.Now().Truncate(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if r := apiCall(t, base, "POST", "/api/v1/tasks", broke.writeKey, `{"agent_id": "`+brokeAgent+`"}`); r.Status != 402 {
		t.Fatalf("start past the quota: %d %s", r.Status, r.Body)
	}
	if r := apiCall(t, base, "GET", "/api/v1/nothing-here", sp.readKey, ""); r.Status != 404 {
		t.Fatalf("unknown API path: %d", r.Status)
	}
	reads := 0
	for ; reads < 150; reads++ {
		r := apiCall(t, base, "GET", "/api/v1/workspace", sp.readKey, "")
		if r.Status == 429 {
			break
		}
	}
	if reads == 150 {
		t.Fatal("the free tier's hourly limit never refused")
	}
	anon := app.Client()
	anon.Get("/no/such/page")
	anon.Get("/password/forgot")
	anon.Post("/password/forgot", url.Values{"email": {webtest.UniqueEmail("nobody")}}) // queues a job

	after, body := scrape(t, ms.URL)
	moved := func(sample string) float64 { return after[sample] - before[sample] }
	count := func(route, method, class string) string {
		return `atrium_http_request_duration_seconds_count{class="` + class + `",method="` + method + `",route="` + route + `"}`
	}
	for _, tc := range []struct {
		sample string
		want   float64
	}{
		{count("/api/v1/tasks", "POST", "2xx"), 1},
		{count("/api/v1/tasks", "POST", "4xx"), 2},                 // the 429 and the 402
		{count("/api/v1/agents", "POST", "2xx"), 2},                // one per workspace
		{count("/api/v1/workspace", "GET", "2xx"), float64(reads)}, // until the limit
		{count("/api/v1/workspace", "GET", "4xx"), 1},
		{count("unmatched", "", "4xx"), 2}, // the unknown API path and page
		{count("/password/forgot", "POST", "3xx"), 1},
		{`atrium_refusals_total{kind="rate_limited"}`, 1},
		{`atrium_refusals_total{kind="concurrent_task_limit"}`, 1},
		{`atrium_refusals_total{kind="quota_exceeded"}`, 1},
		{`atrium_tasks_running`, 1},
		{`atrium_jobs{queue="mail",state="available"}`, 1},
	} {
		if got := moved(tc.sample); got != tc.want {
			t.Errorf("%s moved by %v, want %v", tc.sample, got, tc.want)
		}
	}
	for _, sample := range []string{`go_sql_open_connections{db_name="app"}`, `go_goroutines`} {
		if after[sample] < 1 {
			t.Errorf("%s = %v", sample, after[sample])
		}
	}
	for _, sample := range []string{`go_sql_wait_count_total{db_name="app"}`, `atrium_metrics_query_errors{query="running_tasks"}`,
		`atrium_metrics_query_errors{query="jobs"}`, `atrium_refusals_total{kind="login_throttled"}`} {
		if _, ok := after[sample]; !ok {
			t.Errorf("no %s", sample)
		}
	}
	if after[`atrium_metrics_query_errors{query="running_tasks"}`] != 0 || after[`atrium_metrics_query_errors{query="jobs"}`] != 0 {
		t.Error("a scrape-time query failed")
	}
	// No workspace, user or key reaches a label.
	for _, secret := range []string{sp.ws.ID.String(), sp.ws.Slug, sp.readKey[:12], agent, sp.owner.Email} {
		if strings.Contains(body, secret) {
			t.Errorf("the metrics name %q", secret)
		}
	}
}

// TestMetricsOffByDefault: without Config.Metrics there is nothing to scrape.
func TestMetricsOffByDefault(t *testing.T) {
	app := webtest.Start(t)
	rec := httptest.NewRecorder()
	app.Server.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("metrics without Config.Metrics: %d", rec.Code)
	}
}
