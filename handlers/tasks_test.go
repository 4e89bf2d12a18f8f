package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers/webtest"
	"atrium/models"
)

// taskCrew is a workspace with a member of each role, an API key of each scope and an agent.
type taskCrew struct {
	*apiSpace
	admin, member, viewer *models.User
	agent                 string
}

func newTaskCrew(t *testing.T, app *webtest.App, tier models.Tier) *taskCrew {
	t.Helper()
	c := &taskCrew{apiSpace: newAPISpace(t, app, tier), admin: app.User(webtest.UniqueEmail("t-admin")),
		member: app.User(webtest.UniqueEmail("t-member")), viewer: app.User(webtest.UniqueEmail("t-viewer"))}
	if tier == models.TierFree { // one seat: room for the others
		app.SetTier(c.ws, models.TierPro)
	}
	app.AddMember(c.ws, c.admin, models.RoleAdmin)
	app.AddMember(c.ws, c.member, models.RoleMember)
	app.AddMember(c.ws, c.viewer, models.RoleViewer)
	app.SetTier(c.ws, tier)
	c.agent = apiCall(t, app.HTTP.URL, "POST", "/api/v1/agents", c.writeKey, `{"name": "Invoice reader"}`).JSON(t)["id"].(string)
	return c
}

// start starts a task through the API and returns its id.
func (c *taskCrew) start(t *testing.T, app *webtest.App) string {
	t.Helper()
	r := apiCall(t, app.HTTP.URL, "POST", "/api/v1/tasks", c.writeKey, `{"agent_id": "`+c.agent+`", "input": "read the invoices"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("start: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)["id"].(string)
}

func (c *taskCrew) usageMinutes(t *testing.T, app *webtest.App) int64 {
	t.Helper()
	var n int64
	err := app.DB.Owner.NewRaw("SELECT coalesce(sum(agent_minutes), 0) FROM usage_hourly WHERE workspace_id = ?", c.ws.ID).
		Scan(context.Background(), &n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// rows lists the page's task rows as id → status.
func taskRows(res *webtest.Response) (ids []string, status map[string]string) {
	status = map[string]string{}
	res.Doc().Find(`[data-testid="task-row"]`).Each(func(_ int, s *goquery.Selection) {
		id, _ := s.Attr("data-id")
		st, _ := s.Attr("data-status")
		ids = append(ids, id)
		status[id] = st
	})
	return ids, status
}

func TestTasksAndAgentsPagesListFilterAndLink(t *testing.T) {
	app := webtest.Start(t)
	crew := newTaskCrew(t, app, models.TierPro)
	base := app.HTTP.URL
	other := apiCall(t, base, "POST", "/api/v1/agents", crew.writeKey, `{"name": "A very long agent name that goes on and on and on and on"}`).JSON(t)["id"].(string)
	done := crew.start(t, app)
	if r := apiCall(t, base, "POST", "/api/v1/tasks/"+done+"/complete", crew.writeKey, `{"status": "failed"}`); r.Status != 200 {
		t.Fatalf("complete: %d", r.Status)
	}
	running := crew.start(t, app)
	apiCall(t, base, "POST", "/api/v1/tasks/"+running+"/messages", crew.writeKey, `{"role": "user", "body": "Which invoices are late?"}`)
	otherTask := apiCall(t, base, "POST", "/api/v1/tasks", crew.writeKey, `{"agent_id": "`+other+`"}`).JSON(t)["id"].(string)
	apiCall(t, base, "POST", "/api/v1/tasks/"+otherTask+"/complete", crew.writeKey, `{"status": "succeeded"}`)

	c := app.Login(crew.viewer.Email)
	slug := "/w/" + crew.ws.Slug
	over := c.Get(slug)
	if href, _ := over.Doc().Find(`[data-testid="link-agents"]`).Attr("href"); href != slug+"/agents" {
		t.Fatalf("overview's agents count links to %q", href)
	}
	if href, _ := over.Doc().Find(`[data-testid="link-running"]`).Attr("href"); href != slug+"/tasks?status=running" {
		t.Fatalf("overview's running count links to %q", href)
	}
	if !over.Has("nav-agents") || !over.Has("nav-tasks") {
		t.Fatal("no Agents and Tasks in the navigation")
	}

	res := c.Get(slug + "/tasks")
	if res.StatusCode != 200 {
		t.Fatalf("tasks: %d", res.StatusCode)
	}
	ids, status := taskRows(res)
	if len(ids) != 3 || ids[0] != running || status[running] != "running" {
		t.Fatalf("tasks %v, want the running one first", ids)
	}
	if key := res.Doc().Find(`[data-testid="task-row"] [data-testid="task-key"]`).First().Text(); key != "test read_write" {
		t.Fatalf("key column %q", key)
	}
	if res.Has("cancel-task") || res.Has("cancel-dialog") {
		t.Fatal("a viewer is offered a cancel")
	}
	if live, _ := res.Doc().Find(`#task-list`).Attr("hx-trigger"); live != "every 3s" {
		t.Fatalf("the list does not refresh itself while a task runs: %q", live)
	}
	if ids, _ := taskRows(c.Get(slug + "/tasks?status=failed")); len(ids) != 1 || ids[0] != done {
		t.Fatalf("failed filter: %v", ids)
	}
	if ids, _ := taskRows(c.Get(slug + "/tasks?agent=" + other)); len(ids) != 1 || ids[0] != otherTask {
		t.Fatalf("agent filter: %v", ids)
	}
	if r := c.Get(slug + "/tasks?status=finished"); r.StatusCode != 400 {
		t.Fatalf("unknown status: %d", r.StatusCode)
	}
	if r := c.Get(slug + "/tasks?cursor=made-up"); r.StatusCode != 400 {
		t.Fatalf("made-up cursor: %d", r.StatusCode)
	}
	finished := c.Get(slug + "/tasks?status=succeeded")
	if live, ok := finished.Doc().Find(`#task-list`).Attr("hx-trigger"); ok {
		t.Fatalf("a list with nothing running refreshes itself: %q", live)
	}

	agents := c.Get(slug + "/agents")
	rows := agents.Doc().Find(`[data-testid="agent-row"]`)
	if rows.Length() != 2 {
		t.Fatalf("%d agent rows", rows.Length())
	}
	long := rows.Eq(0).Find(`[data-testid="agent-name"]`)
	if title, _ := long.Attr("title"); !strings.HasPrefix(title, "A very long") || !strings.Contains(long.AttrOr("class", ""), "clip") {
		t.Fatalf("a long name is not truncated with its title: %q", title)
	}
	if got := strings.TrimSpace(rows.Eq(1).Find(`[data-testid="agent-running"]`).Text()); got != "1" {
		t.Fatalf("Invoice reader runs %q tasks", got)
	}
	if got := c.Get(slug + "/agents?q=INVOICE").Doc().Find(`[data-testid="agent-row"]`).Length(); got != 1 {
		t.Fatalf("search: %d rows", got)
	}
	if !c.Get(slug + "/agents?q=nobody").Has("empty-agents") {
		t.Fatal("no empty state for a search without results")
	}

	ag := c.Get(slug + "/agents/" + crew.agent)
	if ag.StatusCode != 200 || ag.TestID("agent-heading") != "Invoice reader" {
		t.Fatalf("agent page: %d %q", ag.StatusCode, ag.TestID("agent-heading"))
	}
	if ids, _ := taskRows(ag); len(ids) != 2 || ids[0] != running {
		t.Fatalf("agent's tasks %v", ids)
	}

	task := c.Get(slug + "/tasks/" + running)
	if task.StatusCode != 200 || task.TestID("message-body") != "Which invoices are late?" || task.TestID("task-input") != "read the invoices" {
		t.Fatalf("task page: %d %q", task.StatusCode, task.TestID("message-body"))
	}
	if live, _ := task.Doc().Find(`#task-panel`).Attr("hx-get"); live != slug+"/tasks/"+running {
		t.Fatalf("the running task's page does not refresh itself: %q", live)
	}
	// The refresh answers the panel alone.
	frag := c.HTMX("GET", slug+"/tasks/"+running, nil)
	if frag.StatusCode != 200 || strings.Contains(frag.Body, "<html") || !frag.Has("task-panel") {
		t.Fatalf("refresh: %d %.200s", frag.StatusCode, frag.Body)
	}
	frag = c.HTMX("GET", slug+"/tasks", nil)
	if strings.Contains(frag.Body, "<html") || !frag.Has("task-list") {
		t.Fatalf("list refresh: %.200s", frag.Body)
	}
}

