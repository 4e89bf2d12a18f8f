package models_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
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
			u := &models.User{CreatedAt: testdb.Clock(), ID: models.NewID(), Email: fmt.Sprintf("p%d-%s@example.com", i, tag), PasswordHash: "x", Name: fmt.Sprintf("Person %02d %s", i, tag)}
			if i%9 == 0 {
				u.Name = "" // shown by email
			}
			if _, err := tn.Tx().NewInsert().Model(u).Exec(ctx); err != nil {
				return err
			}
			role := []models.Role{models.RoleAdmin, models.RoleMember, models.RoleViewer, models.RoleOwner}[i%4]
			seen := now.Add(-time.Duration(i) * time.Hour)
			if _, err := tn.Tx().NewInsert().Model(&models.Member{UserID: u.ID, Role: role, LastSeenAt: &seen,
				CreatedAt: now.Add(-time.Duration(i*37%61) * 24 * time.Hour)}).Exec(ctx); err != nil {
				return err
			}
		}
		inv := &models.Invitation{CreatedAt: testdb.Clock(), ID: models.NewID(), Email: "second@example.com", Role: models.RoleAdmin, TokenHash: uuid.NewString(),
			InvitedBy: &f.owner.ID, ExpiresAt: now.Add(-time.Hour)} // expired: listed, holds no seat
		_, err := tn.Tx().NewInsert().Model(inv).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []models.MemberFilter{{Page: 1}, {Page: 2}, {Page: 99}, {Query: "person 1", Page: 1}, {Query: tag}, {Query: "nobody-" + tag, Page: 1},
		{Role: models.RoleViewer}, {Role: models.RoleAdmin, Query: "person"}, {Role: models.RoleOwner, Sort: models.MemberSortJoined, Desc: true}}
	for _, o := range models.MemberSorts {
		for _, desc := range []bool{false, true} {
			cases = append(cases, models.MemberFilter{Sort: o, Desc: desc}, models.MemberFilter{Sort: o, Desc: desc, Page: 2},
				models.MemberFilter{Sort: o, Desc: desc, Query: tag, Role: models.RoleMember})
		}
	}
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
			compareMembersPage(t, db, f, now, c, round)
		}
	}
}

// compareMembersPage checks ReadMembersPage against the separate reads it replaces.
func compareMembersPage(t *testing.T, db *bun.DB, f *fixture, now time.Time, mf models.MemberFilter, round int) {
	t.Helper()
	ctx := context.Background()
	{
		err := models.InWorkspace(ctx, db, f.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
			got, err := models.ReadMembersPageBy(ctx, tn, f.owner.ID, mf, now)
			if err != nil {
				return err
			}
			list, err := models.ListMembersBy(ctx, tn, mf)
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
			if got.Listing.Total != list.Total || got.Listing.Page != list.Page || got.Listing.Pages != list.Pages ||
				len(got.Listing.Members) != len(list.Members) || !reflect.DeepEqual(got.Listing.LastActive, list.LastActive) {
				return fmt.Errorf("listing %d/%d/%d (%d rows), want %d/%d/%d (%d rows)", got.Listing.Total, got.Listing.Page, got.Listing.Pages,
					len(got.Listing.Members), list.Total, list.Page, list.Pages, len(list.Members))
			}
			if err := inOrder(mf, got.Listing.Members); err != nil {
				return err
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
			pending, expired := 0, 0
			for _, inv := range invs {
				if inv.State(now) == models.InvitationExpired {
					expired++
				} else {
					pending++
				}
			}
			if got.Pending != pending || got.Expired != expired || expired != 1 {
				return fmt.Errorf("invitations %d pending %d expired, want %d %d", got.Pending, got.Expired, pending, expired)
			}
			return nil
		})
		if err != nil {
			t.Errorf("round %d: %+v: %v", round, mf, err)
		}
	}
	// A page read (one round trip, no transaction, columns decoded by pgx) gives the same page as
	// the workspace's transaction (database/sql's decoding).
	var inTx, inPage *models.MembersPageData
	err := models.InWorkspace(ctx, db, f.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
		inTx, err = models.ReadMembersPageBy(ctx, tn, f.owner.ID, mf, now)
		return err
	})
	if err == nil {
		err = models.ReadPage(ctx, db, f.ws.ID, func(ctx context.Context, tn *models.Tenant) (err error) {
			inPage, err = models.ReadMembersPageBy(ctx, tn, f.owner.ID, mf, now)
			return err
		})
	}
	if err != nil {
		t.Fatalf("round %d: %+v: %v", round, mf, err)
	}
	if !reflect.DeepEqual(inTx, inPage) {
		t.Errorf("round %d: %+v: the page read differs from the transaction's:\n%+v\n%+v", round, mf, inPage, inTx)
	}
}

