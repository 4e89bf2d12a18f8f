package e2e

import (
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

	// Inline role change: the page must not navigate, so a marker set on window survives.
	row := fmt.Sprintf(`tr[data-email=%q]`, guestEmail)
	step(t, ownerTab, "open the members page",
		chromedp.Navigate(members),
		chromedp.WaitVisible(chromedp.CSS(row+" "+tid("role-select"))),
	)
	eval[bool](t, ownerTab, `window.__atriumMarker = "still here"; true`)
	eval[bool](t, ownerTab, fmt.Sprintf(`(function(){
		var s = document.querySelector(%q);
		s.value = "viewer";
		s.dispatchEvent(new Event("change", {bubbles: true}));
		return true })()`, row+` select[name="role"]`))
	step(t, ownerTab, "wait for the saved row",
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`tr[data-email=%q][data-role="viewer"] [data-testid="role-saved"]`, guestEmail))),
	)
	if got := eval[string](t, ownerTab, `window.__atriumMarker || ""`); got != "still here" {
		t.Fatal("the page navigated during the inline role change")
	}
	shot(t, ownerTab, "members-role-saved")
	step(t, guestTab, "the guest sees the new role", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(tid("role"))))
	if got := text(t, guestTab, tid("role")); got != "Viewer" {
		t.Fatalf("after the change the guest's role is %q", got)
	}

	// Removal asks for confirmation (accepted here), then the list reloads without the guest.
	eval[bool](t, ownerTab, `window.confirm = function(){ return true }; true`)
	step(t, ownerTab, "remove the guest",
		click(row+" "+tid("remove-member")),
		chromedp.WaitVisible(chromedp.CSS(tid("flash"))),
		chromedp.WaitNotPresent(chromedp.CSS(row)),
	)
	if got := text(t, ownerTab, tid("flash")); !strings.Contains(got, "was removed") {
		t.Fatalf("flash after removal: %q", got)
	}
	step(t, guestTab, "the guest's next request", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(tid("error-page"))))
	if got := text(t, guestTab, tid("error-page")); !strings.Contains(got, "404") {
		t.Fatalf("the removed guest sees %q", got)
	}
}