// TestTasksOfAnotherWorkspaceAre404: another workspace's agent and task ids are not found in the
// console, for reading and for cancelling, and the other task keeps running.
func TestTasksOfAnotherWorkspaceAre404(t *testing.T) {
	app := webtest.Start(t)
	a := newTaskCrew(t, app, models.TierPro)
	b := newTaskCrew(t, app, models.TierPro)
	taskB := b.start(t, app)
	c := app.Login(a.owner.Email)
	slug := "/w/" + a.ws.Slug
	for _, p := range []string{slug + "/tasks/" + taskB, slug + "/agents/" + b.agent, slug + "/tasks/not-an-id", slug + "/agents/not-an-id"} {
		if r := c.Get(p); r.StatusCode != 404 {
			t.Errorf("GET %s: %d", p, r.StatusCode)
		}
	}
	for _, form := range []url.Values{{}, {"confirm": {"yes"}}} {
		r := c.Post(slug+"/tasks/"+taskB+"/cancel", form)
		if r.StatusCode == http.StatusSeeOther && form.Get("confirm") == "" {
			r = c.Follow(r) // asked first, on a page of its own
		}
		if r.StatusCode != 404 {
			t.Errorf("cancel B's task from A (%v): %d", form, r.StatusCode)
		}
	}
	if r := apiCall(t, app.HTTP.URL, "POST", "/api/v1/tasks/"+taskB+"/cancel", a.writeKey, ""); r.Status != 404 || r.Code(t) != "not_found" {
		t.Errorf("API cancel of B's task with A's key: %d %s", r.Status, r.Body)
	}
	if st := apiCall(t, app.HTTP.URL, "GET", "/api/v1/tasks/"+taskB, b.readKey, "").JSON(t)["status"]; st != "running" {
		t.Fatalf("B's task is %v", st)
	}
}

