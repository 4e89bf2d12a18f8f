package models_test

import (
	"context"
	"errors"
	"testing"

	"atrium/models"
	"atrium/models/testdb"
)

func TestRenameWorkspace(t *testing.T) {
	db := testdb.Get(t).App
	tm := newKeyTeam(t, db)
	rename := func(actor models.Actor, name string) error {
		return keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.RenameWorkspace(ctx, tn, actor, name, testdb.Clock())
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
