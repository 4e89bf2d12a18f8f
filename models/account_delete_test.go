package models_test

import (
	"context"
	"testing"

	"atrium/models"
	"atrium/models/testdb"

	"github.com/google/uuid"
)

// TestEraseUserIsNarrow: the runtime role may call atrium_erase_user only for a user already
// without memberships and sessions, and may not call the scrubbing helper at all.
func TestEraseUserIsNarrow(t *testing.T) {
	ctx := context.Background()
	d := testdb.Get(t)
	tag := uuid.NewString()[:8] // the test runs again in the same database (-count)
	u, err := models.CreateUser(ctx, d.App, models.NewUser{Email: "erase-narrow-" + tag + "@example.com", Password: "correct horse battery staple"}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	ws, err := models.CreateWorkspace(ctx, d.App, u, "Erase", "erase-narrow-"+tag, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := d.App.NewRaw("SELECT atrium_erase_user(?)", u.ID).Scan(ctx, &n); err == nil {
		t.Fatal("atrium_erase_user erased a user who still belongs to a workspace")
	}
	if _, err := models.UserByID(ctx, d.App, u.ID); err != nil {
		t.Fatalf("the user is gone after a refused erase: %v", err)
	}
	var s string
	if err := d.App.NewRaw(`SELECT atrium_scrub_jsonb('{"a":"b"}', 'x', 'y', 'z', 'w')::text`).Scan(ctx, &s); err == nil {
		t.Fatal("the runtime role may call atrium_scrub_jsonb")
	}
	if _, err := d.App.NewRaw("UPDATE audit_events SET target = 'x' WHERE workspace_id = ? AND actor_user_id = ?", ws.ID, u.ID).Exec(ctx); err == nil {
		t.Fatal("the runtime role may update audit events")
	}
}

// TestDeleteAccountRefusalChangesNothing: the only owner of a shared workspace is refused, and the
// refusal leaves everything as it was, the workspace they are alone in included.
func TestDeleteAccountRefusalChangesNothing(t *testing.T) {
	ctx := context.Background()
	d := testdb.Get(t)
	pw := "correct horse battery staple"
	tag := uuid.NewString()[:8] // the test runs again in the same database (-count)
	a, _ := models.CreateUser(ctx, d.App, models.NewUser{Email: "del-a-" + tag + "@example.com", Password: pw}, testdb.Clock())
	b, _ := models.CreateUser(ctx, d.App, models.NewUser{Email: "del-b-" + tag + "@example.com", Password: pw}, testdb.Clock())
	alone, err := models.CreateWorkspace(ctx, d.App, a, "Alone", "del-alone-"+tag, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	shared, err := models.CreateWorkspace(ctx, d.App, a, "Shared", "del-shared-"+tag, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.NewRaw("UPDATE workspaces SET tier = 'pro' WHERE id = ?", shared.ID).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.NewRaw("INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)", shared.ID, b.ID, testdb.Clock()).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = models.DeleteAccount(ctx, d.App, a, models.AccountDeletion{Password: pw}, testdb.Now(t))
	blocked, ok := err.(*models.AccountDeletionBlocked)
	if !ok || len(blocked.Workspaces) != 1 || blocked.Workspaces[0].Slug != "del-shared-"+tag || blocked.Workspaces[0].Members != 2 {
		t.Fatalf("deleting the only owner of a shared workspace: %v", err)
	}
	taken, err := models.SlugTaken(ctx, d.App, alone.Slug)
	if err != nil || !taken {
		t.Fatalf("the refusal deleted the sole-member workspace: %v %v", taken, err)
	}
	if _, err := models.UserByID(ctx, d.App, a.ID); err != nil {
		t.Fatalf("the refusal deleted the user: %v", err)
	}
}