// TestCancelFromTheConsole: owners and admins cancel, members and viewers see no button and get
// 403; without JavaScript the cancel asks on a page of its own and ends in a redirect; the slot is
// free at once on a tier with one, the minutes count once and the audit log shows the cancel.
func TestCancelFromTheConsole(t *testing.T) {
	app := webtest.Start(t)
	crew := newTaskCrew(t, app, models.TierFree)
	slug := "/w/" + crew.ws.Slug
	id := crew.start(t, app)
	if r := apiCall(t, app.HTTP.URL, "POST", "/api/v1/tasks", crew.writeKey, `{"agent_id": "`+crew.agent+`"}`); r.Status != 429 {
		t.Fatalf("second start on free: %d", r.Status)
	}
	for _, u := range []*models.User{crew.member, crew.viewer} {
		c := app.Login(u.Email)
		if c.Get(slug + "/tasks").Has("cancel-task") {
			t.Errorf("%s sees a cancel button", u.Email)
		}
		if r := c.Post(slug+"/tasks/"+id+"/cancel", url.Values{"confirm": {"yes"}}); r.StatusCode != 403 {
			t.Errorf("%s cancels: %d", u.Email, r.StatusCode)
		}
	}
	c := app.Login(crew.admin.Email)
	list := c.Get(slug + "/tasks?status=running")
	if !list.Has("cancel-task") || !list.Has("cancel-dialog") {
		t.Fatal("an admin has no cancel button and dialog")
	}
	back := slug + "/tasks?status=running"
	ask := c.Back(c.Post(slug+"/tasks/"+id+"/cancel", url.Values{"next": {back}}), slug+"/tasks/"+id+"/cancel?next="+url.QueryEscape(back))
	if ask.StatusCode != 200 || !ask.Has("confirm-page") {
		t.Fatalf("without confirmation: %d, want the confirmation page", ask.StatusCode)
	}
	action, _ := ask.Doc().Find(`[data-testid="confirm-page"] form`).Attr("action")
	if st := apiCall(t, app.HTTP.URL, "GET", "/api/v1/tasks/"+id, crew.readKey, "").JSON(t)["status"]; st != "running" {
		t.Fatalf("asking cancelled the task: %v", st)
	}
	done := c.Post(action, url.Values{"confirm": {"yes"}})
	if done.StatusCode != http.StatusSeeOther || done.Header.Get("Location") != back {
		t.Fatalf("confirmed cancel: %d → %q, want 303 → %q", done.StatusCode, done.Header.Get("Location"), back)
	}
	// The slot is free at once.
	if r := apiCall(t, app.HTTP.URL, "POST", "/api/v1/tasks", crew.writeKey, `{"agent_id": "`+crew.agent+`"}`); r.Status != 201 {
		t.Fatalf("start after the cancel: %d %s", r.Status, r.Body)
	}
	after := c.Get(back)
	if !strings.Contains(after.TestID("flash"), "is cancelled") {
		t.Fatalf("flash %q", after.TestID("flash"))
	}
	task := apiCall(t, app.HTTP.URL, "GET", "/api/v1/tasks/"+id, crew.readKey, "").JSON(t)
	if task["status"] != "cancelled" {
		t.Fatalf("task after the cancel: %v", task)
	}
	if got, want := crew.usageMinutes(t, app), int64(task["agent_minutes"].(float64)); got != want || want < 1 {
		t.Fatalf("usage counts %d minutes, the task %d", got, want)
	}
	// Again: nothing changes, nothing counts twice.
	again := c.Post(slug+"/tasks/"+id+"/cancel", url.Values{"confirm": {"yes"}, "next": {back}})
	if again.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel again: %d", again.StatusCode)
	}
	if got := crew.usageMinutes(t, app); got != int64(task["agent_minutes"].(float64)) {
		t.Fatalf("a second cancel counted again: %d", got)
	}
	audit := app.Login(crew.owner.Email).Get(slug + "/audit?action=task.cancel")
	if rows := audit.Doc().Find(`[data-testid="audit-row"]`); rows.Length() != 1 || !strings.Contains(rows.Text(), id) {
		t.Fatalf("audit log: %d task.cancel rows: %.300s", rows.Length(), rows.Text())
	}
	// The event reads as a sentence, the task by the end of its id, with the minutes counted.
	minutes := fmt.Sprintf("%d agent-minutes", int(task["agent_minutes"].(float64)))
	if minutes == "1 agent-minutes" {
		minutes = "1 agent-minute"
	}
	wantSentence := "cancelled the task …" + id[len(id)-8:] + "; " + minutes + " counted."
	if got := audit.Doc().Find(`[data-testid="audit-row"]`).Text(); !strings.Contains(got, wantSentence) || !strings.Contains(audit.Body, "Task cancelled") {
		t.Fatalf("the audit sentence: want %q in %.400s", wantSentence, got)
	}
	// A finished task cannot be cancelled: the flash says why.
	if r := c.Follow(c.Post(slug+"/tasks/"+id+"/cancel", url.Values{"next": {back}})); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != back {
		t.Fatalf("asking to cancel a cancelled task: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if !strings.Contains(c.Get(back).TestID("flash"), "only a running task") {
		t.Fatal("no word on cancelling a finished task")
	}
	// A redirect never leaves the console.
	if r := c.Post(slug+"/tasks/"+id+"/cancel", url.Values{"confirm": {"yes"}, "next": {"//evil.example"}}); r.Header.Get("Location") != slug+"/tasks" {
		t.Fatalf("next=//evil.example → %q", r.Header.Get("Location"))
	}
}

