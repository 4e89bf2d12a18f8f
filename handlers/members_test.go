package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

// crew is one person per role, logged in once; each test makes fresh workspaces for them.
type crew struct {
	app                                  *webtest.App
	owner, admin, member, viewer, target *models.User
	clients                              map[models.Role]*webtest.Client
}

func newCrew(t *testing.T, app *webtest.App) *crew {
	t.Helper()
	c := &crew{app: app, clients: map[models.Role]*webtest.Client{}}
	for _, role := range models.Roles {
		u := app.User(webtest.UniqueEmail(string(role)))
		c.clients[role] = app.Login(u.Email)
		switch role {
		case models.RoleOwner:
			c.owner = u
		case models.RoleAdmin:
			c.admin = u
		case models.RoleMember:
			c.member = u
		case models.RoleViewer:
			c.viewer = u
		}
	}
	c.target = app.User(webtest.UniqueEmail("target"))
	return c
}

// space is a workspace with the crew in their roles, a target member and one pending invitation.
type space struct {
	ws         *models.Workspace
	invitation *models.IssuedInvitation
}

func (c *crew) space(t *testing.T, tier models.Tier) *space {
	t.Helper()
	ws := c.app.Workspace(c.owner, webtest.UniqueSlug("crew"))
	c.app.SetTier(ws, tier)
	c.app.AddMember(ws, c.admin, models.RoleAdmin)
	c.app.AddMember(ws, c.member, models.RoleMember)
	c.app.AddMember(ws, c.viewer, models.RoleViewer)
	c.app.AddMember(ws, c.target, models.RoleMember)
	sp := &space{ws: ws}
	sp.invitation = inviteDirect(t, c.app, ws, c.owner, webtest.UniqueEmail("pending"), models.RoleViewer)
	return sp
}

