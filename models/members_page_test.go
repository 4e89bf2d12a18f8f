package models_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

// TestReadMembersPageIsTheReadsItReplaces: the members page's one statement gives what the
// separate reads give: the listing (search and page included), the owners, the viewer's own
// membership, the seats and the pending invitations with their inviters' names.
func TestReadMembersPageIsTheReadsItReplaces(t *testing.T) {
	db := testdb.Get(t).App
	ctx := context.Background()
	f := newFixture(t, db) // its owner, and a pending invitation
	now := testdb.Now(t)
	tag := uuid.NewString()[:6]
	err := models.InWorkspace(ctx, db, f.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
		for i := range models.MemberPageSize + 7 {
			u := &models.User{ID: models.NewID(), Email: fmt.Sprintf("p%d-%s@example.com", i, tag), PasswordHash: "x", Name: fmt.Sprintf("Person %02d %s", i, tag)}
			if i%9 == 0 {
				u.Name = "" // shown by email
			}
			if _, err := tn.Tx().NewInsert().Model(u).Exec(ctx); err != nil {
				return err
			}
			role := []models.Role{models.RoleAdmin, models.RoleMember, models.RoleViewer, models.RoleOwner}[i%4]
			seen := now.Add(-time.Duration(i) * time.Hour)
			if _, err := tn.Tx().NewInsert().Model(&models.Member{UserID: u.ID, Role: role, LastSeenAt: &seen}).Exec(ctx); err != nil {
				return err
			}
		}
		inv := &models.Invitation{ID: models.NewID(), Email: "second@example.com", Role: models.RoleAdmin, TokenHash: uuid.NewString(),
			InvitedBy: &f.owner.ID, ExpiresAt: now.Add(-time.Hour)} // expired: listed, holds no seat
		_, err := tn.Tx().NewInsert().Model(inv).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		q    string
		page int
	}{{"", 1}, {"", 2}, {"", 99}, {"person 1", 1}, {tag, 0}, {"nobody-" + tag, 1}}
	for round := range 2 {
		if round == 1 {
			// The page's order comes from sort keys each membership keeps of its user: renaming users
			// must move them in the list at once, whichever workspace they belong to.
			var us []models.User
			if err := db.NewSelect().Model(&us).Where("email LIKE ?", "p%-"+tag+"@example.com").Order("email").Scan(ctx); err != nil {
				t.Fatal(err)
			}
			for i := range us {
				if err := models.RenameUser(ctx, db, &us[i], fmt.Sprintf("%c renamed %s", 'z'-rune(i%26), tag)); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, c := range cases {
			compareMembersPage(t, db, f, now, c.q, c.page, round)
		}
	}
}

// compareMembersPage checks ReadMembersPage against the separate reads it replaces.
func compareMembersPage(t *testing.T, db *bun.DB, f *fixture, now time.Time, q string, page, round int) {
	t.Helper()
	ctx := context.Background()
	c := struct {
		q    string
		page int
	}{q, page}
	{
		err := models.InWorkspace(ctx, db, f.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			got, err := models.ReadMembersPage(ctx, tn, f.owner.ID, c.q, c.page, now)
			if err != nil {
				return err
			}
			list, err := models.ListMembers(ctx, tn, c.q, c.page)
			if err != nil {
				return err
			}
			owners, err := models.CountOwners(ctx, tn)
			if err != nil {
				return err
			}
			self, err := models.MemberByUserID(ctx, tn, f.owner.ID)
			if err != nil {
				return err
			}
			seats, err := models.SeatsUsed(ctx, tn, now)
			if err != nil {
				return err
			}
			invs, err := models.PendingInvitations(ctx, tn)
			if err != nil {
				return err
			}
			names, err := models.InviterNames(ctx, tn, invs)
			if err != nil {
				return err
			}
			if got.Listing.Total != list.Total || got.Listing.Page != list.Page || got.Listing.Pages != list.Pages ||
				len(got.Listing.Members) != len(list.Members) || !reflect.DeepEqual(got.Listing.LastActive, list.LastActive) {
				return fmt.Errorf("listing %d/%d/%d (%d rows), want %d/%d/%d (%d rows)", got.Listing.Total, got.Listing.Page, got.Listing.Pages,
					len(got.Listing.Members), list.Total, list.Page, list.Pages, len(list.Members))
			}
			for i, m := range list.Members {
				g := got.Listing.Members[i]
				if g.UserID != m.UserID || g.Role != m.Role || g.User.DisplayName() != m.User.DisplayName() || g.User.Email != m.User.Email {
					return fmt.Errorf("row %d: %s %s %q, want %s %s %q", i, g.UserID, g.Role, g.User.DisplayName(), m.UserID, m.Role, m.User.DisplayName())
				}
			}
			if got.Owners != owners || got.Seats != seats || got.Self.UserID != self.UserID || got.Self.Role != self.Role {
				return fmt.Errorf("owners %d seats %d self %s, want %d %d %s", got.Owners, got.Seats, got.Self.Role, owners, seats, self.Role)
			}
			if len(got.Invitations) != len(invs) || !reflect.DeepEqual(got.InviterNames, names) || len(names) != 1 {
				return fmt.Errorf("invitations %d %v, want %d %v", len(got.Invitations), got.InviterNames, len(invs), names)
			}
			for i, inv := range invs {
				g := got.Invitations[i]
				if g.ID != inv.ID || g.Email != inv.Email || g.Role != inv.Role || g.State(now) != inv.State(now) || !g.ExpiresAt.Equal(inv.ExpiresAt) {
					return fmt.Errorf("invitation %d: %+v, want %+v", i, g, inv)
				}
			}
			return nil
		})
		if err != nil {
			t.Errorf("round %d: %q page %d: %v", round, c.q, c.page, err)
		}
	}
}
