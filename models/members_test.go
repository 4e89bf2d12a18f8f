package models_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"

	"atrium/models"
	"atrium/models/testdb"
)

const memPassword = "membership rules hold 42"

var memSeq atomic.Int64

func memUser(t *testing.T, db bun.IDB, label string) *models.User {
	t.Helper()
	u, err := models.CreateUser(context.Background(), db, models.NewUser{
		Email: fmt.Sprintf("%s-%d-%s@example.com", label, memSeq.Add(1), uuid.NewString()[:6]), Name: label, Password: memPassword,
	}, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func memWorkspace(t *testing.T, db bun.IDB, owner *models.User) *models.Workspace {
	t.Helper()
	slug := fmt.Sprintf("mem-%d-%s", memSeq.Add(1), uuid.NewString()[:6])
	ws, err := models.CreateWorkspace(context.Background(), db, owner, "Members "+slug, slug, testdb.Clock())
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func memIn(t *testing.T, db bun.IDB, ws *models.Workspace, fn func(ctx context.Context, tn *models.Tenant) error) error {
	return models.InWorkspace(testdb.Ctx(t), db, ws.ID, fn)
}

func memAdd(t *testing.T, db bun.IDB, ws *models.Workspace, u *models.User, role models.Role) {
	t.Helper()
	err := memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewInsert().Model(&models.Member{CreatedAt: testdb.Clock(), UserID: u.ID, Role: role}).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func memSetTier(t *testing.T, db bun.IDB, ws *models.Workspace, tier models.Tier) {
	t.Helper()
	err := memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		_, err := tn.Tx().NewUpdate().Model(ws).Set("tier = ?", tier).WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ws.Tier = tier
}

// memRole returns u's role in ws, "" when not a member.
func memRole(t *testing.T, db bun.IDB, ws *models.Workspace, u *models.User) models.Role {
	t.Helper()
	var role models.Role
	err := memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		m, err := models.MemberByUserID(ctx, tn, u.ID)
		if errors.Is(err, models.ErrNotFound) {
			return nil
		}
		role = m.Role
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return role
}

// memCounts returns the owners and the seats (members plus pending invitations) of ws.
func memCounts(t *testing.T, db bun.IDB, ws *models.Workspace) (owners int, seats int64) {
	t.Helper()
	err := memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		if err := tn.Tx().NewSelect().Model((*models.Member)(nil)).ColumnExpr("count(*)").Where("role = 'owner'").Scan(ctx, &owners); err != nil {
			return err
		}
		var err error
		seats, err = models.SeatsUsed(ctx, tn, testdb.Now(t))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return owners, seats
}

// memLastEvent returns the newest audit event of ws with action.
func memLastEvent(t *testing.T, db bun.IDB, ws *models.Workspace, action string) *models.AuditEvent {
	t.Helper()
	ev := new(models.AuditEvent)
	err := memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		return tn.Tx().NewSelect().Model(ev).Where("action = ?", action).Order("created_at DESC", "id DESC").Limit(1).Scan(ctx)
	})
	if err != nil {
		t.Fatalf("no %s event: %v", action, err)
	}
	return ev
}

// errKind names the domain error kind of err for table tests.
func errKind(err error) string {
	var ve *models.ValidationError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ve):
		return "invalid"
	case errors.Is(err, models.ErrNotFound):
		return "not_found"
	case errors.Is(err, models.ErrForbidden):
		return "forbidden"
	case errors.Is(err, models.ErrConflict):
		return "conflict"
	case errors.Is(err, models.ErrLimitReached):
		return "limit"
	}
	return "error: " + err.Error()
}

// memTeam is a workspace with one person in each role (and a second owner when asked).
type memTeam struct {
	ws                                   *models.Workspace
	owner, owner2, admin, member, viewer *models.User
}

func (tm *memTeam) byName(name string) *models.User {
	return map[string]*models.User{"owner": tm.owner, "owner2": tm.owner2, "admin": tm.admin, "member": tm.member, "viewer": tm.viewer}[name]
}

// memPeople are made once per test binary: argon2 makes each user cost tens of milliseconds.
var (
	memPeopleOnce sync.Once
	memPeople     map[string]*models.User
)