// inviteDirect makes an invitation through the model, as owner.
func inviteDirect(t *testing.T, app *webtest.App, ws *models.Workspace, owner *models.User, email string, role models.Role) *models.IssuedInvitation {
	t.Helper()
	var inv *models.IssuedInvitation
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		var err error
		inv, err = models.CreateInvitation(ctx, tn, models.Actor{UserID: owner.ID, Role: models.RoleOwner}, email, role, testdb.Now(t))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

func roleIn(t *testing.T, app *webtest.App, ws *models.Workspace, u *models.User) models.Role {
	t.Helper()
	m, err := models.ResolveMembership(context.Background(), app.DB.App, ws.Slug, u.ID)
	if err != nil {
		return ""
	}
	return m.Role
}

// TestMembersAccessMatrix runs every members action as every role: allowed, 403, or (for the
// only owner leaving) 409.
func TestMembersAccessMatrix(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	type action struct {
		name   string
		method string
		path   func(sp *space) string
		form   url.Values
		want   map[models.Role]int // missing: 403
	}
	adminsOK := func(code int) map[models.Role]int {
		return map[models.Role]int{models.RoleOwner: code, models.RoleAdmin: code}
	}
	everyone := func(code int) map[models.Role]int {
		return map[models.Role]int{models.RoleOwner: code, models.RoleAdmin: code, models.RoleMember: code, models.RoleViewer: code}
	}
	base := func(sp *space) string { return "/w/" + sp.ws.Slug }
	actions := []action{
		{"list members", http.MethodGet, func(sp *space) string { return base(sp) + "/members" }, nil, everyone(200)},
		{"list invitations", http.MethodGet, func(sp *space) string { return base(sp) + "/invitations" }, nil, everyone(200)},
		{"change a role", http.MethodPost, func(sp *space) string { return base(sp) + "/members/" + c.target.ID.String() + "/role" },
			url.Values{"role": {"viewer"}}, adminsOK(303)},
		{"remove a member", http.MethodPost, func(sp *space) string { return base(sp) + "/members/" + c.target.ID.String() + "/remove" },
			url.Values{"confirm": {"yes"}}, adminsOK(303)},
		{"transfer ownership", http.MethodPost, func(sp *space) string { return base(sp) + "/members/" + c.target.ID.String() + "/transfer" },
			url.Values{"password": {webtest.Password}}, map[models.Role]int{models.RoleOwner: 303}},
		{"leave", http.MethodPost, func(sp *space) string { return base(sp) + "/leave" }, url.Values{"confirm": {"yes"}},
			map[models.Role]int{models.RoleOwner: 409, models.RoleAdmin: 303, models.RoleMember: 303, models.RoleViewer: 303}},
		{"invite", http.MethodPost, func(sp *space) string { return base(sp) + "/invitations" },
			url.Values{"email": {"fresh@example.com"}, "role": {"member"}}, adminsOK(303)},
		{"resend an invitation", http.MethodPost, func(sp *space) string { return base(sp) + "/invitations/" + sp.invitation.ID.String() + "/resend" },
			nil, adminsOK(303)},
		{"ask before revoking an invitation", http.MethodGet, func(sp *space) string {
			return base(sp) + "/invitations/" + sp.invitation.ID.String() + "/revoke"
		}, nil, adminsOK(200)},
		{"role dialog", http.MethodGet, func(sp *space) string { return base(sp) + "/members/" + c.target.ID.String() + "/role" },
			nil, adminsOK(200)},
		{"ask before removing", http.MethodGet, func(sp *space) string { return base(sp) + "/members/" + c.target.ID.String() + "/remove" },
			nil, adminsOK(200)},
		{"transfer dialog", http.MethodGet, func(sp *space) string { return base(sp) + "/members/" + c.target.ID.String() + "/transfer" },
			nil, map[models.Role]int{models.RoleOwner: 200}},
		{"ask before leaving", http.MethodGet, func(sp *space) string { return base(sp) + "/leave" }, nil, everyone(200)},
		{"revoke an invitation", http.MethodPost, func(sp *space) string { return base(sp) + "/invitations/" + sp.invitation.ID.String() + "/revoke" },
			nil, adminsOK(303)},
	}
	for _, a := range actions {
		for _, role := range models.Roles {
			t.Run(a.name+" as "+string(role), func(t *testing.T) {
				sp := c.space(t, models.TierPro)
				cl := c.clients[role]
				var res *webtest.Response
				if a.method == http.MethodGet {
					res = cl.Get(a.path(sp))
				} else {
					form := url.Values{}
					for k, v := range a.form {
						form[k] = v
					}
					res = cl.Post(a.path(sp), form)
				}
				want, ok := a.want[role]
				if !ok {
					want = http.StatusForbidden
				}
				if res.StatusCode != want {
					t.Fatalf("%s %s as %s: %d, want %d", a.method, a.path(sp), role, res.StatusCode, want)
				}
			})
		}
	}
}

// TestMembersActionsOnAnotherWorkspacesIDs: ids of a workspace you don't belong to are 404 from
// inside your own workspace, for every action, even as its owner.
func TestMembersActionsOnAnotherWorkspacesIDs(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	mine := c.space(t, models.TierPro)
	stranger := app.User(webtest.UniqueEmail("stranger"))
	theirs := app.Workspace(stranger, webtest.UniqueSlug("theirs"))
	app.SetTier(theirs, models.TierPro)
	outsider := app.User(webtest.UniqueEmail("outsider"))
	app.AddMember(theirs, outsider, models.RoleMember)
	theirInv := inviteDirect(t, app, theirs, stranger, webtest.UniqueEmail("their-guest"), models.RoleMember)
	base := "/w/" + mine.ws.Slug
	for _, p := range []struct {
		path string
		form url.Values
	}{
		{base + "/members/" + outsider.ID.String() + "/role", url.Values{"role": {"viewer"}}},
		{base + "/members/" + outsider.ID.String() + "/remove", url.Values{"confirm": {"yes"}}},
		{base + "/members/" + outsider.ID.String() + "/remove", nil},
		{base + "/members/" + outsider.ID.String() + "/transfer", url.Values{"password": {webtest.Password}}},
		{base + "/invitations/" + theirInv.ID.String() + "/resend", nil},
		{base + "/invitations/" + theirInv.ID.String() + "/revoke", nil},
		{base + "/invitations/" + theirInv.ID.String() + "/revoke", url.Values{"confirm": {"yes"}}},
		{base + "/members/" + outsider.ID.String() + "/transfer", nil},
		{base + "/members/not-a-uuid/role", url.Values{"role": {"viewer"}}},
	} {
		res := c.clients[models.RoleOwner].Post(p.path, p.form)
		if res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == p.path {
			res = c.clients[models.RoleOwner].Get(p.path) // the page that asks first
		}
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: %d, want 404", p.path, res.StatusCode)
		}
	}
	if roleIn(t, app, theirs, outsider) != models.RoleMember {
		t.Fatal("the other workspace's member was touched")
	}
	var state *models.InvitationInfo
	state, err := models.InvitationByToken(context.Background(), app.DB.App, theirInv.Token)
	if err != nil || state.State(testdb.Now(t)) != models.InvitationPending {
		t.Fatalf("the other workspace's invitation was touched: %v", err)
	}
}

