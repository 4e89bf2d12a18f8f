package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
	"atrium/models"
)

// TestKeyWithControlsAndItsUsage: at 1280×800 and at 390×844, an owner creates a key in the
// dialog with an hourly limit and an allowlist (the controls fold open inside the dialog), a
// program uses it past its limit, the list shows the key's fences and calls, and the key's page
// shows its calls and refusals, its chart and its controls form, each visible and on top before
// it is clicked.
func TestKeyWithControlsAndItsUsage(t *testing.T) {
	app := webtest.Start(t)
	owner := webtest.UniqueEmail("e2e-kc-owner")
	ws := app.Workspace(app.User(owner), webtest.UniqueSlug("kc"))
	app.SetTier(ws, models.TierStarter)
	keys := app.HTTP.URL + "/w/" + ws.Slug + "/keys"
	tab := browser(t)
	login(t, tab, app, owner)
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			name := "edge " + size.name
			step(t, tab, "open the keys page", chromedp.EmulateViewport(size.w, size.h), chromedp.Navigate(keys),
				chromedp.WaitVisible(chromedp.CSS(tid("new-key-open"))))
			step(t, tab, "open the create dialog", click(tid("new-key-open")))
			dialogOnTop(t, tab, "create dialog")
			step(t, tab, "unfold the controls", click(`#page-dialog `+tid("key-controls-open")))
			step(t, tab, "fill the key in",
				chromedp.SendKeys(chromedp.CSS(`#page-dialog #f-name`), name),
				chromedp.SendKeys(chromedp.CSS(`#page-dialog #f-description`), "The edge proxy"),
				chromedp.SendKeys(chromedp.CSS(`#page-dialog #f-rate_limit_per_hour`), "3"),
				chromedp.SendKeys(chromedp.CSS(`#page-dialog #f-allowed_ips`), "127.0.0.1, ::1, 2001:db8::/32"),
			)
			// With its controls unfolded the form is taller than a phone's screen (and than 800 px
			// with every scope offered): the dialog scrolls, as a person would scroll it, to its
			// button, which must then be in view and on top.
			eval[bool](t, tab, `(function(){ document.querySelector('#page-dialog [data-testid="create-key"]').scrollIntoView({block: "center"}); return true })()`)
			step(t, tab, "create the key", click(`#page-dialog `+tid("create-key")), chromedp.WaitVisible(chromedp.CSS(tid("new-key-value"))))
			token := eval[string](t, tab, `document.querySelector('[data-testid="new-key-value"]').value`)
			var got []int
			for range 4 {
				got = append(got, apiStatus(t, app, token))
			}
			if fmt.Sprint(got) != "[200 200 200 429]" {
				t.Fatalf("calls with a limit of 3: %v", got)
			}
			// The meter writes a key's counts at most once a second; close it to write them now.
			if err := app.Server.Meter.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			row := `[data-testid="key-row"][data-prefix="` + token[:12] + `"]`
			step(t, tab, "reload the list", chromedp.Navigate(keys), chromedp.WaitVisible(chromedp.CSS(row)))
			if fences := eval[string](t, tab, `document.querySelector('`+row+` [data-testid="key-fences"]').innerText.replace(/\s+/g, " ").trim()`); fences != "3/hour · 3 allowed addresses" {
				t.Errorf("the row says %q", fences)
			}
			if calls := eval[string](t, tab, `document.querySelector('`+row+` [data-testid="key-calls-24h"]').innerText.trim()`); calls != "3" {
				t.Errorf("calls in 24 h: %q", calls)
			}
			step(t, tab, "open the key's page", click(row+` [data-testid="key-name"]`), chromedp.WaitVisible(chromedp.CSS(tid("key-page"))))
			for id, want := range map[string]string{"key-title": name, "key-page-calls": "3", "key-page-key-limited": "1", "key-page-ip-refused": "0"} {
				if got := strings.TrimSpace(text(t, tab, tid(id))); got != want {
					t.Errorf("%s: %q, want %q", id, got, want)
				}
			}
			// One drawing of the chart shows at this width, inside the page's width.
			if !eval[bool](t, tab, `(function(){
  var svgs = document.querySelectorAll('[data-testid="chart-key-calls"] svg');
  for (var i = 0; i < svgs.length; i++) { var r = svgs[i].getBoundingClientRect(); if (r.width > 0 && r.height > 0 && r.right <= innerWidth) return true; }
  return false })()`) {
				t.Error("no drawing of the calls chart is visible")
			}
			if eval[bool](t, tab, `document.documentElement.scrollWidth > innerWidth`) {
				t.Error("the key's page scrolls sideways")
			}
			shot(t, tab, "key-page-"+size.name)
			eval[bool](t, tab, `document.getElementById("f-rate_limit_per_hour").value = ""; true`)
			// The key's page is already showing: wait for the page the save leads back to, with its
			// message, not for the old page's elements.
			step(t, tab, "save other controls", click(tid("save-key-controls")))
			waitFor(t, tab, "the saved key's page", `(function(){ var f = document.querySelector('[data-testid="flash"]');
  return !!f && f.innerText.indexOf("Saved the controls") >= 0 && !!document.getElementById("f-rate_limit_per_hour") })()`)
			if v := eval[string](t, tab, `document.getElementById("f-rate_limit_per_hour").value`); v != "" {
				t.Errorf("after saving, the limit field says %q", v)
			}
			// Every server learns of the change through a notification, within a second.
			status := 0
			for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if status = apiStatus(t, app, token); status == 200 {
					break
				}
			}
			if status != 200 {
				t.Errorf("without its limit the key gets %d, 2 s after the change", status)
			}
		})
	}
}
