package models_test

import (
	"context"
	"errors"
	"testing"

	"atrium/models"
	"atrium/models/testdb"
)

// TestLoadFrameIsTheLookupsInOneQuery: the frame's one query gives the user, the membership and the
// switcher's list exactly as UserByID, ResolveMembership and UserWorkspaces give them; a workspace
// the user is not in has no membership, like one that does not exist.
func TestLoadFrameIsTheLookupsInOneQuery(t *testing.T) {
	db := testdb.Get(t).App
	ctx := context.Background()
	a, b := newFixture(t, db), newFixture(t, db)

	f, err := models.LoadFrame(ctx, db, a.owner.ID, a.ws.Slug, true)
	if err != nil {
		t.Fatal(err)
	}
	want, err := models.ResolveMembership(ctx, db, a.ws.Slug, a.owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if f.User.ID != a.owner.ID || f.User.Email != a.owner.Email {
		t.Errorf("user %v, want %v", f.User, a.owner)
	}
	if f.Membership == nil || f.Membership.ID != want.ID || f.Membership.Role != want.Role || f.Membership.Tier != want.Tier ||
		f.Membership.Slug != want.Slug || f.Membership.Name != want.Name || (f.Membership.LastSeenAt == nil) != (want.LastSeenAt == nil) {
		t.Errorf("membership %+v, want %+v", f.Membership, want)
	}
	list, err := models.UserWorkspaces(ctx, db, a.owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Workspaces) != len(list) || len(list) != 1 || f.Workspaces[0].ID != list[0].ID || f.Workspaces[0].Role != list[0].Role ||
		!f.Workspaces[0].JoinedAt.Equal(list[0].JoinedAt) {
		t.Errorf("switcher %+v, want %+v", f.Workspaces, list)
	}

	// Another's workspace, and no workspace at all.
	f, err = models.LoadFrame(ctx, db, a.owner.ID, b.ws.Slug, false)
	if err != nil || f.Membership != nil || f.Workspaces != nil {
		t.Errorf("another's workspace: %+v, %v", f, err)
	}
	f, err = models.LoadFrame(ctx, db, a.owner.ID, "", true)
	if err != nil || f.Membership != nil || len(f.Workspaces) != 1 {
		t.Errorf("no workspace: %+v, %v", f, err)
	}
	if _, err := models.LoadFrame(ctx, db, models.NewID(), a.ws.Slug, true); !errors.Is(err, models.ErrNotFound) {
		t.Errorf("unknown user: %v", err)
	}
}