// TestCancelThroughTheAPI: a read-write key cancels; a read key may not; cancelling again answers
// the same task; a completed task is a conflict; the slot is free at once and the minutes count
// once; the cancel is audited with the key.
func TestCancelThroughTheAPI(t *testing.T) {
	app := webtest.Start(t)
	crew := newTaskCrew(t, app, models.TierFree)
	base := app.HTTP.URL
	id := crew.start(t, app)
	if r := apiCall(t, base, "POST", "/api/v1/tasks/"+id+"/cancel", crew.readKey, ""); r.Status != 403 || r.Code(t) != "insufficient_scope" {
		t.Fatalf("read key: %d %s", r.Status, r.Body)
	}
	r := apiCall(t, base, "POST", "/api/v1/tasks/"+id+"/cancel", crew.writeKey, "")
	if r.Status != 200 || r.JSON(t)["status"] != "cancelled" || r.JSON(t)["finished_at"] == nil {
		t.Fatalf("cancel: %d %s", r.Status, r.Body)
	}
	next := apiCall(t, base, "POST", "/api/v1/tasks", crew.writeKey, `{"agent_id": "`+crew.agent+`"}`)
	if next.Status != 201 {
		t.Fatalf("start after the cancel: %d %s", next.Status, next.Body)
	}
	if again := apiCall(t, base, "POST", "/api/v1/tasks/"+id+"/cancel", crew.writeKey, ""); again.Status != 200 || again.JSON(t)["finished_at"] != r.JSON(t)["finished_at"] {
		t.Fatalf("cancel again: %d %s", again.Status, again.Body)
	}
	nextID := next.JSON(t)["id"].(string)
	apiCall(t, base, "POST", "/api/v1/tasks/"+nextID+"/complete", crew.writeKey, `{"status": "succeeded"}`)
	if c := apiCall(t, base, "POST", "/api/v1/tasks/"+nextID+"/cancel", crew.writeKey, ""); c.Status != 409 || c.Code(t) != "conflict" {
		t.Fatalf("cancel a completed task: %d %s", c.Status, c.Body)
	}
	if c := apiCall(t, base, "POST", "/api/v1/tasks/0190a1b2-0000-7000-8000-000000000000/cancel", crew.writeKey, ""); c.Status != 404 {
		t.Fatalf("cancel an unknown task: %d", c.Status)
	}
	var n int
	var details string
	err := app.DB.Owner.NewRaw("SELECT count(*), coalesce(max(details->>'key'), '') FROM audit_events WHERE workspace_id = ? AND action = 'task.cancel'", crew.ws.ID).
		Scan(context.Background(), &n, &details)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 || !strings.HasPrefix(details, "atr_") {
		t.Fatalf("%d task.cancel events, key %q", n, details)
	}
}