func newMemTeam(t *testing.T, db bun.IDB, secondOwner bool) *memTeam {
	t.Helper()
	memPeopleOnce.Do(func() {
		memPeople = map[string]*models.User{}
		for _, n := range []string{"owner", "owner2", "admin", "member", "viewer"} {
			memPeople[n] = memUser(t, db, n)
		}
	})
	tm := &memTeam{owner: memPeople["owner"], owner2: memPeople["owner2"], admin: memPeople["admin"], member: memPeople["member"], viewer: memPeople["viewer"]}
	tm.ws = memWorkspace(t, db, tm.owner)
	memSetTier(t, db, tm.ws, models.TierPro)
	if secondOwner {
		memAdd(t, db, tm.ws, tm.owner2, models.RoleOwner)
	}
	memAdd(t, db, tm.ws, tm.admin, models.RoleAdmin)
	memAdd(t, db, tm.ws, tm.member, models.RoleMember)
	memAdd(t, db, tm.ws, tm.viewer, models.RoleViewer)
	return tm
}

func memRoleOf(name string) models.Role {
	if name == "owner2" {
		return models.RoleOwner
	}
	return models.Role(name)
}

func TestChangeRoleRules(t *testing.T) {
	db := testdb.Get(t).App
	cases := []struct {
		name          string
		actor, target string
		to            models.Role
		secondOwner   bool
		want          string
	}{
		{"owner promotes member to admin", "owner", "member", models.RoleAdmin, false, "ok"},
		{"owner makes a member owner", "owner", "member", models.RoleOwner, false, "ok"},
		{"admin demotes member to viewer", "admin", "member", models.RoleViewer, false, "ok"},
		{"admin promotes viewer to admin", "admin", "viewer", models.RoleAdmin, false, "ok"},
		{"admin demotes itself", "admin", "admin", models.RoleMember, false, "ok"},
		{"admin cannot demote an owner", "admin", "owner", models.RoleAdmin, false, "forbidden"},
		{"admin cannot make an owner", "admin", "member", models.RoleOwner, false, "forbidden"},
		{"admin cannot promote itself to owner", "admin", "admin", models.RoleOwner, false, "forbidden"},
		{"member cannot change roles", "member", "viewer", models.RoleMember, false, "forbidden"},
		{"viewer cannot change roles", "viewer", "member", models.RoleViewer, false, "forbidden"},
		{"the only owner cannot demote itself", "owner", "owner", models.RoleAdmin, false, "conflict"},
		{"one of two owners demotes the other", "owner", "owner2", models.RoleAdmin, true, "ok"},
		{"one of two owners demotes itself", "owner", "owner", models.RoleMember, true, "ok"},
		{"unknown role", "owner", "member", models.Role("boss"), false, "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm := newMemTeam(t, db, c.secondOwner)
			actor, target := tm.byName(c.actor), tm.byName(c.target)
			before := memRoleOf(c.target)
			err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
				return models.ChangeRole(models.WithClientIP(ctx, "203.0.113.9"), tn, models.Actor{UserID: actor.ID, Role: memRoleOf(c.actor)}, target.ID, c.to, testdb.Now(t))
			})
			if got := errKind(err); got != c.want {
				t.Fatalf("got %s, want %s", got, c.want)
			}
			got := memRole(t, db, tm.ws, target)
			if c.want != "ok" {
				if got != before {
					t.Fatalf("refused change still changed the role to %s", got)
				}
				return
			}
			if got != c.to {
				t.Fatalf("role is %s, want %s", got, c.to)
			}
			ev := memLastEvent(t, db, tm.ws, "member.role_change")
			if *ev.ActorUserID != actor.ID || ev.Target != target.Email || ev.IP != "203.0.113.9" {
				t.Fatalf("audit event %+v", ev)
			}
			b, _ := json.Marshal(ev.Details)
			want := fmt.Sprintf(`"after":{"role":"%s"},"before":{"role":"%s"}`, c.to, before)
			if !strings.Contains(string(b), want) {
				t.Fatalf("details %s, want %s", b, want)
			}
		})
	}
	t.Run("unknown member is not found", func(t *testing.T) {
		tm := newMemTeam(t, db, false)
		err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
			return models.ChangeRole(ctx, tn, models.Actor{UserID: tm.owner.ID, Role: models.RoleOwner}, uuid.New(), models.RoleAdmin, testdb.Now(t))
		})
		if errKind(err) != "not_found" {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("member of another workspace is not found", func(t *testing.T) {
		tm, other := newMemTeam(t, db, false), newMemTeam(t, db, false)
		stranger := memUser(t, db, "stranger")
		memAdd(t, db, other.ws, stranger, models.RoleMember)
		err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
			return models.ChangeRole(ctx, tn, models.Actor{UserID: tm.owner.ID, Role: models.RoleOwner}, stranger.ID, models.RoleAdmin, testdb.Now(t))
		})
		if errKind(err) != "not_found" {
			t.Fatalf("got %v", err)
		}
		if memRole(t, db, other.ws, stranger) != models.RoleMember {
			t.Fatal("a change in one workspace touched another")
		}
	})
	t.Run("a role that changed since the request is a conflict", func(t *testing.T) {
		tm := newMemTeam(t, db, false)
		err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
			// The request saw "admin"; the person is a member now.
			return models.ChangeRole(ctx, tn, models.Actor{UserID: tm.member.ID, Role: models.RoleAdmin}, tm.viewer.ID, models.RoleMember, testdb.Now(t))
		})
		if errKind(err) != "conflict" {
			t.Fatalf("got %v", err)
		}
	})
}

