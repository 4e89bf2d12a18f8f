package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// apiJSON calls the JSON API with a key, as a program would, and decodes the answer.
func apiJSON(t *testing.T, app *webtest.App, method, path, token, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, app.HTTP.URL+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

// TestRunningTasksUpdateLiveAndCancelThroughTheDialog: an owner watches the task list while a
// program starts and finishes tasks; the list follows without a reload. Cancelling a running task
// asks in the page's dialog (Escape keeps it running), then ends it as cancelled, and the list
// stops refreshing once nothing runs.
func TestRunningTasksUpdateLiveAndCancelThroughTheDialog(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("e2e-tasks-owner"))
	ws := app.Workspace(owner, webtest.UniqueSlug("tasks"))
	app.SetTier(ws, models.TierStarter)
	var token string
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		_, token, err = models.CreateKey(ctx, tn, models.Actor{UserID: owner.ID, Role: models.RoleOwner},
			models.NewKey{Name: "nightly import", Scope: "read_write", ExpiresInDays: "30"}, testdb.Now(t))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	_, agent := apiJSON(t, app, "POST", "/api/v1/agents", token, `{"name": "Invoice reader"}`)
	start := func() string {
		st, task := apiJSON(t, app, "POST", "/api/v1/tasks", token, fmt.Sprintf(`{"agent_id": %q, "input": "read"}`, agent["id"]))
		if st != 201 {
			t.Fatalf("start: %d %v", st, task)
		}
		return task["id"].(string)
	}
	first := start()
	row := func(id string) string { return fmt.Sprintf(`[data-testid="task-row"][data-id="%s"]`, id) }
	statusIs := func(id, status string) string {
		return fmt.Sprintf(`(function(){var r=document.querySelector(%q);return !!r&&r.getAttribute("data-status")===%q})()`, row(id), status)
	}

	tab := browser(t)
	login(t, tab, app, owner.Email)
	step(t, tab, "open the tasks from the overview's running count",
		chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug),
		click(tid("link-running")),
		chromedp.WaitVisible(chromedp.CSS(row(first))),
	)
	if got := eval[string](t, tab, `location.pathname + location.search`); got != "/w/"+ws.Slug+"/tasks?status=running" {
		t.Fatalf("the running count opened %s", got)
	}
	step(t, tab, "open all tasks", chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/tasks"), chromedp.WaitVisible(chromedp.CSS(row(first))))
	eval[bool](t, tab, `window.__atriumMarker = "still here"; true`)

	second := start()
	waitFor(t, tab, "the new task to appear", fmt.Sprintf(`!!document.querySelector(%q)`, row(second)))
	if _, done := apiJSON(t, app, "POST", "/api/v1/tasks/"+first+"/complete", token, `{"status": "succeeded"}`); done["status"] != "succeeded" {
		t.Fatalf("complete: %v", done)
	}
	waitFor(t, tab, "the finished task to show succeeded", statusIs(first, "succeeded"))
	if got := eval[string](t, tab, `window.__atriumMarker || ""`); got != "still here" {
		t.Fatal("the page reloaded instead of updating the list")
	}
	shot(t, tab, "tasks-live")

	cancelBtn := row(second) + ` [data-testid="cancel-task"]`
	step(t, tab, "open the cancel dialog", click(cancelBtn), chromedp.WaitVisible(chromedp.CSS(tid("cancel-dialog"))))
	inside := eval[bool](t, tab, `(function(){
		var d = document.querySelector('[data-testid="cancel-dialog"]');
		if (!d.open || !d.contains(document.activeElement)) return false;
		return Array.prototype.every.call(d.querySelectorAll("button"), function (b) {
			var r = b.getBoundingClientRect();
			return r.width > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth;
		});
	})()`)
	if !inside {
		t.Fatal("the dialog is not open with focus and its buttons inside the viewport")
	}
	step(t, tab, "Escape keeps the task running", chromedp.KeyEvent(kb.Escape))
	waitFor(t, tab, "the dialog to close", `!document.querySelector('[data-testid="cancel-dialog"]').open`)
	if st, task := apiJSON(t, app, "GET", "/api/v1/tasks/"+second, token, ""); st != 200 || task["status"] != "running" {
		t.Fatalf("after Escape the task is %v", task["status"])
	}
	step(t, tab, "cancel it through the dialog",
		click(cancelBtn),
		chromedp.WaitVisible(chromedp.CSS(tid("cancel-dialog"))),
		click(tid("cancel-confirm")),
	)
	waitFor(t, tab, "the flash and the cancelled task", `(function(){var f=document.querySelector('[data-testid="flash"]');return !!f&&f.textContent.indexOf("is cancelled")>=0})()`)
	waitFor(t, tab, "the task to show cancelled", statusIs(second, "cancelled"))
	if st, task := apiJSON(t, app, "GET", "/api/v1/tasks/"+second, token, ""); st != 200 || task["status"] != "cancelled" {
		t.Fatalf("the API says %v", task["status"])
	}
	if live := eval[bool](t, tab, `document.getElementById("task-list").hasAttribute("hx-trigger")`); live {
		t.Fatal("the list still refreshes itself with nothing running")
	}
	// The slot is free: a new task starts and the task page shows it live.
	third := start()
	step(t, tab, "open the new task's page", chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/tasks/"+third), chromedp.WaitVisible(chromedp.CSS(tid("task-panel"))))
	apiJSON(t, app, "POST", "/api/v1/tasks/"+third+"/messages", token, `{"role": "assistant", "body": "Three invoices are late."}`)
	waitFor(t, tab, "the message to appear", `(function(){var m=document.querySelector('[data-testid="message-body"]');return !!m&&m.textContent==="Three invoices are late."})()`)
	shot(t, tab, "task-live")
}