// TestCancelRacingCompleteThroughHTTPCountsOnce: the console's cancel, the API's cancel and the
// API's completion of one running task at the same moment, 15 times: one of them ends it, and the
// month's minutes are the tasks' minutes, counted once.
func TestCancelRacingCompleteThroughHTTPCountsOnce(t *testing.T) {
	app := webtest.Start(t)
	crew := newTaskCrew(t, app, models.TierPro)
	c := app.Login(crew.owner.Email)
	c.Get("/w/" + crew.ws.Slug + "/tasks")
	base := app.HTTP.URL
	var ids []string
	for range 15 {
		id := crew.start(t, app)
		ids = append(ids, id)
		var wg sync.WaitGroup
		start := make(chan struct{})
		statuses := make([]int, 3)
		wg.Add(3)
		go func() {
			defer wg.Done()
			<-start
			statuses[0] = apiCall(t, base, "POST", "/api/v1/tasks/"+id+"/complete", crew.writeKey, `{"status": "succeeded"}`).Status
		}()
		go func() {
			defer wg.Done()
			<-start
			statuses[1] = apiCall(t, base, "POST", "/api/v1/tasks/"+id+"/cancel", crew.writeKey, "").Status
		}()
		go func() {
			defer wg.Done()
			<-start
			statuses[2] = c.Post("/w/"+crew.ws.Slug+"/tasks/"+id+"/cancel", url.Values{"confirm": {"yes"}}).StatusCode
		}()
		close(start)
		wg.Wait()
		if statuses[0] != 200 || (statuses[1] != 200 && statuses[1] != 409) || statuses[2] != http.StatusSeeOther {
			t.Fatalf("statuses %v", statuses)
		}
	}
	var sum int64
	cancelled := 0
	for _, id := range ids {
		task := apiCall(t, base, "GET", "/api/v1/tasks/"+id, crew.readKey, "").JSON(t)
		sum += int64(task["agent_minutes"].(float64))
		if task["status"] == "cancelled" {
			cancelled++
		}
	}
	if got := crew.usageMinutes(t, app); got != sum || sum < 15 {
		t.Fatalf("usage counts %d minutes, the tasks %d", got, sum)
	}
	var n int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action = 'task.cancel'", crew.ws.ID).
		Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	if n != cancelled {
		t.Fatalf("%d task.cancel events for %d cancelled tasks", n, cancelled)
	}
	t.Logf("%d of 15 tasks ended by a cancel", cancelled)
}