func TestRemoveMemberRules(t *testing.T) {
	db := testdb.Get(t).App
	cases := []struct {
		name          string
		actor, target string
		secondOwner   bool
		want          string
	}{
		{"owner removes admin", "owner", "admin", false, "ok"},
		{"admin removes member", "admin", "member", false, "ok"},
		{"admin removes viewer", "admin", "viewer", false, "ok"},
		{"admin cannot remove owner", "admin", "owner", false, "forbidden"},
		{"member cannot remove", "member", "viewer", false, "forbidden"},
		{"viewer cannot remove", "viewer", "member", false, "forbidden"},
		{"owner removes the other owner", "owner", "owner2", true, "ok"},
		{"removing yourself is leaving", "owner", "owner", true, "forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm := newMemTeam(t, db, c.secondOwner)
			actor, target := tm.byName(c.actor), tm.byName(c.target)
			// The target holds an API key, which removal must revoke.
			keyID := models.NewID()
			err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
				_, err := tn.Tx().NewInsert().Model(&models.APIKey{CreatedAt: testdb.Clock(), ID: keyID, Name: "k", Prefix: uuid.NewString()[:8],
					SecretHash: []byte("h"), Scope: "read", CreatedBy: &target.ID}).Exec(ctx)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			err = memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
				return models.RemoveMember(ctx, tn, models.Actor{UserID: actor.ID, Role: memRoleOf(c.actor)}, target.ID, testdb.Now(t))
			})
			if got := errKind(err); got != c.want {
				t.Fatalf("got %s (%v), want %s", got, err, c.want)
			}
			var key models.APIKey
			if err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
				return tn.Tx().NewSelect().Model(&key).Where("id = ?", keyID).Scan(ctx)
			}); err != nil {
				t.Fatal(err)
			}
			_, resolveErr := models.ResolveMembership(context.Background(), db, tm.ws.Slug, target.ID)
			if c.want != "ok" {
				if resolveErr != nil || key.RevokedAt != nil {
					t.Fatalf("refused removal still removed (%v) or revoked the key (%v)", resolveErr, key.RevokedAt)
				}
				return
			}
			if !errors.Is(resolveErr, models.ErrNotFound) {
				t.Fatalf("removed member still resolves: %v", resolveErr)
			}
			if key.RevokedAt == nil {
				t.Fatal("the removed member's API key is not revoked")
			}
			ev := memLastEvent(t, db, tm.ws, "member.remove")
			if *ev.ActorUserID != actor.ID || ev.Target != target.Email || ev.Details["api_keys_revoked"] != float64(1) {
				t.Fatalf("audit event %+v", ev)
			}
		})
	}
}

