package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// crowd adds n members to ws: every third a member, the rest viewers; member i joined i days
// ago and was last active i hours ago, except every fifth, never active.
func crowd(t *testing.T, app *webtest.App, ws *models.Workspace, n int) {
	t.Helper()
	now := testdb.Now(t)
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for i := range n {
			u := &models.User{CreatedAt: testdb.Clock(), ID: models.NewID(), Email: fmt.Sprintf("crowd%02d-%s@example.com", i, ws.Slug), Name: fmt.Sprintf("Crowd %02d", i), PasswordHash: "x"}
			if _, err := tn.Tx().NewInsert().Model(u).Exec(ctx); err != nil {
				return err
			}
			m := &models.Member{UserID: u.ID, Role: models.RoleViewer, CreatedAt: now.Add(-time.Duration(i+1) * 24 * time.Hour)}
			if i%3 == 0 {
				m.Role = models.RoleMember
			}
			if i%5 != 0 {
				seen := now.Add(-time.Duration(i+1) * time.Hour)
				m.LastSeenAt = &seen
			}
			if _, err := tn.Tx().NewInsert().Model(m).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// rowEmails lists the member rows' emails in order.
func rowEmails(res *webtest.Response) []string {
	var out []string
	res.Doc().Find(`[data-testid="member-row"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, s.AttrOr("data-email", ""))
	})
	return out
}

// TestMembersRoleFilterSortAndPageNumbers: the member list filters by role, sorts by name, role,
// date joined and last activity both ways, and numbers its pages with the shared pagination,
// whose links keep the search, the filter and the order; the column headers link to the orders;
// htmx gets the table alone; an unknown role or order is the default list.
func TestMembersRoleFilterSortAndPageNumbers(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	ws := app.Workspace(c.owner, webtest.UniqueSlug("sort"))
	app.SetTier(ws, models.TierEnterprise)
	crowd(t, app, ws, 120) // 40 members, 80 viewers
	owner := c.clients[models.RoleOwner]
	base := "/w/" + ws.Slug + "/members"
	crowdEmail := func(i int) string { return fmt.Sprintf("crowd%02d-%s@example.com", i, ws.Slug) }

	res := owner.Get(base + "?role=viewer")
	rows := res.Doc().Find(`[data-testid="member-row"]`)
	if rows.Length() != 50 || res.Doc().Find(`[data-testid="member-row"]:not([data-role="viewer"])`).Length() != 0 {
		t.Fatalf("viewers, page 1: %d rows, some not viewers", rows.Length())
	}
	if got := res.TestID("page-range"); got != "1–50 of 80 members" {
		t.Fatalf("range %q", got)
	}
	if v := res.Doc().Find(`#member-role option[selected]`).AttrOr("value", ""); v != "viewer" {
		t.Fatalf("the filter form shows role %q", v)
	}
	p2 := res.Doc().Find(`[data-testid="members-pagination"] [data-testid="page-2"]`).AttrOr("href", "")
	if p2 != base+"?page=2&role=viewer" {
		t.Fatalf("page 2 link %q", p2)
	}
	if res := owner.Get(p2); res.Doc().Find(`[data-testid="member-row"][data-role="viewer"]`).Length() != 30 || res.TestID("page-current") != "2" {
		t.Fatalf("viewers, page 2: %d rows", res.Doc().Find(`[data-testid="member-row"]`).Length())
	}
	if res := owner.Get(base + "?role=owner"); res.Doc().Find(`[data-testid="member-row"]`).Length() != 1 || res.Has("page-next") {
		t.Fatal("the owners filter")
	}

	// Joined: newest first, then the other way round; the page links and headers keep the order.
	res = owner.Get(base + "?sort=-joined&role=viewer")
	got := rowEmails(res)
	if got[0] != crowdEmail(1) || got[1] != crowdEmail(2) || got[2] != crowdEmail(4) {
		t.Fatalf("newest viewers first: %v", got[:3])
	}
	if h := res.Doc().Find(`[data-testid="page-2"]`).AttrOr("href", ""); h != base+"?page=2&role=viewer&sort=-joined" {
		t.Fatalf("page link loses the order: %q", h)
	}
	th := res.Doc().Find(`[data-testid="sort-joined"]`)
	if th.Parent().AttrOr("aria-sort", "") != "descending" || th.AttrOr("href", "") != base+"?role=viewer&sort=joined" {
		t.Fatalf("joined header: aria-sort %q, href %q", th.Parent().AttrOr("aria-sort", ""), th.AttrOr("href", ""))
	}
	if h := res.Doc().Find(`[data-testid="sort-name"]`).AttrOr("href", ""); h != base+"?role=viewer&sort=name" {
		t.Fatalf("name header: %q", h)
	}
	// Viewers only: the owner joined when the workspace was made, on the database's clock, which
	// a test date (TEST_NOW) may put before or after the crowd's dates.
	res = owner.Get(base + "?sort=joined&role=viewer")
	if got := rowEmails(res); got[0] != crowdEmail(119) {
		t.Fatalf("oldest first: %v", got[:2])
	}

	// Last active: most recent first, never active last; the other way, never active first.
	res = owner.Get(base + "?sort=-active&role=member")
	if got := rowEmails(res); got[0] != crowdEmail(3) || got[1] != crowdEmail(6) || got[len(got)-1] != crowdEmail(0) {
		t.Fatalf("most recently active first, never active last: %v", got)
	}
	res = owner.Get(base + "?sort=active&role=member&page=9")
	got = rowEmails(res)
	if res.TestID("page-range") != "1–40 of 40 members" || len(got) != 40 || got[len(got)-1] != crowdEmail(3) {
		t.Fatalf("longest ago first (page 9 is the last, 1): %d rows, last %v", len(got), got[len(got)-1:])
	}
	for _, e := range got[:8] { // members never active: 0, 15, 30, …, 105: 8 of the 40
		var i int
		fmt.Sscanf(e, "crowd%02d", &i)
		if i%5 != 0 {
			t.Fatalf("never active come first: %v", got[:8])
		}
	}

	// Name both ways.
	if got := rowEmails(owner.Get(base + "?sort=-name&q=crowd")); got[0] != crowdEmail(99) || got[1] != crowdEmail(98) { // "Crowd 99" after "Crowd 119"
		t.Fatalf("Z to A: %v", got[:2])
	}
	if got := rowEmails(owner.Get(base + "?sort=name&q=crowd")); got[0] != crowdEmail(0) {
		t.Fatalf("A to Z: %v", got[:2])
	}
	// Role, viewers first.
	if res := owner.Get(base + "?sort=-role"); rowEmails(res)[0] == c.owner.Email ||
		res.Doc().Find(`[data-testid="member-row"]`).First().AttrOr("data-role", "") != "viewer" {
		t.Fatal("viewers first")
	}

	// htmx: the table alone, with the filter and order.
	res = owner.HTMX(http.MethodGet, base+"?role=member&sort=-joined", nil)
	if strings.Contains(res.Body, "<html") || res.Doc().Find(`[data-testid="member-row"]`).Length() != 40 ||
		res.Doc().Find(`#members-table[data-sort="-joined"][data-role-filter="member"]`).Length() != 1 {
		t.Fatalf("htmx filter: %d rows", res.Doc().Find(`[data-testid="member-row"]`).Length())
	}
	// Anything else is the default list.
	res = owner.Get(base + "?role=boss&sort=" + url.QueryEscape("m.role; DROP TABLE users"))
	if res.StatusCode != http.StatusOK || rowEmails(res)[0] != c.owner.Email || res.TestID("page-range") != "1–50 of 121 members" {
		t.Fatalf("unknown filter: %d %q", res.StatusCode, res.TestID("page-range"))
	}
	// An empty filter says so and offers the whole list.
	if res := owner.Get(base + "?role=admin"); !res.Has("members-empty") || !res.Has("members-clear") {
		t.Fatal("no admins: no empty state")
	}
}

// TestInvitationsTab: the invitations have a tab of their own, pending and expired apart with
// their counts; an expired one is resent without JavaScript (a redirect, then the new link shown
// once on the pending list), audited, with a new token and expiry; a refused resend says why on
// the list it came from.
func TestInvitationsTab(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro) // one pending invitation
	now := testdb.Now(t)
	old := inviteDirect(t, app, sp.ws, c.owner, webtest.UniqueEmail("late"), models.RoleMember)
	if _, err := app.DB.Owner.ExecContext(context.Background(), "UPDATE invitations SET expires_at = ?, created_at = ? WHERE id = ?",
		now.Add(-time.Hour), now.Add(-8*24*time.Hour), old.ID); err != nil {
		t.Fatal(err)
	}
	owner := c.clients[models.RoleOwner]
	base := "/w/" + sp.ws.Slug + "/invitations"

	members := owner.Get("/w/" + sp.ws.Slug + "/members")
	if members.TestID("tab-invitations-count") != "1" || members.TestID("tab-invitations-expired") != "1 expired" || members.Has("invitation-row") {
		t.Fatalf("members page tabs: %q %q", members.TestID("tab-invitations-count"), members.TestID("tab-invitations-expired"))
	}
	res := owner.Get(base)
	if n := res.Doc().Find(`[data-testid="invitation-row"]`).Length(); n != 1 || res.Has("invitation-expired") ||
		res.Doc().Find(`[data-testid="invitation-row"][data-email="`+sp.invitation.Email+`"]`).Length() != 1 {
		t.Fatalf("pending: %d rows", n)
	}
	if res.Doc().Find(`[data-testid="invitation-tab-pending"][aria-current="page"]`).Length() != 1 || res.TestID("page-range") != "1–1 of 1 invitations" {
		t.Fatalf("pending tab %q", res.TestID("page-range"))
	}
	res = owner.Get(base + "?status=expired")
	row := res.Doc().Find(`[data-testid="invitation-row"][data-email="` + old.Email + `"]`)
	if res.Doc().Find(`[data-testid="invitation-row"]`).Length() != 1 || row.Find(`[data-testid="invitation-expired"]`).Length() != 1 ||
		row.Find(`[data-testid="resend-invitation"]`).Length() != 1 {
		t.Fatal("the expired invitation is not listed apart, resendable")
	}
	if v := c.clients[models.RoleViewer].Get(base + "?status=expired"); v.StatusCode != 200 || v.Has("resend-invitation") || !v.Has("invitation-expired") {
		t.Fatal("a viewer sees the list without its actions")
	}

	// Resend without JavaScript: a redirect, then the link once, the invitation pending again.
	resend := owner.Post("/w/"+sp.ws.Slug+"/invitations/"+old.ID.String()+"/resend", url.Values{"from": {"expired"}})
	if resend.StatusCode != http.StatusSeeOther || resend.Header.Get("Location") != base {
		t.Fatalf("resend: %d %q", resend.StatusCode, resend.Header.Get("Location"))
	}
	res = owner.Get(base)
	if !res.Has("invitation-link") || res.Doc().Find(`[data-testid="invitation-row"]`).Length() != 2 || res.Has("invitation-expired") {
		t.Fatalf("after the resend: link %v, %d pending", res.Has("invitation-link"), res.Doc().Find(`[data-testid="invitation-row"]`).Length())
	}
	if owner.Get(base).Has("invitation-link") {
		t.Fatal("the link is shown twice")
	}
	var hash string
	var expires time.Time
	if err := app.DB.Owner.NewRaw("SELECT token_hash, expires_at FROM invitations WHERE id = ?", old.ID).Scan(context.Background(), &hash, &expires); err != nil {
		t.Fatal(err)
	}
	if hash == old.TokenHash || !expires.After(now.Add(6*24*time.Hour)) {
		t.Fatalf("resend kept the token or the expiry: %v", expires)
	}
	var events int
	if err := app.DB.Owner.NewRaw("SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action = 'invitation.resend' AND target = ?",
		sp.ws.ID, old.Email).Scan(context.Background(), &events); err != nil || events != 1 {
		t.Fatalf("%d invitation.resend events: %v", events, err)
	}
	if res := owner.Get(base + "?status=expired"); !res.Has("invitations-empty") {
		t.Fatal("the resent invitation is still listed as expired")
	}

	// A resend the seats refuse: back on the expired list, which says why.
	if _, err := app.DB.Owner.ExecContext(context.Background(), "UPDATE invitations SET expires_at = ? WHERE id = ?", now.Add(-time.Hour), old.ID); err != nil {
		t.Fatal(err)
	}
	app.SetTier(sp.ws, models.TierStarter) // 5 members, a pending invitation: over 3 already
	owner.Get(base + "?status=expired")
	refused := owner.Post("/w/"+sp.ws.Slug+"/invitations/"+old.ID.String()+"/resend", url.Values{"from": {"expired"}})
	if refused.StatusCode != http.StatusSeeOther || refused.Header.Get("Location") != base+"?status=expired" {
		t.Fatalf("refused resend: %d %q", refused.StatusCode, refused.Header.Get("Location"))
	}
	if res := owner.Get(base + "?status=expired"); !strings.Contains(res.TestID("flash"), "Starter tier allows 3 members") {
		t.Fatalf("refusal: %q", res.TestID("flash"))
	}
}
