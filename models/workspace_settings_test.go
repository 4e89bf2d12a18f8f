package models_test

import (
	"context"
	"errors"
	"testing"

	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

func TestRenameWorkspace(t *testing.T) {
	db := testdb.Get(t).App
	tm := newKeyTeam(t, db)
	rename := func(actor models.Actor, name string) error {
		return keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.RenameWorkspace(ctx, tn, actor, name)
			return err
		})
	}
	tests := []struct {
		name  string
		actor models.Actor
		to    string
		check func(error) bool
	}{
		{"admin", tm.actor(tm.admin), "Taken over", func(err error) bool { return errors.Is(err, models.ErrForbidden) }},
		{"empty", tm.actor(tm.owner), "   ", func(err error) bool {
			var ve *models.ValidationError
			return errors.As(err, &ve) && ve.Fields["name"] != ""
		}},
		{"too long", tm.actor(tm.owner), string(make([]rune, 81)), func(err error) bool {
			var ve *models.ValidationError
			return errors.As(err, &ve)
		}},
		{"owner", tm.actor(tm.owner), "  Renamed <b>Co</b>  ", func(err error) bool { return err == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := rename(tt.actor, tt.to); !tt.check(err) {
				t.Fatalf("rename to %q as %s: %v", tt.to, tt.actor.Role, err)
			}
		})
	}
	var name string
	if err := testdb.Get(t).Owner.NewRaw("SELECT name FROM workspaces WHERE id = ?", tm.ws.ID).Scan(context.Background(), &name); err != nil {
		t.Fatal(err)
	}
	if name != "Renamed <b>Co</b>" {
		t.Fatalf("name is %q", name)
	}
	if n := auditCount(t, testdb.Get(t).Owner, tm.ws.ID, "workspace.rename"); n != 1 {
		t.Fatalf("%d rename events, want 1", n)
	}
}

// TestDeleteWorkspace: only an owner, only with the slug typed; then every row of the workspace is
// gone, its audit log included, and a platform event remembers the deletion.
func TestDeleteWorkspace(t *testing.T) {
	d := testdb.Get(t)
	db := d.App
	tm := newKeyTeam(t, db)
	putUsage(t, db, tm.ws.ID, testdb.Now(t), 5, 7)
	del := func(actor models.Actor, confirm string) error {
		return keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.DeleteWorkspace(ctx, tn, actor, confirm)
			return err
		})
	}
	if err := del(tm.actor(tm.admin), tm.ws.Slug); !errors.Is(err, models.ErrForbidden) {
		t.Fatalf("admin: %v, want ErrForbidden", err)
	}
	for _, typed := range []string{"", "yes", tm.ws.Name, tm.ws.Slug + "x"} {
		var ve *models.ValidationError
		if err := del(tm.actor(tm.owner), typed); !errors.As(err, &ve) || ve.Fields["confirm"] == "" {
			t.Fatalf("confirm %q: %v, want a validation error", typed, err)
		}
	}
	count := func(table string) int {
		var n int
		if err := d.Owner.NewRaw("SELECT count(*) FROM ? WHERE workspace_id = ?", bun.Ident(table), tm.ws.ID).Scan(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count("workspace_members") != 5 || count("usage_hourly") != 1 || count("usage_monthly") != 1 {
		t.Fatal("the workspace lost rows before it was deleted")
	}
	if err := del(tm.actor(tm.owner), " "+tm.ws.Slug+" "); err != nil {
		t.Fatalf("owner with the slug: %v", err)
	}
	var left int
	if err := d.Owner.NewRaw("SELECT count(*) FROM workspaces WHERE id = ?", tm.ws.ID).Scan(context.Background(), &left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatal("the workspace row is still there")
	}
	for _, table := range []string{"workspace_members", "usage_hourly", "usage_monthly", "audit_events"} {
		if n := count(table); n != 0 {
			t.Errorf("%s keeps %d rows of the deleted workspace", table, n)
		}
	}
	var platform int
	err := d.Owner.NewRaw("SELECT count(*) FROM platform_events WHERE action = 'workspace.delete' AND target = ? AND actor_user_id = ? AND details->>'workspace_id' = ?",
		tm.ws.Slug, tm.owner.ID, tm.ws.ID.String()).Scan(context.Background(), &platform)
	if err != nil {
		t.Fatal(err)
	}
	if platform != 1 {
		t.Fatalf("%d platform events of the deletion, want 1", platform)
	}
}