func TestLeaveWorkspace(t *testing.T) {
	db := testdb.Get(t).App
	t.Run("the only owner cannot leave", func(t *testing.T) {
		tm := newMemTeam(t, db, false)
		err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
			return models.LeaveWorkspace(ctx, tn, models.Actor{UserID: tm.owner.ID, Role: models.RoleOwner}, testdb.Now(t))
		})
		if errKind(err) != "conflict" || memRole(t, db, tm.ws, tm.owner) != models.RoleOwner {
			t.Fatalf("got %v", err)
		}
	})
	for _, who := range []string{"owner", "admin", "member", "viewer"} {
		t.Run(who+" leaves", func(t *testing.T) {
			tm := newMemTeam(t, db, true)
			u := tm.byName(who)
			err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
				return models.LeaveWorkspace(ctx, tn, models.Actor{UserID: u.ID, Role: memRoleOf(who)}, testdb.Now(t))
			})
			if err != nil {
				t.Fatal(err)
			}
			if memRole(t, db, tm.ws, u) != "" {
				t.Fatal("still a member")
			}
			ev := memLastEvent(t, db, tm.ws, "member.leave")
			if *ev.ActorUserID != u.ID || ev.Details["before"].(map[string]any)["role"] != who {
				t.Fatalf("audit event %+v", ev)
			}
		})
	}
}

func TestTransferOwnership(t *testing.T) {
	db := testdb.Get(t).App
	cases := []struct {
		name, actor, target, password string
		want                          string
	}{
		{"owner hands over to a member", "owner", "member", memPassword, "ok"},
		{"owner hands over to a viewer", "owner", "viewer", memPassword, "ok"},
		{"wrong password", "owner", "member", "not my password at all", "invalid"},
		{"admin cannot transfer", "admin", "member", memPassword, "forbidden"},
		{"not to yourself", "owner", "owner", memPassword, "conflict"},
		{"not to another owner", "owner", "owner2", memPassword, "conflict"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm := newMemTeam(t, db, c.target == "owner2")
			actor, target := tm.byName(c.actor), tm.byName(c.target)
			err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
				return models.TransferOwnership(ctx, tn, models.Actor{UserID: actor.ID, Role: memRoleOf(c.actor)}, target.ID, c.password, testdb.Now(t))
			})
			if got := errKind(err); got != c.want {
				t.Fatalf("got %s (%v), want %s", got, err, c.want)
			}
			if c.want != "ok" {
				if memRole(t, db, tm.ws, tm.owner) != models.RoleOwner || memRole(t, db, tm.ws, target) != memRoleOf(c.target) {
					t.Fatal("a refused transfer changed roles")
				}
				return
			}
			if memRole(t, db, tm.ws, target) != models.RoleOwner || memRole(t, db, tm.ws, actor) != models.RoleAdmin {
				t.Fatal("transfer did not make the target owner and the old owner admin")
			}
			ev := memLastEvent(t, db, tm.ws, "ownership.transfer")
			if ev.Target != target.Email || ev.Details["after"].(map[string]any)["to"] != "owner" {
				t.Fatalf("audit event %+v", ev)
			}
		})
	}
}

// memInvite creates an invitation as the team's owner.
func memInvite(t *testing.T, db bun.IDB, ws *models.Workspace, actor models.Actor, email string, role models.Role, now time.Time) (*models.IssuedInvitation, error) {
	t.Helper()
	var out *models.IssuedInvitation
	err := memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		var err error
		out, err = models.CreateInvitation(ctx, tn, actor, email, role, now)
		return err
	})
	return out, err
}

