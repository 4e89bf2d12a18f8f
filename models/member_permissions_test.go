package models_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"atrium/models"
	"atrium/models/testdb"
)

var errUndo = errors.New("undo")

// TestMemberPermissionsAgreeWithTheModel: for every actor and target in a workspace with one
// owner and with two, what MemberPermissions answers (and the members page therefore offers) is
// exactly what ChangeRole, RemoveMember, LeaveWorkspace and TransferOwnership do. Each action runs
// in a transaction that is rolled back.
func TestMemberPermissionsAgreeWithTheModel(t *testing.T) {
	db := testdb.Get(t).App
	names := []string{"owner", "owner2", "admin", "member", "viewer"}
	for _, secondOwner := range []bool{false, true} {
		tm := newMemTeam(t, db, secondOwner)
		owners := 1
		if secondOwner {
			owners = 2
		}
		for _, an := range names {
			for _, tn := range names {
				if !secondOwner && (an == "owner2" || tn == "owner2") {
					continue
				}
				actor := models.Actor{UserID: tm.byName(an).ID, Role: memRoleOf(an)}
				targetID := tm.byName(tn).ID
				// run does one action in a rolled-back transaction and says how it ended.
				run := func(do func(ctx context.Context, tx *models.Tenant) (*models.Member, error)) (string, *models.Member) {
					var got error
					var target *models.Member
					err := memIn(t, db, tm.ws, func(ctx context.Context, tx *models.Tenant) error {
						var err error
						if target, err = models.MemberByUserID(ctx, tx, targetID); err != nil {
							return err
						}
						_, got = do(ctx, tx)
						return errUndo
					})
					if !errors.Is(err, errUndo) {
						t.Fatal(err)
					}
					return errKind(got), target
				}
				perms := func(target *models.Member) models.MemberPermissions {
					return models.MemberPermissions{Actor: actor, Target: target, Owners: owners}
				}
				label := an + " → " + tn
				if secondOwner {
					label += " (two owners)"
				}
				for _, to := range models.Roles {
					got, target := run(func(ctx context.Context, tx *models.Tenant) (*models.Member, error) {
						return nil, models.ChangeRole(ctx, tx, actor, targetID, to, testdb.Now(t))
					})
					if want := errKind(perms(target).ChangeRole(to)); got != want {
						t.Errorf("%s: ChangeRole to %s did %s, MemberPermissions says %s", label, to, got, want)
					}
				}
				got, target := run(func(ctx context.Context, tx *models.Tenant) (*models.Member, error) {
					if an == tn {
						return nil, models.LeaveWorkspace(ctx, tx, actor, testdb.Now(t))
					}
					return nil, models.RemoveMember(ctx, tx, actor, targetID, testdb.Now(t))
				})
				want := errKind(perms(target).Remove())
				if an == tn {
					want = errKind(perms(target).Leave())
				}
				if got != want {
					t.Errorf("%s: remove/leave did %s, MemberPermissions says %s", label, got, want)
				}
				got, target = run(func(ctx context.Context, tx *models.Tenant) (*models.Member, error) {
					return nil, models.TransferOwnership(ctx, tx, actor, targetID, memPassword, testdb.Now(t))
				})
				if want := errKind(perms(target).Transfer()); got != want {
					t.Errorf("%s: TransferOwnership did %s, MemberPermissions says %s", label, got, want)
				}
			}
		}
	}
}

// TestMemberRoleChoices: the roles the members page offers for each actor and target.
func TestMemberRoleChoices(t *testing.T) {
	all := []models.Role{models.RoleOwner, models.RoleAdmin, models.RoleMember, models.RoleViewer}
	noOwner := []models.Role{models.RoleAdmin, models.RoleMember, models.RoleViewer}
	cases := []struct {
		actor, target models.Role
		self          bool
		owners        int
		want          []models.Role
	}{
		{models.RoleOwner, models.RoleMember, false, 1, all},
		{models.RoleOwner, models.RoleOwner, true, 1, nil}, // the only owner keeps the role
		{models.RoleOwner, models.RoleOwner, false, 2, all},
		{models.RoleAdmin, models.RoleMember, false, 1, noOwner},
		{models.RoleAdmin, models.RoleAdmin, true, 1, noOwner},
		{models.RoleAdmin, models.RoleOwner, false, 2, nil},
		{models.RoleMember, models.RoleViewer, false, 1, nil},
		{models.RoleViewer, models.RoleViewer, true, 1, nil},
	}
	for _, c := range cases {
		me, other := models.NewID(), models.NewID()
		target := &models.Member{CreatedAt: testdb.Clock(), UserID: other, Role: c.target}
		if c.self {
			target.UserID = me
		}
		got := models.MemberPermissions{Actor: models.Actor{UserID: me, Role: c.actor}, Target: target, Owners: c.owners}.RoleChoices()
		if len(got) != len(c.want) {
			t.Errorf("%s on %s (self %v, %d owners): %v, want %v", c.actor, c.target, c.self, c.owners, got, c.want)
			continue
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s on %s (self %v, %d owners): %v, want %v", c.actor, c.target, c.self, c.owners, got, c.want)
				break
			}
		}
	}
}

// TestInvitationPermissionsAgreeWithTheModel: for every role, what InvitationPermissions answers
// (and the members page offers) is what CreateInvitation and RevokeInvitation do. Each try runs
// in a transaction that is rolled back.
func TestInvitationPermissionsAgreeWithTheModel(t *testing.T) {
	db := testdb.Get(t).App
	tm := newMemTeam(t, db, false)
	now := testdb.Now(t)
	owner := models.Actor{UserID: tm.owner.ID, Role: models.RoleOwner}
	for _, an := range []string{"owner", "admin", "member", "viewer"} {
		actor := models.Actor{UserID: tm.byName(an).ID, Role: memRoleOf(an)}
		perms := models.InvitationPermissions{Role: actor.Role}
		offered := perms.InviteRoles()
		for _, role := range models.Roles {
			var invited, revoked error
			var inv *models.IssuedInvitation
			err := memIn(t, db, tm.ws, func(ctx context.Context, tx *models.Tenant) error {
				_, invited = models.CreateInvitation(ctx, tx, actor, "perm-"+string(role)+"@example.com", role, now)
				var err error
				if inv, err = models.CreateInvitation(ctx, tx, owner, "other-"+string(role)+"@example.com", role, now); err != nil {
					return err
				}
				_, revoked = models.RevokeInvitation(ctx, tx, actor, inv.ID, now)
				return errUndo
			})
			if !errors.Is(err, errUndo) {
				t.Fatal(err)
			}
			if got, want := errKind(invited), errKind(perms.Invite(role)); got != want {
				t.Errorf("%s invites as %s: CreateInvitation did %s, InvitationPermissions says %s", an, role, got, want)
			}
			if isOffered := slices.Contains(offered, role); isOffered != (invited == nil) {
				t.Errorf("%s invites as %s: offered %v, CreateInvitation did %s", an, role, isOffered, errKind(invited))
			}
			if got, want := errKind(revoked), errKind(perms.Manage(inv.Invitation)); got != want {
				t.Errorf("%s revokes an invitation as %s: RevokeInvitation did %s, InvitationPermissions says %s", an, role, got, want)
			}
		}
	}
}