// TestTierRefusalLinksToRunningTasks: a downgrade refused for its running tasks links to them.
func TestTierRefusalLinksToRunningTasks(t *testing.T) {
	app := webtest.Start(t)
	crew := newTaskCrew(t, app, models.TierPro)
	crew.start(t, app)
	crew.start(t, app)
	c := app.Login(crew.owner.Email)
	c.Get("/w/" + crew.ws.Slug + "/settings")
	res := c.Follow(c.Post("/w/"+crew.ws.Slug+"/settings/tier", url.Values{"tier": {"free"}}))
	href, ok := res.Doc().Find(`[data-testid="tier-running-link"]`).Attr("href")
	if !ok || href != "/w/"+crew.ws.Slug+"/tasks?status=running" {
		t.Fatalf("refusal %d links to %q: %.300s", res.StatusCode, href, res.TestID("tier-refused"))
	}
}

// TestConcurrencyLimitLinksToRunningTasks: when the running tasks fill the tier's concurrency
// limit, the overview's notice and the usage page's warning link to them; below the limit the
// notice is not there.
func TestConcurrencyLimitLinksToRunningTasks(t *testing.T) {
	app := webtest.Start(t)
	crew := newTaskCrew(t, app, models.TierFree)
	slug := "/w/" + crew.ws.Slug
	want := slug + "/tasks?status=running"
	c := app.Login(crew.admin.Email)
	if c.Get(slug).Has("limit-notice-running") {
		t.Fatal("no task runs, yet the overview links to running tasks as a limit")
	}
	crew.start(t, app)
	if href, _ := c.Get(slug).Doc().Find(`[data-testid="limit-notice-running"]`).Attr("href"); href != want {
		t.Errorf("the overview's notice links to %q, want %q", href, want)
	}
	usage := c.Get(slug + "/usage").Doc()
	if href, _ := usage.Find(`[data-testid="warning-running"]`).Attr("href"); href != want {
		t.Errorf("the usage page's warning links to %q, want %q", href, want)
	}
	if n := usage.Find(`[data-testid="warning-running"]`).Length(); n != 1 {
		t.Errorf("%d running-task links on the usage page, want 1 (only the concurrent tasks' warning)", n)
	}
}