func TestInvitations(t *testing.T) {
	db := testdb.Get(t).App
	ctx := testdb.Ctx(t)
	now := testdb.Now(t)
	ownerActor := func(tm *memTeam) models.Actor { return models.Actor{UserID: tm.owner.ID, Role: models.RoleOwner} }

	t.Run("accept with the invited account", func(t *testing.T) {
		tm := newMemTeam(t, db, false)
		guest := memUser(t, db, "guest")
		inv, err := memInvite(t, db, tm.ws, ownerActor(tm), guest.Email, models.RoleMember, now)
		if err != nil {
			t.Fatal(err)
		}
		if len(inv.Token) != 43 || inv.TokenHash == inv.Token || inv.TokenHash != models.HashInvitationToken(inv.Token) {
			t.Fatalf("token %q stored as %q", inv.Token, inv.TokenHash)
		}
		if d := inv.ExpiresAt.Sub(now); d != 7*24*time.Hour {
			t.Fatalf("valid for %s", d)
		}
		info, err := models.InvitationByToken(ctx, db, inv.Token)
		if err != nil || info.WorkspaceSlug != tm.ws.Slug || info.Email != guest.Email || info.InviterName != "owner" {
			t.Fatalf("lookup: %+v, %v", info, err)
		}
		m, err := models.AcceptInvitation(models.WithClientIP(ctx, "198.51.100.7"), db, guest, inv.Token, now)
		if err != nil {
			t.Fatal(err)
		}
		if m.Slug != tm.ws.Slug || m.Role != models.RoleMember || memRole(t, db, tm.ws, guest) != models.RoleMember {
			t.Fatalf("membership %+v", m)
		}
		ev := memLastEvent(t, db, tm.ws, "invitation.accept")
		if *ev.ActorUserID != guest.ID || ev.IP != "198.51.100.7" {
			t.Fatalf("audit %+v", ev)
		}
		_, err = models.AcceptInvitation(ctx, db, guest, inv.Token, now)
		if errKind(err) != "conflict" {
			t.Fatalf("second use: %v", err)
		}
	})

	t.Run("another account is refused with the reason", func(t *testing.T) {
		tm := newMemTeam(t, db, false)
		inv, err := memInvite(t, db, tm.ws, ownerActor(tm), "someone-else@example.com", models.RoleMember, now)
		if err != nil {
			t.Fatal(err)
		}
		_, err = models.AcceptInvitation(ctx, db, memUser(t, db, "intruder"), inv.Token, now)
		if errKind(err) != "forbidden" || !strings.Contains(err.Error(), "someone-else@example.com") {
			t.Fatalf("got %v", err)
		}
		if _, seats := memCounts(t, db, tm.ws); seats != 5 {
			t.Fatalf("seats %d, want 4 members + 1 pending", seats)
		}
	})

	t.Run("expired, revoked and unknown links", func(t *testing.T) {
		tm := newMemTeam(t, db, false)
		guest := memUser(t, db, "late")
		inv, err := memInvite(t, db, tm.ws, ownerActor(tm), guest.Email, models.RoleViewer, now.Add(-8*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.AcceptInvitation(ctx, db, guest, inv.Token, now); errKind(err) != "conflict" || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("expired: %v", err)
		}
		// An expired invitation holds no seat and can be replaced by a new one.
		if _, seats := memCounts(t, db, tm.ws); seats != 4 {
			t.Fatalf("seats %d: an expired invitation still holds a seat", seats)
		}
		inv2, err := memInvite(t, db, tm.ws, ownerActor(tm), guest.Email, models.RoleViewer, now)
		if err != nil {
			t.Fatal(err)
		}
		err = memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.RevokeInvitation(ctx, tn, ownerActor(tm), inv2.ID, now)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := models.AcceptInvitation(ctx, db, guest, inv2.Token, now); errKind(err) != "conflict" || !strings.Contains(err.Error(), "withdrawn") {
			t.Fatalf("revoked: %v", err)
		}
		for _, tok := range []string{"", "short", otherLastChar(inv2.Token), "../../etc/passwd"} {
			if _, err := models.AcceptInvitation(ctx, db, guest, tok, now); errKind(err) != "not_found" {
				t.Fatalf("token %q: %v", tok, err)
			}
		}
		if memRole(t, db, tm.ws, guest) != "" {
			t.Fatal("a refused link made a member")
		}
	})

	t.Run("resend replaces the link", func(t *testing.T) {
		tm := newMemTeam(t, db, false)
		guest := memUser(t, db, "resend")
		inv, err := memInvite(t, db, tm.ws, ownerActor(tm), guest.Email, models.RoleAdmin, now)
		if err != nil {
			t.Fatal(err)
		}
		var again *models.IssuedInvitation
		err = memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
			var err error
			again, err = models.ResendInvitation(ctx, tn, models.Actor{UserID: tm.admin.ID, Role: models.RoleAdmin}, inv.ID, now.Add(time.Hour))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if again.Token == inv.Token || !again.ExpiresAt.Equal(now.Add(time.Hour+models.InvitationLifetime)) {
			t.Fatalf("resend kept the token or the expiry: %+v", again)
		}
		if _, err := models.InvitationByToken(ctx, db, inv.Token); errKind(err) != "not_found" {
			t.Fatalf("old link still works: %v", err)
		}
		if _, err := models.AcceptInvitation(ctx, db, guest, again.Token, now); err != nil {
			t.Fatal(err)
		}
		if memRole(t, db, tm.ws, guest) != models.RoleAdmin {
			t.Fatal("not admin")
		}
		if ev := memLastEvent(t, db, tm.ws, "invitation.resend"); *ev.ActorUserID != tm.admin.ID {
			t.Fatalf("audit %+v", ev)
		}
	})

	t.Run("who may invite whom", func(t *testing.T) {
		tm := newMemTeam(t, db, false)
		cases := []struct {
			actor string
			role  models.Role
			email string
			want  string
		}{
			{"owner", models.RoleOwner, "new-owner@example.com", "ok"},
			{"admin", models.RoleAdmin, "new-admin@example.com", "ok"},
			{"admin", models.RoleOwner, "would-be-owner@example.com", "forbidden"},
			{"member", models.RoleViewer, "from-member@example.com", "forbidden"},
			{"viewer", models.RoleViewer, "from-viewer@example.com", "forbidden"},
			{"owner", models.RoleMember, "not an email", "invalid"},
			{"owner", models.Role("king"), "king@example.com", "invalid"},
			{"owner", models.RoleMember, tm.member.Email, "invalid"},         // already a member
			{"owner", models.RoleMember, "NEW-ADMIN@example.com", "invalid"}, // already invited
		}
		for _, c := range cases {
			_, err := memInvite(t, db, tm.ws, models.Actor{UserID: tm.byName(c.actor).ID, Role: memRoleOf(c.actor)}, c.email, c.role, now)
			if got := errKind(err); got != c.want {
				t.Errorf("%s invites %s as %s: got %s (%v), want %s", c.actor, c.email, c.role, got, err, c.want)
			}
		}
		// An admin cannot revoke or resend an owner's invitation.
		var ownerInv models.Invitation
		memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
			return tn.Tx().NewSelect().Model(&ownerInv).Where("email = 'new-owner@example.com'").Scan(ctx)
		})
		err := memIn(t, db, tm.ws, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.RevokeInvitation(ctx, tn, models.Actor{UserID: tm.admin.ID, Role: models.RoleAdmin}, ownerInv.ID, now)
			return err
		})
		if errKind(err) != "forbidden" {
			t.Fatalf("admin revoked an owner invitation: %v", err)
		}
	})

	t.Run("the member limit counts pending invitations", func(t *testing.T) {
		owner := memUser(t, db, "starter")
		ws := memWorkspace(t, db, owner)
		a := models.Actor{UserID: owner.ID, Role: models.RoleOwner}
		if _, err := memInvite(t, db, ws, a, "one@example.com", models.RoleMember, now); errKind(err) != "limit" {
			t.Fatalf("free tier (1 member) took an invitation: %v", err)
		}
		memSetTier(t, db, ws, models.TierStarter)
		for i, want := range []string{"ok", "ok", "limit"} {
			_, err := memInvite(t, db, ws, a, fmt.Sprintf("p%d@example.com", i), models.RoleMember, now)
			if errKind(err) != want {
				t.Fatalf("invitation %d: %v, want %s", i, err, want)
			}
		}
		// Revoking frees the seat.
		var pending []models.Invitation
		memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
			var err error
			pending, err = models.PendingInvitations(ctx, tn)
			return err
		})
		if len(pending) != 2 {
			t.Fatalf("%d pending", len(pending))
		}
		memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
			_, err := models.RevokeInvitation(ctx, tn, a, pending[0].ID, now)
			return err
		})
		if _, err := memInvite(t, db, ws, a, "p9@example.com", models.RoleMember, now); err != nil {
			t.Fatalf("after a revoke: %v", err)
		}
	})
}

