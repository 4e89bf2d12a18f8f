package e2e

import (
	"context"
	"testing"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
)

// TestQuotaAlertsForm: at 1280×800 and at 390×844 an owner turns on the API-call alerts with a
// list of addresses; a threshold over 100 comes back with its message at the field, the typed
// values kept, nothing saved; corrected, it saves. The page never scrolls sideways, and every
// control is clicked only once it is visible and on top.
func TestQuotaAlertsForm(t *testing.T) {
	app := webtest.Start(t)
	owner, tab := ownerInBrowser(t, app, "e2e-alerts")
	for _, size := range []struct {
		w, h int64
		name string
	}{{1280, 800, "desktop"}, {390, 844, "phone"}} {
		t.Run(size.name, func(t *testing.T) {
			ws := app.Workspace(owner, webtest.UniqueSlug("alerts"))
			step(t, tab, "open Settings and follow the alerts link", chromedp.EmulateViewport(size.w, size.h),
				chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/settings"), click(tid("settings-alerts-link")))
			waitFor(t, tab, "the alerts page", `!!document.querySelector('[data-testid="alerts-form"]')`)
			if eval[bool](t, tab, `document.documentElement.scrollWidth > innerWidth`) {
				t.Fatal("the alerts page scrolls sideways")
			}
			th := `#f-api_calls-thresholds`
			step(t, tab, "turn on API-call alerts with a bad threshold and a list",
				click(tid("alert-enabled-api_calls")),
				click(th), clear(th), chromedp.SendKeys(chromedp.CSS(th), "80, 150"),
				click(tid("alert-recipients-api_calls-list")),
				click(`#f-api_calls-addresses`), chromedp.SendKeys(chromedp.CSS(`#f-api_calls-addresses`), "ops@example.com"),
				click(tid("alerts-submit")),
				chromedp.WaitVisible(chromedp.CSS(tid("error-api_calls-thresholds"))),
			)
			if got := text(t, tab, tid("error-api_calls-thresholds")); got == "" {
				t.Fatal("no message at the thresholds")
			}
			if got := eval[string](t, tab, `document.querySelector('`+th+`').value`); got != "80, 150" {
				t.Fatalf("the typed thresholds became %q", got)
			}
			if !eval[bool](t, tab, `document.querySelector('[data-testid="alert-enabled-api_calls"]').checked && document.querySelector('[data-testid="alert-recipients-api_calls-list"]').checked`) {
				t.Fatal("the ticked box or the chosen recipients were lost")
			}
			if got := eval[string](t, tab, `document.querySelector('#f-api_calls-addresses').value`); got != "ops@example.com" {
				t.Fatalf("the typed addresses became %q", got)
			}
			shot(t, tab, "alerts-error-"+size.name)
			step(t, tab, "correct and save",
				click(th), clear(th), chromedp.SendKeys(chromedp.CSS(th), "75, 100"),
				click(tid("alerts-submit")),
			)
			waitFor(t, tab, "the saved page", `document.body.innerText.includes("Quota alerts saved.")`)
			if got := eval[string](t, tab, `document.querySelector('`+th+`').value`); got != "75, 100" {
				t.Fatalf("saved thresholds read %q", got)
			}
			var n int
			if err := app.DB.Owner.NewRaw("SELECT count(*) FROM quota_alert_settings WHERE workspace_id = ? AND limit_kind = 'api_calls' AND enabled AND addresses = '{ops@example.com}'",
				ws.ID).Scan(context.Background(), &n); err != nil || n != 1 {
				t.Fatalf("stored settings: %d %v", n, err)
			}
			shot(t, tab, "alerts-saved-"+size.name)
		})
	}
}

// clear empties the field sel, as selecting its text and deleting it would.
func clear(sel string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Evaluate[bool](`(function(){ var e = document.querySelector(`+"`"+sel+"`"+`); e.value = ""; return true })()`)(ctx, tg)
		return chromedp.Void{}, err
	}
}