// inOrder checks a page of members against its filter's role and order, computed here apart
// from the SQL that made it.
func inOrder(f models.MemberFilter, ms []models.Member) error {
	for i, m := range ms {
		if f.Role != "" && m.Role != f.Role {
			return fmt.Errorf("row %d is %s, the filter is %s", i, m.Role, f.Role)
		}
		if i == 0 {
			continue
		}
		p := ms[i-1]
		var cmp int // p before m: cmp <= 0 ascending
		switch f.Sort {
		case models.MemberSortName:
			cmp = strings.Compare(strings.ToLower(p.User.Name), strings.ToLower(m.User.Name))
		case models.MemberSortJoined:
			cmp = p.CreatedAt.Compare(m.CreatedAt)
		case models.MemberSortActive:
			switch {
			case p.LastSeenAt == nil && m.LastSeenAt == nil:
			case p.LastSeenAt == nil:
				cmp = -1
			case m.LastSeenAt == nil:
				cmp = 1
			default:
				cmp = p.LastSeenAt.Compare(*m.LastSeenAt)
			}
		default:
			cmp = slices.Index(models.Roles, p.Role) - slices.Index(models.Roles, m.Role)
		}
		if f.Desc {
			cmp = -cmp
		}
		if cmp > 0 {
			return fmt.Errorf("%+v: row %d (%s %q %s %v) comes after row %d (%s %q %s %v)", f, i, m.Role, m.User.Name, m.CreatedAt, m.LastSeenAt,
				i-1, p.Role, p.User.Name, p.CreatedAt, p.LastSeenAt)
		}
	}
	return nil
}

// TestMembersPageOrdersFollowIndexes: with 3,000 members, every order of the members page, each
// way round, with and without a role filter, is read from an index in its order: the plan (as the
// server runs it, under row-level security) sorts nothing, and reads the page's rows from the
// index rather than every member.
func TestMembersPageOrdersFollowIndexes(t *testing.T) {
	d := testdb.Get(t)
	ctx := context.Background()
	f := newFixture(t, d.App)
	now := testdb.Now(t)
	_, err := d.Owner.ExecContext(ctx, `WITH u AS (
		  INSERT INTO users (id, email, name, password_hash, created_at)
		  SELECT gen_random_uuid(), 'idx' || n || '-' || ? || '@example.com', 'Index ' || n, 'x', ?::timestamptz FROM generate_series(1, 3000) AS n
		  RETURNING id, name)
		INSERT INTO workspace_members (workspace_id, user_id, role, created_at, last_seen_at)
		SELECT ?, u.id, (ARRAY['admin', 'member', 'viewer'])[1 + abs(hashtext(u.name)) % 3]::member_role,
		  ?::timestamptz - abs(hashtext(u.name)) % 1000 * interval '1 hour',
		  CASE WHEN abs(hashtext(u.name)) % 7 = 0 THEN NULL ELSE ?::timestamptz - abs(hashtext(u.name || 'x')) % 1000 * interval '1 minute' END
		FROM u`, f.ws.ID.String(), now, f.ws.ID, now, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Owner.ExecContext(ctx, "ANALYZE workspace_members; ANALYZE users"); err != nil {
		t.Fatal(err)
	}
	for _, o := range models.MemberSorts {
		for _, desc := range []bool{false, true} {
			for _, role := range []models.Role{"", models.RoleViewer} {
				mf := models.MemberFilter{Sort: o, Desc: desc, Role: role, Page: 2}
				var plan []byte
				err := models.InWorkspace(ctx, d.App, f.ws.ID, func(ctx context.Context, tn *models.Tenant) error {
					got, err := models.ReadMembersPageBy(ctx, tn, f.owner.ID, mf, now)
					if err != nil {
						return err
					}
					if len(got.Listing.Members) != models.MemberPageSize {
						return fmt.Errorf("%d rows", len(got.Listing.Members))
					}
					if err := inOrder(mf, got.Listing.Members); err != nil {
						return err
					}
					q, args := models.MembersPageSQL(f.ws.ID, f.owner.ID, mf, now)
					return tn.Tx().Tx.QueryRowContext(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+q, args...).Scan(&plan)
				})
				if err != nil {
					t.Fatalf("%+v: %v", mf, err)
				}
				if strings.Contains(string(plan), `"Node Type": "Sort"`) || strings.Contains(string(plan), `"Node Type": "Incremental Sort"`) {
					t.Errorf("%+v: the plan sorts:\n%s", mf, plan)
				}
				// The page's rows: the index entries up to the page's end (page 2: 100, three times as many
				// with a role filter that keeps one in three), never all 3,000 members.
				n := pageScanRows(t, plan)
				if n > 600 {
					t.Errorf("%+v: the page reads %d members:\n%s", mf, n, plan)
				}
				t.Logf("sort %s desc %v role %q: page 2 reads %d index rows", o, desc, role, n)
			}
		}
	}
}

// pageScanRows is the rows read by the plan's scan that feeds a Limit (the page's).
func pageScanRows(t *testing.T, plan []byte) int {
	t.Helper()
	var doc []struct{ Plan map[string]any }
	if err := json.Unmarshal(plan, &doc); err != nil {
		t.Fatal(err)
	}
	best := -1
	var walk func(n map[string]any, underLimit bool)
	walk = func(n map[string]any, underLimit bool) {
		typ, _ := n["Node Type"].(string)
		if underLimit && strings.Contains(typ, "Scan") && strings.Contains(fmt.Sprint(n["Relation Name"]), "workspace_members") {
			rows, _ := n["Actual Rows"].(float64)
			removed, _ := n["Rows Removed by Filter"].(float64)
			best = max(best, int(rows+removed))
		}
		kids, _ := n["Plans"].([]any)
		for _, k := range kids {
			if m, ok := k.(map[string]any); ok {
				walk(m, underLimit || typ == "Limit")
			}
		}
	}
	walk(doc[0].Plan, false)
	if best < 0 {
		t.Fatalf("no page scan in the plan:\n%s", plan)
	}
	return best
}