func TestListMembers(t *testing.T) {
	db := testdb.Get(t).App
	owner := memUser(t, db, "lister")
	ws := memWorkspace(t, db, owner)
	memSetTier(t, db, ws, models.TierEnterprise)
	// 119 more members, inserted directly: the list must page past 50.
	err := memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
		var users []models.User
		var ms []models.Member
		for i := range 119 {
			u := models.User{CreatedAt: testdb.Clock(), ID: models.NewID(), Email: fmt.Sprintf("bulk%03d-%s@example.com", i, uuid.NewString()[:6]),
				Name: fmt.Sprintf("Bulk %03d", i), PasswordHash: "x"}
			users = append(users, u)
			ms = append(ms, models.Member{CreatedAt: testdb.Clock(), UserID: u.ID, Role: models.RoleViewer})
		}
		if _, err := tn.Tx().NewInsert().Model(&users).Exec(ctx); err != nil {
			return err
		}
		_, err := tn.Tx().NewInsert().Model(&ms).Exec(ctx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	list := func(q string, page int) *models.MemberListing {
		var out *models.MemberListing
		if err := memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
			var err error
			out, err = models.ListMembers(ctx, tn, q, page)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	first := list("", 1)
	if first.Total != 120 || first.Pages != 3 || len(first.Members) != 50 || first.Members[0].UserID != owner.ID {
		t.Fatalf("page 1: total %d pages %d rows %d", first.Total, first.Pages, len(first.Members))
	}
	if _, ok := first.LastActive[owner.ID]; ok {
		t.Fatal("the owner never logged in but has a last-active time")
	}
	last := list("", 9)
	if last.Page != 3 || len(last.Members) != 20 {
		t.Fatalf("last page: page %d rows %d", last.Page, len(last.Members))
	}
	if got := list("bulk 10", 1); got.Total != 10 { // Bulk 100..109
		t.Fatalf("search by name: %d", got.Total)
	}
	if got := list("BULK007-", 1); got.Total != 1 {
		t.Fatalf("search by email: %d", got.Total)
	}
	if got := list("%", 1); got.Total != 0 {
		t.Fatalf("%% is a wildcard: %d", got.Total)
	}
}

// raceTwo runs a and b at the same moment behind a barrier and returns their errors.
func raceTwo(a, b func() error) (errA, errB error) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	wg.Add(2)
	go func() { defer wg.Done(); <-start; errA = a() }()
	go func() { defer wg.Done(); <-start; errB = b() }()
	close(start)
	wg.Wait()
	return errA, errB
}

const raceRounds = 200

// twoOwners makes a workspace owned by a and b.
func twoOwners(t *testing.T, db bun.IDB, a, b *models.User) *models.Workspace {
	ws := memWorkspace(t, db, a)
	memAdd(t, db, ws, b, models.RoleOwner)
	return ws
}

// oneWins asserts exactly one of two racing changes succeeded and the other lost with a conflict.
func oneWins(t *testing.T, round int, errA, errB error) {
	t.Helper()
	if (errA == nil) == (errB == nil) {
		t.Fatalf("round %d: want exactly one winner, got %v and %v", round, errA, errB)
	}
	loser := errA
	if loser == nil {
		loser = errB
	}
	if errKind(loser) != "conflict" {
		t.Fatalf("round %d: the loser got %v, want a conflict", round, loser)
	}
}

func TestRaceOwnersDemoteEachOther(t *testing.T) {
	db := testdb.Get(t).App
	a, b := memUser(t, db, "race-a"), memUser(t, db, "race-b")
	for i := range raceRounds {
		ws := twoOwners(t, db, a, b)
		demote := func(actor, target *models.User) func() error {
			return func() error {
				return memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
					return models.ChangeRole(ctx, tn, models.Actor{UserID: actor.ID, Role: models.RoleOwner}, target.ID, models.RoleAdmin, testdb.Now(t))
				})
			}
		}
		errA, errB := raceTwo(demote(a, b), demote(b, a))
		if owners, _ := memCounts(t, db, ws); owners != 1 {
			t.Fatalf("round %d: %d owners", i, owners)
		}
		oneWins(t, i, errA, errB)
	}
}

