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
	"atrium/models/testdb"
)

// TestSupportLooksAndTheOwnerSeesIt: a support person finds a workspace in the console and opens
// its usage; the owner's usage page draws the same numbers; the owner's audit log shows the look.
// It leaves output/usage.png (the owner's usage page) for a person to look at.
func TestSupportLooksAndTheOwnerSeesIt(t *testing.T) {
	app := webtest.Start(t)
	ownerEmail := webtest.UniqueEmail("e2e-owner")
	owner := app.User(ownerEmail)
	ws := app.Workspace(owner, webtest.UniqueSlug("robotics"))
	app.SetTier(ws, models.TierStarter)
	// Thirty days of hourly use with a daily rhythm, ending this hour.
	now := testdb.Now(t).UTC().Truncate(time.Hour)
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		var rows []models.UsageHour
		for h := range 30 * 24 {
			at := now.Add(-time.Duration(h) * time.Hour)
			calls := int64(40 + (at.Hour()*37+h*13)%400)
			if at.Hour() < 6 {
				calls /= 5
			}
			var minutes int64
			if h%5 == 0 {
				minutes = int64(5 + (h*7)%20)
			}
			rows = append(rows, models.UsageHour{Hour: at, APICalls: calls, AgentMinutes: minutes})
		}
		_, err := tn.Tx().NewInsert().Model(&rows).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	supportEmail := webtest.UniqueEmail("e2e-support")
	supUser, err := models.CreateUser(context.Background(), app.DB.App, models.NewUser{Email: supportEmail, Name: "Sam Support",
		Password: webtest.Password, StaffRole: models.StaffSupport}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	secret := app.EnableTwoFactor(supUser) // support staff always have a second factor

	sup := browser(t)
	loginTwoFactor(t, sup, app, supportEmail, secret)
	row := fmt.Sprintf(`[data-testid="support-row"][data-slug=%q]`, ws.Slug)
	step(t, sup, "search the workspace",
		chromedp.Navigate(app.HTTP.URL+"/support/workspaces"),
		chromedp.WaitVisible(chromedp.CSS(tid("support-mode"))),
		chromedp.SendKeys(chromedp.CSS(tid("support-q")), ws.Name),
		click(tid("support-search-submit")),
	)
	// The unfiltered list shows the row too: wait for the search's own page.
	waitFor(t, sup, "the search results", `new URLSearchParams(location.search).has("q") && document.readyState === "complete"`)
	step(t, sup, "see the row", chromedp.WaitVisible(chromedp.CSS(row)))
	if n := eval[int](t, sup, `document.querySelectorAll('[data-testid="support-row"]').length`); n != 1 {
		t.Fatalf("the search found %d workspaces", n)
	}
	step(t, sup, "open it: the reason form first",
		click(row+" "+tid("support-open")),
		chromedp.WaitVisible(chromedp.CSS(tid("support-reason-form"))),
	)
	if eval[bool](t, sup, `!!document.querySelector('[data-testid="meter-agent-minutes-used"]')`) {
		t.Fatal("the usage shows before a reason is given")
	}
	shot(t, sup, "support-reason")
	step(t, sup, "give a reason and a ticket",
		chromedp.SendKeys(chromedp.CSS(tid("support-reason")), "Customer asks why usage jumped"),
		chromedp.SendKeys(chromedp.CSS("#f-ticket"), "ZD-2024"),
		click(tid("support-reason-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("support-banner"))),
		chromedp.WaitVisible(chromedp.CSS(tid("chart-api-calls-svg"))),
	)
	if got := location(t, sup); got != "/support/workspaces/"+ws.Slug {
		t.Fatalf("support is at %s", got)
	}
	supportMinutes := text(t, sup, tid("meter-agent-minutes-used"))
	if supportMinutes == "" || supportMinutes == "0" {
		t.Fatalf("support sees %q agent-minutes", supportMinutes)
	}
	shot(t, sup, "support-usage")

	own := browser(t)
	login(t, own, app, ownerEmail)
	step(t, own, "the owner's usage page",
		chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/usage?range=30"),
		chromedp.WaitVisible(chromedp.CSS(tid("chart-agent-minutes-svg"))),
	)
	if got := text(t, own, tid("meter-agent-minutes-used")); got != supportMinutes {
		t.Fatalf("the owner sees %q agent-minutes, support saw %q", got, supportMinutes)
	}
	if n := eval[int](t, own, `document.querySelectorAll('[data-testid="chart-agent-minutes-bars"] > rect').length`); n != 30 {
		t.Fatalf("%d day bars", n)
	}
	shot(t, own, "usage")

	step(t, own, "the owner's audit log",
		chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/audit"),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-row"][data-action="support.view"]`)),
	)
	who := text(t, own, `[data-testid="audit-row"][data-action="support.view"] [data-testid="audit-actor"]`)
	said := text(t, own, `[data-testid="audit-row"][data-action="support.view"] [data-testid="audit-sentence"]`)
	if !strings.Contains(who, supportEmail) || !strings.Contains(said, "Atrium support") {
		t.Fatalf("the support view is shown as %q, by %q", said, who)
	}
	shot(t, own, "audit-support-view")
}
