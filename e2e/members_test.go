package e2e

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"atrium/handlers/webtest"
	"atrium/models"
)

// TestInviteSignUpRoleChangeRemove: an owner invites a new person; the person signs up through the
// link and lands in the workspace; the owner changes their role inline without the page
// navigating, then removes them, and the person's next request there is a 404.
func TestInviteSignUpRoleChangeRemove(t *testing.T) {
	app := webtest.Start(t)
	ownerEmail := webtest.UniqueEmail("e2e-owner")
	owner := app.User(ownerEmail)
	ws := app.Workspace(owner, webtest.UniqueSlug("team"))
	app.SetTier(ws, models.TierStarter)
	members := app.HTTP.URL + "/w/" + ws.Slug + "/members"
	guestEmail := webtest.UniqueEmail("e2e-guest")

	ownerTab := browser(t)
	login(t, ownerTab, app, ownerEmail)
	step(t, ownerTab, "invite the guest",
		chromedp.Navigate(members),
		chromedp.WaitVisible(chromedp.CSS(tid("invite-email"))),
		chromedp.SendKeys(chromedp.CSS(tid("invite-email")), guestEmail),
		chromedp.SetValue(chromedp.CSS(tid("invite-role")), "member"),
		click(tid("invite-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("invitation-url"))),
	)
	link := eval[string](t, ownerTab, `document.querySelector('[data-testid="invitation-url"]').value`)
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(u.Path, "/invitations/") {
		t.Fatalf("invitation link %q", link)
	}
	shot(t, ownerTab, "members-invited")

	// The guest has no account: a browser of their own signs up through the link.
	guestTab := browser(t)
	step(t, guestTab, "open the invitation",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(tid("invitation-signup"))),
	)
	if got := eval[string](t, guestTab, `document.querySelector('[data-testid="invitation-signup"] input[name="email"]').value`); got != guestEmail {
		t.Fatalf("sign-up email prefilled with %q", got)
	}
	step(t, guestTab, "sign up and accept",
		chromedp.SendKeys(chromedp.CSS(`[data-testid="invitation-signup"] input[name="name"]`), "Gina Guest"),
		chromedp.SendKeys(chromedp.CSS(`[data-testid="invitation-signup"] input[name="password"]`), webtest.Password),
		click(tid("signup-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("accept-invitation"))),
		click(tid("accept-invitation")),
		chromedp.WaitVisible(chromedp.CSS(tid("workspace-name"))),
	)
	if got := location(t, guestTab); got != "/w/"+ws.Slug {
		t.Fatalf("after accepting, the guest is at %s", got)
	}
	if got := text(t, guestTab, tid("role")); got != "Member" {
		t.Fatalf("the guest's role is %q", got)
	}

	// Role change in its dialog: the page must not navigate, so a marker set on window survives.
	row := fmt.Sprintf(`tr[data-email=%q]`, guestEmail)
	step(t, ownerTab, "open the members page",
		chromedp.Navigate(members),
		chromedp.WaitVisible(chromedp.CSS(row+" "+tid("role-open"))),
	)
	eval[bool](t, ownerTab, `window.__atriumMarker = "still here"; window.confirm = function(){ window.__nativeConfirm = true; return true }; true`)
	// The row's links have no ids: focus comes back to the link with the opener's href, in the row
	// as it was re-rendered.
	opener := row + " " + tid("role-open")
	step(t, ownerTab, "open the role dialog", click(row+" "+tid("role-open")))
	dialogOnTop(t, ownerTab, "role dialog")
	if n := eval[int](t, ownerTab, `document.querySelectorAll('#page-dialog input[name="role"]').length`); n != 4 {
		t.Fatalf("the role dialog offers %d roles", n)
	}
	escapeCloses(t, ownerTab, opener)
	step(t, ownerTab, "open it again and choose Viewer",
		click(row+" "+tid("role-open")),
	)
	dialogOnTop(t, ownerTab, "role dialog again")
	step(t, ownerTab, "save Viewer",
		click(`#page-dialog `+tid("role-choice-viewer")),
		click(`#page-dialog `+tid("role-save")),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-email=%q][data-role="viewer"] [data-testid="role-saved"]`, guestEmail))),
	)
	waitFor(t, ownerTab, "the role dialog closes", `!document.getElementById("page-dialog").open`)
	if got := eval[string](t, ownerTab, `window.__atriumMarker || ""`); got != "still here" {
		t.Fatal("the page navigated during the role change")
	}
	focusReturns(t, ownerTab, "after saving", opener)
	shot(t, ownerTab, "members-role-saved")
	step(t, guestTab, "the guest sees the new role", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(tid("role"))))
	if got := text(t, guestTab, tid("role")); got != "Viewer" {
		t.Fatalf("after the change the guest's role is %q", got)
	}

	// Removal is confirmed in the page's dialog, then the list reloads without the guest.
	step(t, ownerTab, "remove the guest", click(row+" "+tid("remove-member")))
	dialogOnTop(t, ownerTab, "remove dialog")
	step(t, ownerTab, "confirm the removal",
		click(`#page-dialog `+tid("confirm-submit")),
		chromedp.WaitVisible(chromedp.CSS(tid("flash"))),
		chromedp.WaitNotPresent(chromedp.CSS(row)),
	)
	if got := text(t, ownerTab, tid("flash")); !strings.Contains(got, "was removed") {
		t.Fatalf("flash after removal: %q", got)
	}
	if eval[bool](t, ownerTab, `!!window.__nativeConfirm`) {
		t.Error("a native confirm() was shown")
	}
	step(t, guestTab, "the guest's next request", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(tid("error-page"))))
	if got := text(t, guestTab, tid("error-page")); !strings.Contains(got, "404") {
		t.Fatalf("the removed guest sees %q", got)
	}
}

// TestRefusedRoleChangeShowsAtTheRow: while an owner has a co-owner's role dialog open, the
// co-owner makes them an admin; saving is then refused, and the row (not a banner off-screen)
// says why and shows the role the co-owner still has.
func TestRefusedRoleChangeShowsAtTheRow(t *testing.T) {
	app := webtest.Start(t)
	ownerEmail := webtest.UniqueEmail("e2e-refused")
	owner := app.User(ownerEmail)
	ws := app.Workspace(owner, webtest.UniqueSlug("refused"))
	app.SetTier(ws, models.TierPro)
	coEmail := webtest.UniqueEmail("e2e-co-owner")
	co := app.User(coEmail)
	app.AddMember(ws, co, models.RoleOwner)
	for i := 0; i < 12; i++ { // enough rows that the page scrolls
		app.AddMember(ws, app.User(webtest.UniqueEmail(fmt.Sprintf("e2e-filler-%02d", i))), models.RoleMember)
	}

	tab := browser(t)
	login(t, tab, app, ownerEmail)
	row := fmt.Sprintf(`tr[data-email=%q]`, coEmail)
	step(t, tab, "open the members page",
		chromedp.Navigate(app.HTTP.URL+"/w/"+ws.Slug+"/members"),
		chromedp.WaitVisible(chromedp.CSS(row+" "+tid("role-open"))),
	)
	step(t, tab, "open the co-owner's role dialog", click(row+" "+tid("role-open")))
	dialogOnTop(t, tab, "role dialog")
	step(t, tab, "choose Member", click(`#page-dialog `+tid("role-choice-member")))

	// Meanwhile the co-owner makes this owner an admin, who may not change an owner's role.
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		return models.ChangeRole(ctx, tn, models.Actor{UserID: co.ID, Role: models.RoleOwner}, owner.ID, models.RoleAdmin, app.Server.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	step(t, tab, "save",
		click(`#page-dialog `+tid("role-save")),
		chromedp.WaitVisible(chromedp.CSS(row+" "+tid("row-error"))),
	)
	waitFor(t, tab, "the dialog closes", `!document.getElementById("page-dialog").open`)
	if got := text(t, tab, row+" "+tid("row-error")); !strings.Contains(got, "Only an owner can change an owner's role") {
		t.Fatalf("the row says %q", got)
	}
	if got := text(t, tab, row+" "+tid("role-label")); got != "Owner" {
		t.Fatalf("after the refusal the row shows the role %q", got)
	}
	// The refusal is where the person is looking: inside the viewport.
	inView := eval[bool](t, tab, fmt.Sprintf(`(function(){var r=document.querySelector(%q).getBoundingClientRect();return r.top>=0&&r.bottom<=innerHeight&&r.height>0})()`, row+" "+tid("row-error")))
	if !inView {
		shot(t, tab, "failed-refusal-off-screen")
		t.Fatal("the refusal is outside the viewport")
	}
	shot(t, tab, "members-role-refused")
}