func TestRaceOwnersRemoveEachOther(t *testing.T) {
	db := testdb.Get(t).App
	a, b := memUser(t, db, "rm-a"), memUser(t, db, "rm-b")
	for i := range raceRounds {
		ws := twoOwners(t, db, a, b)
		remove := func(actor, target *models.User) func() error {
			return func() error {
				return memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
					return models.RemoveMember(ctx, tn, models.Actor{UserID: actor.ID, Role: models.RoleOwner}, target.ID, testdb.Now(t))
				})
			}
		}
		errA, errB := raceTwo(remove(a, b), remove(b, a))
		if owners, _ := memCounts(t, db, ws); owners != 1 {
			t.Fatalf("round %d: %d owners", i, owners)
		}
		oneWins(t, i, errA, errB)
	}
}

func TestRaceOwnersLeaveTogether(t *testing.T) {
	db := testdb.Get(t).App
	a, b := memUser(t, db, "leave-a"), memUser(t, db, "leave-b")
	for i := range raceRounds {
		ws := twoOwners(t, db, a, b)
		leave := func(u *models.User) func() error {
			return func() error {
				return memIn(t, db, ws, func(ctx context.Context, tn *models.Tenant) error {
					return models.LeaveWorkspace(ctx, tn, models.Actor{UserID: u.ID, Role: models.RoleOwner}, testdb.Now(t))
				})
			}
		}
		errA, errB := raceTwo(leave(a), leave(b))
		if owners, _ := memCounts(t, db, ws); owners != 1 {
			t.Fatalf("round %d: %d owners", i, owners)
		}
		oneWins(t, i, errA, errB)
	}
}

