package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"atrium/handlers"
	"atrium/handlers/webtest"
	"atrium/models"
	"atrium/models/testdb"
)

func deleteAccount(c *webtest.Client, password string, confirm bool) *webtest.Response {
	form := url.Values{"password": {password}}
	if confirm {
		form.Set("confirm", "yes")
	}
	c.Get("/account")
	return c.Post("/account/delete", form)
}

// countOwner counts rows as the table owner (past row-level security).
func countOwner(t *testing.T, app *webtest.App, query string, args ...any) int {
	t.Helper()
	var n int
	if err := app.DB.Owner.NewRaw(query, args...).Scan(context.Background(), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAccountDeletionRefusedForTheOnlyOwner: the only owner of a workspace with other members
// cannot delete their account; the page lists the workspace with a link to its members, and
// nothing changes. A wrong password and a missing confirmation are refused too.
func TestAccountDeletionRefusedForTheOnlyOwner(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("sole")
	c := app.Login(email)
	owner, _ := models.UserByEmail(context.Background(), app.DB.App, email)
	ws := app.Workspace(owner, webtest.UniqueSlug("sole"))
	app.SetTier(ws, models.TierStarter)
	app.AddMember(ws, app.User(webtest.UniqueEmail("other")), models.RoleMember)

	res := c.Get("/account")
	if !res.Has("sole-owner") || res.Doc().Find(`[data-testid="sole-owner-row"] a`).AttrOr("href", "") != "/w/"+ws.Slug+"/members" {
		t.Fatalf("the account page does not list the workspace to hand over: %q", res.TestID("sole-owner"))
	}
	if res := c.Follow(deleteAccount(c, webtest.Password, false)); !res.Has("error-confirm") {
		t.Fatalf("without the confirmation box: %d", res.StatusCode)
	}
	if res := c.Follow(deleteAccount(c, "wrong password here", true)); !res.Has("error-delete-password") {
		t.Fatalf("wrong password: %d", res.StatusCode)
	}
	res = c.Follow(deleteAccount(c, webtest.Password, true))
	if !strings.Contains(res.TestID("error-confirm"), ws.Name) || !res.Has("sole-owner-row") {
		t.Fatalf("only owner: %d %q", res.StatusCode, res.TestID("error-confirm"))
	}
	if _, err := models.UserByEmail(context.Background(), app.DB.App, email); err != nil {
		t.Fatalf("the account is gone after a refusal: %v", err)
	}
	if res := c.Get("/w/" + ws.Slug + "/members"); res.StatusCode != http.StatusOK {
		t.Fatalf("the owner lost the workspace or the session: %d", res.StatusCode)
	}
}

// TestAccountDeletion: the workspace the person was alone in goes, their membership elsewhere
// ends with their keys revoked, every session ends, and the audit events stay with the person's
// email, name and id gone from them.
func TestAccountDeletion(t *testing.T) {
	app := webtest.Start(t)
	email := webtest.UniqueEmail("leaver")
	c := app.Login(email)
	other := app.Login(email) // a second session of the same person
	me, _ := models.UserByEmail(context.Background(), app.DB.App, email)
	solo := app.Workspace(me, webtest.UniqueSlug("solo"))

	bossEmail := webtest.UniqueEmail("boss")
	boss := app.Login(bossEmail)
	bossUser, _ := models.UserByEmail(context.Background(), app.DB.App, bossEmail)
	shared := app.Workspace(bossUser, webtest.UniqueSlug("shared"))
	app.SetTier(shared, models.TierPro)
	app.AddMember(shared, me, models.RoleAdmin)
	// The co-owned workspace: another owner stays, so leaving it is fine.
	coOwned := app.Workspace(bossUser, webtest.UniqueSlug("coown"))
	app.SetTier(coOwned, models.TierPro)
	app.AddMember(coOwned, me, models.RoleOwner)

	_, token := createKey(t, c, shared.Slug, "my key", "read")
	if st := apiStatusOf(t, app, token); st != http.StatusOK {
		t.Fatalf("the key works before: %d", st)
	}
	if n := countOwner(t, app, "SELECT count(*) FROM audit_events WHERE actor_user_id = ?", me.ID); n < 2 {
		t.Fatalf("only %d events by the person before the deletion", n)
	}
	// A platform event naming the person everywhere it can.
	if err := models.RecordPlatform(context.Background(), app.DB.App, models.Event{At: testdb.Clock(), ActorUserID: me.ID, Action: "user.password_change",
		Target: email, Details: map[string]any{"user_id": me.ID.String(), "email": email}, IP: "192.0.2.7"}); err != nil {
		t.Fatal(err)
	}
	if n := countOwner(t, app, "SELECT count(*) FROM platform_events WHERE actor_user_id = ?", me.ID); n < 1 {
		t.Fatalf("only %d platform events by the person before the deletion", n)
	}

	// Other deletions in the same database have their anonymised line too: count this one's.
	deletions := func() int {
		return countOwner(t, app, "SELECT count(*) FROM platform_events WHERE action = 'user.delete' AND target = 'deleted user'")
	}
	deletionsBefore := deletions()
	res := deleteAccount(c, webtest.Password, true)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login" {
		t.Fatalf("delete: %d to %q: %s", res.StatusCode, res.Header.Get("Location"), res.TestID("error-confirm"))
	}
	if flash := c.Get("/login").TestID("flash"); !strings.Contains(flash, "deleted") || !strings.Contains(flash, solo.Name) {
		t.Errorf("flash after deletion: %q", flash)
	}
	// Both sessions are over.
	for i, cl := range []*webtest.Client{c, other} {
		if res := cl.Get("/account"); res.StatusCode != http.StatusSeeOther {
			t.Errorf("session %d still signed in: %d", i, res.StatusCode)
		}
	}
	if n := countOwner(t, app, "SELECT count(*) FROM user_sessions WHERE user_id = ?", me.ID); n != 0 {
		t.Errorf("%d sessions left", n)
	}
	// The account is gone; its email can sign up again.
	if _, err := models.UserByEmail(context.Background(), app.DB.App, email); err == nil {
		t.Fatal("the user row survived")
	}
	// The workspace they were alone in is deleted; the others stay, without them.
	if n := countOwner(t, app, "SELECT count(*) FROM workspaces WHERE id = ?", solo.ID); n != 0 {
		t.Error("the sole-member workspace survived")
	}
	if n := countOwner(t, app, "SELECT count(*) FROM workspaces WHERE id IN (?, ?)", shared.ID, coOwned.ID); n != 2 {
		t.Errorf("%d of the shared workspaces left, want 2", n)
	}
	if n := countOwner(t, app, "SELECT count(*) FROM workspace_members WHERE user_id = ?", me.ID); n != 0 {
		t.Errorf("%d memberships left", n)
	}
	// Their key is revoked and refused.
	if n := countOwner(t, app, "SELECT count(*) FROM api_keys WHERE workspace_id = ? AND revoked_at IS NULL", shared.ID); n != 0 {
		t.Errorf("%d keys still live", n)
	}
	if st := apiStatusOf(t, app, token); st != http.StatusUnauthorized {
		t.Errorf("the key after the deletion: %d, want 401", st)
	}
	// The audit events stay, and none names the person any more: not the workspaces' events, not
	// the platform's.
	if n := countOwner(t, app, "SELECT count(*) FROM "+everyEvent+" WHERE actor_user_id = ?", me.ID); n != 0 {
		t.Errorf("%d events still carry the person's id", n)
	}
	if n := countOwner(t, app, `SELECT count(*) FROM `+everyEvent+` WHERE strpos(lower(target), lower(?)) > 0
		OR strpos(lower(details::text), lower(?)) > 0 OR strpos(details::text, ?) > 0`, email, email, me.ID.String()); n != 0 {
		t.Errorf("%d events still name the person", n)
	}
	if n := countOwner(t, app, "SELECT count(*) FROM audit_events WHERE workspace_id = ? AND action IN ('api_key.create', 'member.leave') AND target <> ''", shared.ID); n != 2 {
		t.Errorf("%d of the shared workspace's key and leave events left, want 2", n)
	}
	if n := deletions() - deletionsBefore; n != 1 {
		t.Errorf("the deletion itself is recorded %d times, want once, anonymised", n)
	}
	audit := boss.Get("/w/" + shared.Slug + "/audit")
	if audit.StatusCode != http.StatusOK || !strings.Contains(audit.Body, "deleted user") || strings.Contains(audit.Body, email) {
		t.Fatalf("audit page: %d, shows deleted user %v, shows the email %v", audit.StatusCode,
			strings.Contains(audit.Body, "deleted user"), strings.Contains(audit.Body, email))
	}
	// The email is free again.
	if _, err := models.CreateUser(context.Background(), app.DB.App, models.NewUser{Email: email, Password: webtest.Password}, testdb.Clock()); err != nil {
		t.Fatalf("the email cannot sign up again: %v", err)
	}
}

func apiStatusOf(t *testing.T, app *webtest.App, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, app.HTTP.URL+"/api/v1/workspace", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := apiHTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// everyEvent is the workspaces' audit events and the platform's, as one table.
const everyEvent = `(SELECT actor_user_id, target, details FROM audit_events
	UNION ALL SELECT actor_user_id, target, details FROM platform_events) AS e`

// passkeyStepUpWith confirms c's session with k through the step-up ceremony.
func passkeyStepUpWith(t *testing.T, c *webtest.Client, k *softKey) {
	t.Helper()
	status, opts := postJSON(t, c, "/account/step-up/passkey/begin", nil)
	if status != http.StatusOK {
		t.Fatalf("step-up options: %d %s", status, opts)
	}
	if status, body := postJSON(t, c, "/account/step-up/passkey/finish", map[string]any{"credential": k.get(t, opts)}); status != http.StatusOK {
		t.Fatalf("step-up with the passkey: %d %s", status, body)
	}
}

// TestAccountDeletionAsksAPasskeyOnlyPersonForTheirPasskey: a person whose only second factor is
// a passkey is asked to confirm the deletion with it; the password alone (or a step-up older than
// the step-up window) deletes nothing, and after a passkey step-up the account is deleted.
func TestAccountDeletionAsksAPasskeyOnlyPersonForTheirPasskey(t *testing.T) {
	app := webtest.StartWith(t, handlers.Config{BaseURL: webtest.Localhost})
	clock := startClock(t, app)
	email := webtest.UniqueEmail("del-pk")
	c := app.Login(email)
	k := newSoftKey(t, app)
	if status, body := register(t, c, k, "Key"); status != http.StatusOK {
		t.Fatalf("register: %d %s", status, body)
	}
	exists := func() bool {
		_, err := models.UserByEmail(context.Background(), app.DB.App, email)
		return err == nil
	}
	res := c.Get("/account")
	if !res.Has("delete-passkey-stepup") || res.Has("delete-passkey-done") || res.Doc().Find(`#f-code`).Length() != 0 {
		t.Fatalf("the deletion form: passkey step-up offered %v, done %v, code asked %v",
			res.Has("delete-passkey-stepup"), res.Has("delete-passkey-done"), res.Doc().Find(`#f-code`).Length() != 0)
	}
	res = c.Follow(deleteAccount(c, webtest.Password, true))
	if !strings.Contains(res.TestID("error-delete-passkey"), "Confirm with your passkey") || !exists() {
		t.Fatalf("the password alone: %d %q, account still there %v", res.StatusCode, res.TestID("error-delete-passkey"), exists())
	}
	// A step-up older than the window counts no more.
	passkeyStepUpWith(t, c, k)
	clock.add(11 * time.Minute)
	if res := c.Follow(deleteAccount(c, webtest.Password, true)); !res.Has("error-delete-passkey") || !exists() {
		t.Fatalf("after a stale step-up: %d, account still there %v", res.StatusCode, exists())
	}
	passkeyStepUpWith(t, c, k)
	if res := c.Get("/account"); !res.Has("delete-passkey-done") || res.Has("delete-passkey-stepup") {
		t.Fatal("the deletion form does not say the passkey confirmed it")
	}
	// The step-up does not stand in for the password.
	if res := c.Follow(deleteAccount(c, "wrong password here", true)); !res.Has("error-delete-password") || !exists() {
		t.Fatalf("wrong password after the step-up: %d", res.StatusCode)
	}
	if res := deleteAccount(c, webtest.Password, true); res.StatusCode != http.StatusSeeOther || exists() {
		t.Fatalf("after the passkey step-up: %d, account still there %v", res.StatusCode, exists())
	}
}