// TestInviteSignUpAndAccept: an owner invites a new address; the link leads an anonymous visitor
// through sign-up (the email filled in) back to the invitation, and accepting lands them in the
// workspace on a renewed session.
func TestInviteSignUpAndAccept(t *testing.T) {
	app := webtest.Start(t)
	ownerUser := app.User(webtest.UniqueEmail("inviter"))
	owner := app.Login(ownerUser.Email)
	ws := app.Workspace(ownerUser, webtest.UniqueSlug("invite"))
	app.SetTier(ws, models.TierStarter)
	guestEmail := webtest.UniqueEmail("guest")

	owner.Get("/w/" + ws.Slug + "/members")
	res := follow(t, owner, owner.Post("/w/"+ws.Slug+"/invitations", url.Values{"email": {strings.ToUpper(guestEmail)}, "role": {"admin"}}))
	if res.StatusCode != http.StatusOK || !res.Has("invitation-link") || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("invite: %d", res.StatusCode)
	}
	if again := owner.Get("/w/" + ws.Slug + "/members"); again.Has("invitation-link") {
		t.Fatal("the link is shown again on a reload")
	}
	link, _ := res.Doc().Find(`[data-testid="invitation-url"]`).Attr("value")
	u, err := url.Parse(link)
	if err != nil || !strings.HasPrefix(u.Path, "/invitations/") || u.Host != strings.TrimPrefix(app.HTTP.URL, "http://") {
		t.Fatalf("link %q", link)
	}
	if res.TestID("tab-invitations-count") != "1" {
		t.Fatalf("the Invitations tab counts %q pending", res.TestID("tab-invitations-count"))
	}
	if owner.Get("/w/"+ws.Slug+"/invitations").Doc().Find(`[data-testid="invitation-row"][data-email="`+guestEmail+`"]`).Length() != 1 {
		t.Fatal("the pending invitation is not listed")
	}
	if got := res.TestID("meter-seats-used"); got != "2" {
		t.Fatalf("seats used %q, want 2 (owner + pending)", got)
	}
	// The link is never kept: reloading the members page does not show it again.
	if owner.Get("/w/" + ws.Slug + "/members").Has("invitation-link") {
		t.Fatal("the link is shown twice")
	}

	guest := app.Client()
	page := guest.Get(u.Path)
	if page.StatusCode != http.StatusOK || page.TestID("invitation-workspace") != ws.Name || page.TestID("invitation-role") != "Admin" {
		t.Fatalf("invitation page: %d %q", page.StatusCode, page.TestID("invitation-workspace"))
	}
	if page.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", page.Header.Get("Cache-Control"))
	}
	form := page.Doc().Find(`[data-testid="invitation-signup"]`)
	if v := form.Find(`input[name="email"]`).AttrOr("value", ""); v != guestEmail {
		t.Fatalf("sign-up email prefilled with %q", v)
	}
	if v := form.Find(`input[name="next"]`).AttrOr("value", ""); v != u.Path {
		t.Fatalf("sign-up next %q", v)
	}
	if href := page.Doc().Find(`[data-testid="invitation-login"]`).AttrOr("href", ""); href != "/login?next="+url.QueryEscape(u.Path) {
		t.Fatalf("log-in link %q", href)
	}
	res = guest.Post("/signup", url.Values{"email": {guestEmail}, "name": {"Gina Guest"}, "password": {webtest.Password}, "next": {u.Path}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != u.Path {
		t.Fatalf("sign-up: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	page = guest.Get(u.Path)
	if !page.Has("accept-invitation") {
		t.Fatalf("no accept button for the invited account: %s", page.TestID("invitation-page"))
	}
	before := guest.Cookie()
	res = guest.Post(u.Path+"/accept", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/w/"+ws.Slug {
		t.Fatalf("accept: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if guest.Cookie() == before || guest.Cookie() == "" {
		t.Fatal("accepting did not renew the session token")
	}
	if res := guest.Get("/w/" + ws.Slug); res.StatusCode != http.StatusOK || res.TestID("role") != "Admin" {
		t.Fatalf("the new member's workspace: %d, role %q", res.StatusCode, res.TestID("role"))
	}
	// Single use.
	// Without JavaScript the refusal ends in a redirect to the invitation's page, which says why.
	if res := guest.Back(guest.Post(u.Path+"/accept", nil), u.Path); !strings.Contains(res.TestID("flash"), "already been used") {
		t.Fatalf("second accept: %d %q", res.StatusCode, res.TestID("flash"))
	}
	if page := guest.Get(u.Path); page.TestID("invitation-state") != "This invitation has already been used." || !page.Has("open-workspace") {
		t.Fatalf("used link page: %q", page.TestID("invitation-state"))
	}
	// Audited, with the IP.
	var ev models.AuditEvent
	err = models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		return tn.Tx().NewSelect().Model(&ev).Where("action = 'invitation.accept'").Scan(ctx)
	})
	if err != nil || ev.IP != "127.0.0.1" || ev.Target != guestEmail {
		t.Fatalf("audit: %+v %v", ev, err)
	}
}

// TestInvitationForAnotherAccount: a signed-in person with another email sees why they cannot
// accept, and the accept is refused with the same reason.
func TestInvitationForAnotherAccount(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	path := "/invitations/" + sp.invitation.Token
	cl := c.clients[models.RoleMember]
	page := cl.Get(path)
	if page.StatusCode != http.StatusForbidden || !strings.Contains(page.TestID("invitation-wrong-account"), sp.invitation.Email) {
		t.Fatalf("wrong account page: %d %q", page.StatusCode, page.TestID("invitation-wrong-account"))
	}
	if page.Has("accept-invitation") {
		t.Fatal("an accept button for the wrong account")
	}
	res := cl.Back(cl.Post(path+"/accept", nil), path)
	if !strings.Contains(res.TestID("flash"), sp.invitation.Email) {
		t.Fatalf("accept with the wrong account: %d %q", res.StatusCode, res.TestID("flash"))
	}
	if res := app.Client().Get("/invitations/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown token: %d", res.StatusCode)
	}
	// Anonymous accept goes to log in first.
	if res := app.Client().Post(path+"/accept", nil); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("anonymous accept: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// TestInlineRoleChangeAndRemoval: htmx changes a role and gets the row back; the change and a
// removal take effect on the person's very next request; the removed person's keys are revoked.
func TestInlineRoleChangeAndRemoval(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	base := "/w/" + sp.ws.Slug + "/members/" + c.member.ID.String()
	owner := c.clients[models.RoleOwner]
	owner.Get("/w/" + sp.ws.Slug + "/members")

	if res := c.clients[models.RoleMember].Get("/w/" + sp.ws.Slug + "/invitations"); res.StatusCode != http.StatusOK || res.Has("resend-invitation") {
		t.Fatalf("member before promotion: %d", res.StatusCode)
	}
	res := owner.HTMX(http.MethodPost, base+"/role", url.Values{"role": {"admin"}})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("htmx role change: %d %s", res.StatusCode, res.Body)
	}
	// A bare <tr> only parses inside a table, as htmx parses it too.
	frag, err := goquery.NewDocumentFromReader(strings.NewReader("<table>" + res.Body + "</table>"))
	if err != nil {
		t.Fatal(err)
	}
	row := frag.Find("tr#member-" + c.member.ID.String())
	if row.Length() != 1 || row.AttrOr("data-role", "") != "admin" || !res.Has("role-saved") || strings.Contains(res.Body, "<html") {
		t.Fatalf("fragment: %s", res.Body)
	}
	if got := strings.TrimSpace(row.Find(`[data-testid="role-label"]`).Text()); got != "Admin" {
		t.Fatalf("the re-rendered row shows the role %q", got)
	}
	if vary := strings.Join(res.Header.Values("Vary"), ", "); !strings.Contains(vary, "HX-Request") {
		t.Errorf("Vary %q", vary)
	}
	// The promotion holds on the member's next request: inviting is an admin's action.
	if res := c.clients[models.RoleMember].Post("/w/"+sp.ws.Slug+"/invitations", url.Values{"email": {"by-new-admin@example.com"}, "role": {"viewer"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("promoted member invites: %d", res.StatusCode)
	}
	// An admin cannot touch the owner, through the form or by crafting the request.
	admin := c.clients[models.RoleAdmin]
	ownerRow := admin.Get("/w/" + sp.ws.Slug + "/members").Doc().Find("tr#member-" + c.owner.ID.String())
	if ownerRow.Find(`[data-testid="role-open"]`).Length() != 0 || ownerRow.Find(`[data-testid="remove-member"]`).Length() != 0 {
		t.Fatal("an admin is offered to change or remove the owner")
	}
	if res := admin.HTMX(http.MethodPost, "/w/"+sp.ws.Slug+"/members/"+c.owner.ID.String()+"/role", url.Values{"role": {"viewer"}}); res.StatusCode != http.StatusForbidden || !strings.Contains(res.Body, "owner") {
		t.Fatalf("admin demotes owner: %d %q", res.StatusCode, res.Body)
	}

	// The member made an API key; removal revokes it.
	err = models.InWorkspace(context.Background(), app.DB.App, sp.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewInsert().Model(&models.APIKey{CreatedAt: testdb.Clock(), ID: models.NewID(), Name: "mine", Prefix: fmt.Sprintf("%08d", testdb.Now(t).UnixNano()%1e8),
			SecretHash: []byte("x"), Scope: "read", CreatedBy: &c.member.ID}).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Without the confirmation, a plain form post asks first and changes nothing.
	res = owner.Post(base+"/remove", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != base+"/remove" || roleIn(t, app, sp.ws, c.member) == "" {
		t.Fatalf("unconfirmed removal: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := owner.Get(base + "/remove"); !res.Has("confirm-page") || !strings.Contains(res.TestID("confirm-message"), "API keys") {
		t.Fatalf("removal confirmation page: %d", res.StatusCode)
	}
	res = owner.HTMX(http.MethodPost, base+"/remove", url.Values{"confirm": {"yes"}})
	if res.StatusCode != http.StatusOK || res.Header.Get("HX-Redirect") != "/w/"+sp.ws.Slug+"/members" {
		t.Fatalf("htmx removal: %d %q", res.StatusCode, res.Header.Get("HX-Redirect"))
	}
	if res := c.clients[models.RoleMember].Get("/w/" + sp.ws.Slug); res.StatusCode != http.StatusNotFound {
		t.Fatalf("removed member's next request: %d", res.StatusCode)
	}
	var live int
	err = models.InWorkspace(context.Background(), app.DB.App, sp.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		return tn.Tx().NewSelect().Model((*models.APIKey)(nil)).ColumnExpr("count(*)").
			Where("created_by = ? AND revoked_at IS NULL", c.member.ID).Scan(ctx, &live)
	})
	if err != nil || live != 0 {
		t.Fatalf("%d live keys of the removed member (%v)", live, err)
	}
	if owner.Get("/w/"+sp.ws.Slug+"/members").TestID("flash") != c.member.Name+" was removed from "+sp.ws.Name+"." {
		t.Error("no flash after removal")
	}
}

// TestTransferAndLeave: a wrong password re-renders with 422; the right one hands over; the old
// owner, now admin, may then leave.
func TestTransferAndLeave(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	owner := c.clients[models.RoleOwner]
	page := owner.Get("/w/" + sp.ws.Slug + "/members")
	if page.Doc().Find("tr#member-"+c.target.ID.String()+` a[data-dialog][data-testid="transfer-open"]`).Length() != 1 {
		t.Fatal("no transfer control for the owner")
	}
	// The only owner is told to hand over first, and is offered no way to demote themself.
	if !page.Has("leave-blocked") || page.Has("leave-workspace") || page.Doc().Find("tr#member-"+c.owner.ID.String()+` [data-testid="role-open"]`).Length() != 0 {
		t.Fatal("the only owner is offered to leave or to change their own role")
	}
	path := "/w/" + sp.ws.Slug + "/members/" + c.target.ID.String() + "/transfer"
	// A wrong password: the dialog (htmx) gets its panel again with the error; without
	// JavaScript the post redirects to the transfer page, which shows it once.
	res := owner.HTMX(http.MethodPost, path, url.Values{"password": {"wrong password here"}})
	if res.StatusCode != http.StatusUnprocessableEntity || res.TestID("error-password") != "That is not your password." ||
		!strings.HasPrefix(strings.TrimSpace(res.Body), `<div id="transfer-panel"`) {
		t.Fatalf("wrong password (htmx): %d %q", res.StatusCode, res.TestID("error-password"))
	}
	res = follow(t, owner, owner.Post(path, url.Values{"password": {"wrong password here"}}))
	if res.TestID("error-password") != "That is not your password." || owner.Get(path).Has("error-password") {
		t.Fatalf("wrong password: %d %q", res.StatusCode, res.TestID("error-password"))
	}
	before := owner.Cookie()
	res = owner.Post(path, url.Values{"password": {webtest.Password}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("transfer: %d", res.StatusCode)
	}
	if owner.Cookie() == before {
		t.Error("transfer did not renew the session token")
	}
	if roleIn(t, app, sp.ws, c.target) != models.RoleOwner || roleIn(t, app, sp.ws, c.owner) != models.RoleAdmin {
		t.Fatal("roles after transfer")
	}
	// Leaving without JavaScript asks first.
	owner.Get("/w/" + sp.ws.Slug + "/members")
	if res := follow(t, owner, owner.Post("/w/"+sp.ws.Slug+"/leave", nil)); !res.Has("confirm-page") {
		t.Fatalf("unconfirmed leave: %d", res.StatusCode)
	}
	if res := owner.Post("/w/"+sp.ws.Slug+"/leave", url.Values{"confirm": {"yes"}}); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/workspaces" {
		t.Fatalf("leave: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res := owner.Get("/w/" + sp.ws.Slug + "/members"); res.StatusCode != http.StatusNotFound {
		t.Fatalf("after leaving: %d", res.StatusCode)
	}
}

// TestInviteLimitAndValidation: the tier's member limit counts pending invitations and the form
// says so; a bad email comes back in the form after a redirect.
func TestInviteLimitAndValidation(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	ws := app.Workspace(c.owner, webtest.UniqueSlug("free"))
	owner := c.clients[models.RoleOwner]
	owner.Get("/w/" + ws.Slug + "/members")
	res := owner.Follow(owner.Post("/w/"+ws.Slug+"/invitations", url.Values{"email": {"nobody"}, "role": {"member"}}))
	if !res.Has("error-email") {
		t.Fatalf("bad email: %d", res.StatusCode)
	}
	res = owner.Follow(owner.Post("/w/"+ws.Slug+"/invitations", url.Values{"email": {"second@example.com"}, "role": {"member"}}))
	if !strings.Contains(res.TestID("error-email"), "Free tier allows 1 member,") {
		t.Fatalf("over the free tier: %d %q", res.StatusCode, res.TestID("error-email"))
	}
	if v := res.Doc().Find(`[data-testid="invite-email"]`).AttrOr("value", ""); v != "second@example.com" {
		t.Fatalf("the form lost the email: %q", v)
	}
}

// TestMembersSearchAndPages: more than 50 members page; the search filters; htmx gets the table alone.
func TestMembersSearchAndPages(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	ws := app.Workspace(c.owner, webtest.UniqueSlug("big"))
	app.SetTier(ws, models.TierEnterprise)
	err := models.InWorkspace(context.Background(), app.DB.App, ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for i := range 64 {
			u := &models.User{CreatedAt: testdb.Clock(), ID: models.NewID(), Email: fmt.Sprintf("crowd%02d-%s@example.com", i, ws.Slug), Name: fmt.Sprintf("Crowd %02d", i), PasswordHash: "x"}
			if _, err := tn.Tx().NewInsert().Model(u).Exec(ctx); err != nil {
				return err
			}
			if _, err := tn.Tx().NewInsert().Model(&models.Member{CreatedAt: testdb.Clock(), UserID: u.ID, Role: models.RoleViewer}).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	owner := c.clients[models.RoleOwner]
	base := "/w/" + ws.Slug + "/members"
	res := owner.Get(base)
	if n := res.Doc().Find(`[data-testid="member-row"]`).Length(); n != 50 || !res.Has("page-next") {
		t.Fatalf("page 1: %d rows", n)
	}
	res = owner.Get(res.Doc().Find(`[data-testid="page-next"]`).AttrOr("href", ""))
	if n := res.Doc().Find(`[data-testid="member-row"]`).Length(); n != 15 || res.Has("page-next") || !res.Has("page-prev") {
		t.Fatalf("page 2: %d rows", n)
	}
	res = owner.HTMX(http.MethodGet, base+"?q=crowd+0", nil)
	if n := res.Doc().Find(`[data-testid="member-row"]`).Length(); n != 10 || strings.Contains(res.Body, "<html") {
		t.Fatalf("htmx search: %d rows", n)
	}
	res = owner.Get(base + "?q=zzz-nobody")
	if !res.Has("members-empty") {
		t.Fatal("no empty state for a search without matches")
	}
}

// TestRoleDialogAndRefusalAtTheRow: the role dialog lists the roles the viewer may give, each with
// what it allows, and no save-on-change select is left; a refused change answers the row with the
// refusal and the role the member still has (htmx swaps it in place), and without JavaScript it
// ends in a redirect with the refusal as the flash.
func TestRoleDialogAndRefusalAtTheRow(t *testing.T) {
	app := webtest.Start(t)
	c := newCrew(t, app)
	sp := c.space(t, models.TierPro)
	members := "/w/" + sp.ws.Slug + "/members"
	owner, admin := c.clients[models.RoleOwner], c.clients[models.RoleAdmin]

	page := owner.Get(members)
	row := page.Doc().Find("tr#member-" + c.target.ID.String())
	if page.Doc().Find(`tr select[name="role"]`).Length() != 0 || page.Doc().Find(`[hx-trigger="change"]`).Length() != 0 {
		t.Fatal("a role select that saves on change is still on the page")
	}
	href := row.Find(`a[data-dialog][data-testid="role-open"]`).AttrOr("href", "")
	if href != members+"/"+c.target.ID.String()+"/role" || !page.Has("page-dialog") {
		t.Fatalf("role link %q, dialog %v", href, page.Has("page-dialog"))
	}
	panel := owner.HTMX(http.MethodGet, href, nil)
	choices := panel.Doc().Find(`[data-testid="role-form"] input[type="radio"][name="role"]`)
	if panel.StatusCode != 200 || strings.Contains(panel.Body, "<html") || choices.Length() != 4 {
		t.Fatalf("role dialog: %d, %d choices", panel.StatusCode, choices.Length())
	}
	if checked := panel.Doc().Find(`input[name="role"][checked]`).AttrOr("value", ""); checked != "member" {
		t.Fatalf("the current role checked: %q", checked)
	}
	for _, want := range []string{"Invites people, changes roles", "makes no keys"} {
		if !strings.Contains(panel.Body, want) {
			t.Errorf("the dialog does not describe the roles: no %q", want)
		}
	}
	if tgt := panel.Doc().Find(`[data-testid="role-form"]`).AttrOr("hx-target", ""); tgt != "#member-"+c.target.ID.String() {
		t.Fatalf("the dialog's form answers into %q", tgt)
	}
	// An admin is offered no owner role; without JavaScript the same choice is a page.
	if p := admin.Get(href); p.StatusCode != 200 || !p.Has("panel-page") || p.Doc().Find(`input[value="owner"]`).Length() != 0 ||
		p.Doc().Find(`[data-testid="role-form"][hx-post]`).Length() != 0 {
		t.Fatalf("the admin's role page: %d", p.StatusCode)
	}

	// The target becomes an owner; then the admin's change of their role is refused at the row.
	if res := owner.HTMX(http.MethodPost, href, url.Values{"role": {"owner"}}); res.StatusCode != 200 {
		t.Fatalf("make owner: %d", res.StatusCode)
	}
	admin.Get(members)
	res := admin.HTMX(http.MethodPost, href, url.Values{"role": {"viewer"}})
	frag, err := goquery.NewDocumentFromReader(strings.NewReader("<table>" + res.Body + "</table>"))
	if err != nil {
		t.Fatal(err)
	}
	refused := frag.Find("tr#member-" + c.target.ID.String())
	if res.StatusCode != http.StatusForbidden || res.Header.Get("X-Atrium-Swap") == "" || refused.Length() != 1 {
		t.Fatalf("refused change: %d %q %s", res.StatusCode, res.Header.Get("X-Atrium-Swap"), res.Body)
	}
	if got := strings.TrimSpace(refused.Find(`[data-testid="role-label"]`).Text()); got != "Owner" || refused.AttrOr("data-role", "") != "owner" {
		t.Fatalf("the refused row shows the role %q", got)
	}
	if got := refused.Find(`[data-testid="row-error"]`).Text(); !strings.Contains(got, "Only an owner can change an owner's role") {
		t.Fatalf("the refusal at the row: %q", got)
	}
	if roleIn(t, app, sp.ws, c.target) != models.RoleOwner {
		t.Fatal("the refused change happened")
	}
	// Without JavaScript: a redirect back to the list, which says why.
	res = follow(t, admin, admin.Post(href, url.Values{"role": {"viewer"}}))
	if !strings.Contains(res.TestID("flash"), "Only an owner can change an owner's role") {
		t.Fatalf("refusal without JavaScript: %q", res.TestID("flash"))
	}
	// The only owner demoting themself is refused at their row too (409), not by a page.
	ws2 := app.Workspace(c.owner, webtest.UniqueSlug("solo"))
	self := "/w/" + ws2.Slug + "/members/" + c.owner.ID.String() + "/role"
	owner.Get("/w/" + ws2.Slug + "/members")
	res = owner.HTMX(http.MethodPost, self, url.Values{"role": {"admin"}})
	if res.StatusCode != http.StatusConflict || !strings.Contains(res.Body, "only owner") || !strings.Contains(res.Body, `data-role="owner"`) {
		t.Fatalf("the only owner's demotion: %d %s", res.StatusCode, res.Body)
	}
}