// TestRaceInvitationsAndAcceptanceVsSeats: on the starter tier (3 seats) an owner and one pending
// invitation hold 2; the invitee accepts while two more invitations go out at once. Exactly one of
// the new invitations gets the last seat, every time.
func TestRaceInvitationsAndAcceptanceVsSeats(t *testing.T) {
	db := testdb.Get(t).App
	owner, guest := memUser(t, db, "seat-owner"), memUser(t, db, "seat-guest")
	a := models.Actor{UserID: owner.ID, Role: models.RoleOwner}
	now := testdb.Now(t)
	for i := range raceRounds {
		ws := memWorkspace(t, db, owner)
		memSetTier(t, db, ws, models.TierStarter)
		inv, err := memInvite(t, db, ws, a, guest.Email, models.RoleMember, now)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 3)
		jobs := []func() error{
			func() error { _, err := models.AcceptInvitation(testdb.Ctx(t), db, guest, inv.Token, now); return err },
			func() error {
				_, err := memInvite(t, db, ws, a, fmt.Sprintf("x%d@example.com", i), models.RoleViewer, now)
				return err
			},
			func() error {
				_, err := memInvite(t, db, ws, a, fmt.Sprintf("y%d@example.com", i), models.RoleViewer, now)
				return err
			},
		}
		for j, job := range jobs {
			wg.Add(1)
			go func() { defer wg.Done(); <-start; errs[j] = job() }()
		}
		close(start)
		wg.Wait()
		if _, seats := memCounts(t, db, ws); seats != 3 {
			t.Fatalf("round %d: %d seats taken of 3 (%v)", i, seats, errs)
		}
		if errs[0] != nil {
			t.Fatalf("round %d: acceptance failed: %v", i, errs[0])
		}
		if (errs[1] == nil) == (errs[2] == nil) || errKind(errs[1])+errKind(errs[2]) != "oklimit" && errKind(errs[1])+errKind(errs[2]) != "limitok" {
			t.Fatalf("round %d: invitations got %v and %v", i, errs[1], errs[2])
		}
	}
}

// TestRaceSameInvitationTwice: one link used from two tabs at once makes one membership.
func TestRaceSameInvitationTwice(t *testing.T) {
	db := testdb.Get(t).App
	owner, guest := memUser(t, db, "twice-owner"), memUser(t, db, "twice-guest")
	now := testdb.Now(t)
	for i := range raceRounds {
		ws := memWorkspace(t, db, owner)
		memSetTier(t, db, ws, models.TierStarter)
		inv, err := memInvite(t, db, ws, models.Actor{UserID: owner.ID, Role: models.RoleOwner}, guest.Email, models.RoleMember, now)
		if err != nil {
			t.Fatal(err)
		}
		accept := func() error { _, err := models.AcceptInvitation(testdb.Ctx(t), db, guest, inv.Token, now); return err }
		errA, errB := raceTwo(accept, accept)
		oneWins(t, i, errA, errB)
		if _, seats := memCounts(t, db, ws); seats != 2 {
			t.Fatalf("round %d: %d seats", i, seats)
		}
	}
}

// otherLastChar returns token with its last character changed: a well-formed token that was never
// issued.
func otherLastChar(token string) string {
	last := byte('A')
	if token[len(token)-1] == last {
		last = 'B'
	}
	return token[:len(token)-1] + string(last)
}
