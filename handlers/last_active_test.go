package handlers_test

import (
	"context"
	"strings"
	"testing"

	"atrium/handlers/webtest"
	"atrium/models"
)

// TestLastActiveIsPerWorkspace: a member's "last active" moves when they open this workspace, not
// when they work in another one (which is that workspace's business).
func TestLastActiveIsPerWorkspace(t *testing.T) {
	app := webtest.Start(t)
	owner := app.User(webtest.UniqueEmail("owner"))
	a := app.Workspace(owner, webtest.UniqueSlug("alpha"))
	app.SetTier(a, models.TierStarter)
	xEmail := webtest.UniqueEmail("xavier")
	x := app.User(xEmail)
	app.AddMember(a, x, models.RoleMember)
	b := app.Workspace(x, webtest.UniqueSlug("beta"))

	ownerClient := app.Login(owner.Email)
	lastActive := func() string {
		res := ownerClient.Get("/w/" + a.Slug + "/members")
		row := res.Doc().Find(`tr[data-email="` + xEmail + `"]`)
		if row.Length() != 1 {
			t.Fatalf("no row for %s", xEmail)
		}
		return strings.TrimSpace(row.Find(`td[data-label="Last active"]`).Text())
	}
	if got := lastActive(); got != "Never" {
		t.Fatalf("before any visit: %q", got)
	}
	xc := app.Login(xEmail)
	if res := xc.Get("/w/" + b.Slug); res.StatusCode != 200 {
		t.Fatalf("x opens their own workspace: %d", res.StatusCode)
	}
	if got := lastActive(); got != "Never" {
		t.Fatalf("activity in another workspace leaked into this one: %q", got)
	}
	if res := xc.Get("/w/" + a.Slug); res.StatusCode != 200 {
		t.Fatalf("x opens workspace a: %d", res.StatusCode)
	}
	if got := lastActive(); got != "just now" {
		t.Fatalf("after a visit: %q", got)
	}
	// A second visit within the minute writes nothing.
	var before, after string
	read := func(dst *string) {
		err := models.InWorkspace(context.Background(), app.DB.App, a.ID, func(ctx context.Context, tn *models.Tenant) error {
			return tn.Tx().NewSelect().Model((*models.Member)(nil)).ColumnExpr("last_seen_at::text").
				Where("user_id = ?", x.ID).Scan(ctx, dst)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	read(&before)
	xc.Get("/w/" + a.Slug + "/usage")
	read(&after)
	if before != after {
		t.Fatalf("last_seen_at moved within a minute: %s → %s", before, after)
	}
}
