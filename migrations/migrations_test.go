package migrations_test

import (
	"context"
	"os"
	"slices"
	"testing"

	"github.com/uptrace/bun"

	"atrium/migrations"
	"atrium/models/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// exists reports whether the database has the relation or function named.
func exists(t *testing.T, db *bun.DB, query, name string) bool {
	t.Helper()
	var ok bool
	if err := db.NewRaw(query, name).Scan(context.Background(), &ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestRollbackAndMigrateAgain(t *testing.T) {
	ctx := context.Background()
	owner := testdb.Get(t).Owner
	const table = "SELECT to_regclass(?) IS NOT NULL"
	const function = "SELECT to_regprocedure(?) IS NOT NULL"

	applied, err := migrations.Migrate(ctx, owner)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second Migrate applied %v, %v; want nothing", applied, err)
	}
	names, err := migrations.Rollback(ctx, owner)
	if err != nil || len(names) == 0 {
		t.Fatalf("Rollback: %v, %v", names, err)
	}
	for _, n := range []string{"workspaces", "usage_monthly", "user_sessions"} {
		if exists(t, owner, table, n) {
			t.Errorf("table %s survived the rollback", n)
		}
	}
	if exists(t, owner, function, "atrium_member_workspace(text, uuid)") {
		t.Error("atrium_member_workspace survived the rollback")
	}
	again, err := migrations.Migrate(ctx, owner)
	if err != nil || !slices.Equal(again, names) {
		t.Fatalf("Migrate after Rollback applied %v, %v; want %v", again, err, names)
	}
	for _, n := range []string{"workspaces", "usage_monthly", "user_sessions"} {
		if !exists(t, owner, table, n) {
			t.Errorf("table %s missing after migrating again", n)
		}
	}
	var canWrite bool
	if err := owner.NewRaw("SELECT has_table_privilege('atrium_app', 'usage_monthly', 'INSERT')").Scan(ctx, &canWrite); err != nil || !canWrite {
		t.Errorf("atrium_app may not write usage_monthly after migrating again: %v", err)
	}
}
