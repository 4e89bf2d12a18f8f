package models_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/uptrace/bun/dialect/pgdialect"

	"atrium/models"
	"atrium/models/testdb"
)

// TestMemberCountFollowsEveryWrite: a workspace's kept member count equals its memberships after
// one added, several added in one statement, one removed, several removed in one statement, one
// moved to another workspace and the other workspace's deletion; the page statements read it
// (CurrentUsage, ReadMembersPage's total and seats); another workspace's transaction sees no row.
func TestMemberCountFollowsEveryWrite(t *testing.T) {
	d := testdb.Get(t)
	db := d.App
	now := testdb.Now(t)
	tm := newKeyTeam(t, db) // an owner and four members
	other := newKeyTeam(t, db)
	check := func(step string) {
		t.Helper()
		var bad []string
		err := d.Owner.NewRaw(`SELECT format('%s: kept %s, counted %s', w.id, c.members, (SELECT count(*) FROM workspace_members m WHERE m.workspace_id = w.id))
			FROM workspaces AS w LEFT JOIN workspace_member_counts AS c ON c.workspace_id = w.id
			WHERE w.id IN (?, ?) AND coalesce(c.members, 0) <> (SELECT count(*) FROM workspace_members m WHERE m.workspace_id = w.id)`,
			tm.ws.ID, other.ws.ID).Scan(context.Background(), &bad)
		if err != nil {
			t.Fatal(err)
		}
		if len(bad) > 0 {
			t.Fatalf("after %s: %v", step, bad)
		}
	}
	exec := func(step string, ws uuid.UUID, query string, args ...any) {
		t.Helper()
		if err := keyIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
			_, err := tn.Tx().ExecContext(ctx, query, args...)
			return err
		}); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		check(step)
	}
	check("the workspaces' creation")
	a, b, c := newUser(t, db), newUser(t, db), newUser(t, db)
	exec("one added", tm.ws.ID, `INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES (?, ?, 'member', ?)`, tm.ws.ID, a.ID, testdb.Clock())
	exec("two added at once", tm.ws.ID, `INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES (?0, ?1, 'viewer', ?3), (?0, ?2, 'viewer', ?3)`,
		tm.ws.ID, b.ID, c.ID, testdb.Clock())
	exec("one removed", tm.ws.ID, `DELETE FROM workspace_members WHERE workspace_id = ? AND user_id = ?`, tm.ws.ID, a.ID)
	exec("two removed at once", tm.ws.ID, `DELETE FROM workspace_members WHERE workspace_id = ? AND user_id IN (?, ?)`, tm.ws.ID, tm.max.ID, tm.viewr.ID)
	exec("a role changed", tm.ws.ID, `UPDATE workspace_members SET role = 'admin' WHERE workspace_id = ? AND user_id = ?`, tm.ws.ID, b.ID)
	// As the owner: the runtime role may not move a row out of its workspace.
	if _, err := d.Owner.ExecContext(context.Background(), `UPDATE workspace_members SET workspace_id = ? WHERE workspace_id = ? AND user_id = ?`,
		other.ws.ID, tm.ws.ID, c.ID); err != nil {
		t.Fatal(err)
	}
	check("a membership moved")

	want := int64(0)
	if err := d.Owner.NewRaw("SELECT count(*) FROM workspace_members WHERE workspace_id = ?", tm.ws.ID).Scan(context.Background(), &want); err != nil {
		t.Fatal(err)
	}
	err := keyIn(t, db, tm.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		u, err := models.CurrentUsage(ctx, tn, models.TierEnterprise, now)
		if err != nil {
			return err
		}
		if u.MemberCount != want {
			t.Errorf("CurrentUsage counts %d members, want %d", u.MemberCount, want)
		}
		p, err := models.ReadMembersPage(ctx, tn, tm.owner.ID, "", 1, now)
		if err != nil {
			return err
		}
		if int64(p.Listing.Total) != want || p.Seats != want || len(p.Listing.Members) != int(want) {
			t.Errorf("members page: total %d, seats %d, %d rows; want %d", p.Listing.Total, p.Seats, len(p.Listing.Members), want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var seen int
	if err := keyIn(t, db, other.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		return tn.Tx().QueryRowContext(ctx, "SELECT count(*) FROM workspace_member_counts WHERE workspace_id = ?", tm.ws.ID).Scan(&seen)
	}); err != nil || seen != 0 {
		t.Fatalf("another workspace sees %d of this one's count rows (%v)", seen, err)
	}

	// A workspace's deletion takes its memberships and its count with it.
	if _, err := d.Owner.ExecContext(context.Background(), `DELETE FROM workspaces WHERE id = ?`, other.ws.ID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := d.Owner.NewRaw("SELECT count(*) FROM workspace_member_counts WHERE workspace_id = ?", other.ws.ID).Scan(context.Background(), &left); err != nil || left != 0 {
		t.Fatalf("the deleted workspace's count row: %d (%v)", left, err)
	}
	check("the other workspace's deletion")
}

// TestSecondFactorUsersAgreesWithHasSecondFactor: the members page's one call for its rows
// (atrium_second_factor_users) answers, user by user, as atrium_has_second_factor does: for a user
// without a second factor, with an authenticator being set up, with one in use, with a passkey,
// and with both. If one of the two functions changes what counts, this fails until the other does.
func TestSecondFactorUsersAgreesWithHasSecondFactor(t *testing.T) {
	d := testdb.Get(t)
	ctx := context.Background()
	none, pending, totp, passkey, both := newUser(t, d.App), newUser(t, d.App), newUser(t, d.App), newUser(t, d.App), newUser(t, d.App)
	now := testdb.Now(t)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO user_totp (user_id, secret, created_at) VALUES (?, 'x', ?)`, []any{pending.ID, now}},
		{`INSERT INTO user_totp (user_id, secret, created_at, enabled_at) VALUES (?0, 'x', ?2, ?2), (?1, 'x', ?2, ?2)`, []any{totp.ID, both.ID, now}},
		{`INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at) VALUES (?, ?, ?, 'k', '{}', ?), (?, ?, ?, 'k', '{}', ?)`,
			[]any{uuid.New(), passkey.ID, uuid.NewString(), now, uuid.New(), both.ID, uuid.NewString(), now}},
	} {
		if _, err := d.Owner.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	users := []*models.User{none, pending, totp, passkey, both}
	ids := make([]uuid.UUID, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	var listed []uuid.UUID
	if err := d.App.NewRaw("SELECT atrium_second_factor_users(?::uuid[])", pgdialect.Array(ids)).Scan(ctx, &listed); err != nil {
		t.Fatal(err)
	}
	in := map[uuid.UUID]bool{}
	for _, id := range listed {
		in[id] = true
	}
	for i, u := range users {
		var one bool
		if err := d.App.NewRaw("SELECT atrium_has_second_factor(?)", u.ID).Scan(ctx, &one); err != nil {
			t.Fatal(err)
		}
		if one != in[u.ID] || one != (i >= 2) {
			t.Errorf("user %d: atrium_has_second_factor %v, in atrium_second_factor_users %v, want %v", i, one, in[u.ID], i >= 2)
		}
	}
}
