package models

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Actor is the member acting, with the role the request was authorised with. Every membership
// change reads the role again under the workspace lock: when it changed in between, the change
// is refused as a conflict rather than judged on a role the person no longer has.
type Actor struct {
	UserID uuid.UUID
	Role   Role
}

// lockWorkspace takes the workspace row's lock until the transaction ends. Every membership change
// (invite, accept, role change, removal, leave, transfer) takes it first, so changes in one
// workspace run one after another and each sees the result of the one before: the owner count and
// the seat count it checks cannot move under it. A workspace scheduled for deletion takes no
// change (a request that resolved it a moment before the deletion meets ErrNotFound here).
func lockWorkspace(ctx context.Context, tn *Tenant) (*Workspace, error) {
	ws, err := lockAnyWorkspace(ctx, tn)
	if err == nil && ws.DeletedAt != nil {
		return nil, Errorf(ErrNotFound, "workspace not found")
	}
	return ws, err
}

// lockAnyWorkspace is lockWorkspace that also takes a workspace scheduled for deletion (its
// restore and its erasure).
func lockAnyWorkspace(ctx context.Context, tn *Tenant) (*Workspace, error) {
	id, ok := tn.ws, tn.ws != uuid.Nil
	if !ok {
		return nil, ErrNoWorkspace
	}
	ws := new(Workspace)
	err := tn.db().NewSelect().Model(ws).Where("id = ?", id).For("UPDATE").Scan(ctx)
	return ws, notFound(err, "workspace")
}

// memberOf loads one membership of the tenant's workspace with its user.
func memberOf(ctx context.Context, tn *Tenant, userID uuid.UUID) (*Member, error) {
	m := new(Member)
	err := tn.db().NewSelect().Model(m).Relation("User").Where("m.user_id = ?", userID).Scan(ctx)
	return m, notFound(err, "member")
}

// confirmActor reloads the actor's membership under the lock and checks it still matches what
// the request saw.
func confirmActor(ctx context.Context, tn *Tenant, actor Actor) (*Member, error) {
	m, err := memberOf(ctx, tn, actor.UserID)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(ErrConflict, "You were removed from this workspace a moment ago.")
	}
	if err != nil {
		return nil, err
	}
	if m.Role != actor.Role {
		return nil, Errorf(ErrConflict, "Your role changed to %s a moment ago. Reload the page and try again.", m.Role.Label())
	}
	return m, nil
}

// CountOwners counts the owners of the tenant's workspace.
func CountOwners(ctx context.Context, tn *Tenant) (int, error) {
	var n int
	err := tn.db().NewSelect().Model((*Member)(nil)).ColumnExpr("count(*)").Where("role = ?", RoleOwner).Scan(ctx, &n)
	return n, err
}

// CountMembers counts the members of the workspace, pending invitations not included.
func CountMembers(ctx context.Context, tn *Tenant) (int64, error) {
	var n int64
	if err := tn.db().NewSelect().Model((*Member)(nil)).ColumnExpr("count(*)").Scan(ctx, &n); err != nil {
		return 0, fmt.Errorf("count members: %w", err)
	}
	return n, nil
}

// checkSeat refuses when the workspace's members plus pending invitations, with more added, would
// exceed the tier's member limit.
func checkSeat(ctx context.Context, tn *Tenant, ws *Workspace, more int64, now time.Time) error {
	limit := ws.Tier.Limits().Members
	if limit.IsUnlimited() {
		return nil
	}
	used, err := SeatsUsed(ctx, tn, now)
	if err != nil {
		return err
	}
	if !limit.Allows(used, more) {
		n, _ := limit.Value()
		noun := "members"
		if n == 1 {
			noun = "member"
		}
		return Errorf(ErrLimitReached, "The %s tier allows %d %s, pending invitations included, and %d taken. "+
			"Revoke a pending invitation, remove a member or move to a bigger tier first.", ws.Tier.Label(), n, noun, used)
	}
	return nil
}

// ChangeRole gives a member another role. Admins manage admins, members and viewers; only an
// owner makes, demotes or changes an owner; the last owner cannot be demoted. It runs in the
// workspace's transaction.
func ChangeRole(ctx context.Context, tn *Tenant, actor Actor, userID uuid.UUID, role Role, now time.Time) error {
	if role.Rank() < 0 {
		return &ValidationError{Fields: map[string]string{"role": "Choose owner, admin, member or viewer."}}
	}
	_, me, err := lockAs(ctx, tn, actor, ActManageMembers, "Only owners and admins change roles.")
	if err != nil {
		return err
	}
	target, err := memberOf(ctx, tn, userID)
	if err != nil {
		return err
	}
	perms, err := permissionsOn(ctx, tn, me, target)
	if err != nil {
		return err
	}
	if err := perms.ChangeRole(role); err != nil {
		return err
	}
	if target.Role == role {
		return nil
	}
	if _, err := tn.db().NewUpdate().Model(target).Set("role = ?", role).WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("change role: %w", err)
	}
	if err := emitMember(ctx, tn, "member.role_changed", target, role, now); err != nil {
		return err
	}
	return Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "member.role_change", Target: target.User.Email,
		Details: map[string]any{"user_id": userID.String(), "before": map[string]any{"role": target.Role}, "after": map[string]any{"role": role}}})
}

// RemoveMember takes a member out of the workspace and revokes the API keys they made in it.
// Admins remove admins, members and viewers; only an owner removes an owner, and never the last.
// Removing yourself is LeaveWorkspace.
func RemoveMember(ctx context.Context, tn *Tenant, actor Actor, userID uuid.UUID, now time.Time) error {
	_, me, err := lockAs(ctx, tn, actor, ActManageMembers, "Only owners and admins remove members.")
	if err != nil {
		return err
	}
	target, err := memberOf(ctx, tn, userID)
	if err != nil {
		return err
	}
	perms, err := permissionsOn(ctx, tn, me, target)
	if err != nil {
		return err
	}
	if err := perms.Remove(); err != nil {
		return err
	}
	keys, err := dropMember(ctx, tn, target, now)
	if err != nil {
		return err
	}
	if err := emitMember(ctx, tn, "member.removed", target, "", now); err != nil {
		return err
	}
	return Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "member.remove", Target: target.User.Email,
		Details: map[string]any{"user_id": userID.String(), "before": map[string]any{"role": target.Role},
			"after": nil, "api_keys_revoked": keys}})
}

// LeaveWorkspace takes the actor out of the workspace; the last owner must hand over first.
func LeaveWorkspace(ctx context.Context, tn *Tenant, actor Actor, now time.Time) error {
	if _, err := lockWorkspace(ctx, tn); err != nil {
		return err
	}
	me, err := confirmActor(ctx, tn, actor)
	if err != nil {
		return err
	}
	perms, err := permissionsOn(ctx, tn, me, me)
	if err != nil {
		return err
	}
	if err := perms.Leave(); err != nil {
		return err
	}
	keys, err := dropMember(ctx, tn, me, now)
	if err != nil {
		return err
	}
	if err := emitMember(ctx, tn, "member.removed", me, "", now); err != nil {
		return err
	}
	return Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "member.leave", Target: me.User.Email,
		Details: map[string]any{"user_id": me.UserID.String(), "before": map[string]any{"role": me.Role},
			"after": nil, "api_keys_revoked": keys}})
}

// dropMember deletes a membership (the caller checked MemberPermissions) and revokes the API keys
// the person made in the workspace so nothing they hold keeps working there.
func dropMember(ctx context.Context, tn *Tenant, m *Member, now time.Time) (keysRevoked int64, err error) {
	if _, err := tn.db().NewDelete().Model(m).WherePK().Exec(ctx); err != nil {
		return 0, fmt.Errorf("remove member: %w", err)
	}
	res, err := tn.db().NewUpdate().Model((*APIKey)(nil)).Set("revoked_at = ?", now).
		Where("created_by = ? AND revoked_at IS NULL", m.UserID).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("revoke keys: %w", err)
	}
	return res.RowsAffected()
}

// TransferOwnership makes another member owner and the actor, an owner, an admin. The actor's
// password is asked again because the step gives the whole workspace away.
func TransferOwnership(ctx context.Context, tn *Tenant, actor Actor, toUserID uuid.UUID, password string, now time.Time) error {
	// The password is checked before the lock: argon2 takes tens of milliseconds that other
	// changes to the workspace should not wait for.
	u, err := UserByID(ctx, tn.db(), actor.UserID)
	if err != nil {
		return err
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	if err != nil {
		return err
	}
	if !ok {
		return &ValidationError{Fields: map[string]string{"password": "That is not your password."}}
	}
	_, me, err := lockAs(ctx, tn, actor, ActManageOwners, "Only an owner can transfer ownership.")
	if err != nil {
		return err
	}
	target := me
	if toUserID != actor.UserID {
		if target, err = memberOf(ctx, tn, toUserID); err != nil {
			return err
		}
	}
	perms, err := permissionsOn(ctx, tn, me, target)
	if err != nil {
		return err
	}
	if err := perms.Transfer(); err != nil {
		return err
	}
	if _, err := tn.db().NewUpdate().Model(target).Set("role = ?", RoleOwner).WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	if _, err := tn.db().NewUpdate().Model(me).Set("role = ?", RoleAdmin).WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	if target != me {
		if err := emitMember(ctx, tn, "member.role_changed", target, RoleOwner, now); err != nil {
			return err
		}
	}
	if err := emitMember(ctx, tn, "member.role_changed", me, RoleAdmin, now); err != nil {
		return err
	}
	return Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "ownership.transfer", Target: target.User.Email,
		Details: map[string]any{"from_user_id": actor.UserID.String(), "to_user_id": toUserID.String(),
			"before": map[string]any{"from": RoleOwner, "to": target.Role},
			"after":  map[string]any{"from": RoleAdmin, "to": RoleOwner}}})
}

// MemberPageSize is how many members one page of the list shows.
const MemberPageSize = 50

// MemberListing is one page of a workspace's members.
type MemberListing struct {
	Members []Member
	// LastActive is each listed member's latest activity (see LastActive).
	LastActive map[uuid.UUID]time.Time
	Total      int
	Page       int
	Pages      int
}

// MemberSort is an order of the member list.
type MemberSort string

// The member list's orders; each reads in the order of an index (see ReadMembersPage).
const (
	MemberSortRole   MemberSort = "role"   // owners first, then by name (the default)
	MemberSortName   MemberSort = "name"   // by name, then email
	MemberSortJoined MemberSort = "joined" // by the date the member joined
	MemberSortActive MemberSort = "active" // by the member's last activity here; never active counts as longest ago
)

// MemberSorts are the list's orders, the default first.
var MemberSorts = []MemberSort{MemberSortRole, MemberSortName, MemberSortJoined, MemberSortActive}

// MemberFilter chooses a page of the member list: a search by name or email (Query), a role
// (none: every role), an order and its direction, and the page (from 1).
type MemberFilter struct {
	Query string
	Role  Role
	Sort  MemberSort
	Desc  bool
	Page  int
}

// ParseMemberSort reads an order as the list's address carries it (see ParseSort): "-joined" is
// newest first. Anything else is the default.
func ParseMemberSort(s string) (MemberSort, bool) {
	return ParseSort(s, MemberSorts, MemberSortRole)
}

// orderBy is the filter's ORDER BY over workspace_members m, ending in a unique tie-break. Each
// order and its reverse follow one index (workspace_members_page_idx for the role, the indexes of
// migration 20261201010101 for the others): an index read backwards gives the other direction. A
// role filter's rows are read from the index and filtered (an enum's comparison is not leakproof,
// so row-level security keeps it out of the index condition): the page reads on until it is full.
func (f MemberFilter) orderBy() string {
	asc := map[MemberSort]string{
		MemberSortRole:   "m.role, m.sort_name, m.sort_email",
		MemberSortName:   "m.sort_name, m.sort_email",
		MemberSortJoined: "m.created_at, m.user_id",
		MemberSortActive: "m.last_seen_at NULLS FIRST, m.user_id",
	}
	desc := map[MemberSort]string{
		MemberSortRole:   "m.role DESC, m.sort_name DESC, m.sort_email DESC",
		MemberSortName:   "m.sort_name DESC, m.sort_email DESC",
		MemberSortJoined: "m.created_at DESC, m.user_id DESC",
		MemberSortActive: "m.last_seen_at DESC NULLS LAST, m.user_id DESC",
	}
	o := asc
	if f.Desc {
		o = desc
	}
	sort := f.Sort
	if _, ok := o[sort]; !ok {
		sort = MemberSortRole
	}
	if sort == MemberSortRole && f.Role != "" {
		// One role listed: its order by role is its order by name, and the name's index holds no
		// other role's rows ahead of it.
		sort = MemberSortName
	}
	return o[sort]
}

// ListMembers returns page (from 1) of the tenant's workspace members whose name or email
// contains query, owners first, then by name.
func ListMembers(ctx context.Context, tn *Tenant, query string, page int) (*MemberListing, error) {
	return ListMembersBy(ctx, tn, MemberFilter{Query: query, Page: page})
}

// ListMembersBy returns the page of the tenant's workspace members that f chooses, in its order.
func ListMembersBy(ctx context.Context, tn *Tenant, f MemberFilter) (*MemberListing, error) {
	query := strings.TrimSpace(f.Query)
	filter := func(q *bun.SelectQuery) *bun.SelectQuery {
		if f.Role != "" {
			q = q.Where("m.role = ?", f.Role)
		}
		if query == "" {
			return q
		}
		pat := "%" + likeEscaper.Replace(query) + "%"
		return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where(`"user".email ILIKE ?`, pat).WhereOr(`"user".name ILIKE ?`, pat)
		})
	}
	out := &MemberListing{}
	err := filter(tn.db().NewSelect().Model((*Member)(nil)).Join(`JOIN users AS "user" ON "user".id = m.user_id`)).
		ColumnExpr("count(*)").Scan(ctx, &out.Total)
	if err != nil {
		return nil, fmt.Errorf("count members: %w", err)
	}
	out.Pages = max(1, (out.Total+MemberPageSize-1)/MemberPageSize)
	out.Page = min(max(f.Page, 1), out.Pages)
	err = filter(tn.db().NewSelect().Model(&out.Members).Relation("User")).
		OrderExpr(f.orderBy()).
		Limit(MemberPageSize).Offset(int64((out.Page - 1) * MemberPageSize)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	out.LastActive, err = LastActive(ctx, tn, out.Members)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LastActive returns when each member was last seen in this workspace. It says nothing of their
// activity elsewhere: that belongs to the other workspaces. Members never seen here are absent.
func LastActive(ctx context.Context, tn *Tenant, members []Member) (map[uuid.UUID]time.Time, error) {
	out := map[uuid.UUID]time.Time{}
	for _, m := range members {
		if m.LastSeenAt != nil {
			out[m.UserID] = *m.LastSeenAt
		}
	}
	return out, nil
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// MemberByUserID loads one member of the tenant's workspace with their user.
func MemberByUserID(ctx context.Context, tn *Tenant, userID uuid.UUID) (*Member, error) {
	m, err := memberOf(ctx, tn, userID)
	if err != nil {
		return nil, err
	}
	m.TwoFactor, err = UserHasSecondFactor(ctx, tn.db(), userID)
	return m, err
}

// lockAs takes the workspace lock, re-reads the actor's membership under it and checks that the
// role may do a; refused is the message when it may not. Every membership and settings change
// starts here.
func lockAs(ctx context.Context, tn *Tenant, actor Actor, a Action, refused string) (*Workspace, *Member, error) {
	ws, err := lockWorkspace(ctx, tn)
	if err != nil {
		return nil, nil, err
	}
	me, err := confirmActor(ctx, tn, actor)
	if err != nil {
		return nil, nil, err
	}
	if !me.Role.Can(a) {
		return nil, nil, Errorf(ErrForbidden, "%s", refused)
	}
	return ws, me, nil
}

// MemberPermissions is what one member (the actor) may do to another (the target, possibly
// themself) in a workspace with Owners owners. It is the one statement of the membership rules:
// ChangeRole, RemoveMember, LeaveWorkspace and TransferOwnership refuse with its answers, and the
// members page offers exactly what it allows.
type MemberPermissions struct {
	Actor  Actor
	Target *Member
	Owners int
}

// permissionsOn reads the owner count and states what me may do to target.
func permissionsOn(ctx context.Context, tn *Tenant, me, target *Member) (MemberPermissions, error) {
	n, err := CountOwners(ctx, tn)
	if err != nil {
		return MemberPermissions{}, err
	}
	return MemberPermissions{Actor: Actor{UserID: me.UserID, Role: me.Role}, Target: target, Owners: n}, nil
}

func (p MemberPermissions) self() bool        { return p.Target.UserID == p.Actor.UserID }
func (p MemberPermissions) targetOwner() bool { return p.Target.Role == RoleOwner }

func (p MemberPermissions) targetName() string {
	if p.Target.User != nil {
		return p.Target.User.DisplayName()
	}
	return "This member"
}

// ChangeRole answers nil when the actor may give the target role to (its current role included),
// else the refusal. Admins manage admins, members and viewers; only an owner makes, demotes or
// changes an owner; the only owner is never demoted.
func (p MemberPermissions) ChangeRole(to Role) error {
	if !p.Actor.Role.Can(ActManageMembers) {
		return Errorf(ErrForbidden, "Only owners and admins change roles.")
	}
	if p.targetOwner() && !p.Actor.Role.Can(ActManageOwners) {
		return Errorf(ErrForbidden, "Only an owner can change an owner's role.")
	}
	if to == RoleOwner && !p.Actor.Role.Can(ActManageOwners) {
		return Errorf(ErrForbidden, "Only an owner can make someone an owner.")
	}
	if p.targetOwner() && to != RoleOwner && p.Owners <= 1 {
		return Errorf(ErrConflict, "%s is the only owner. A workspace always needs one: make someone else owner first.", p.targetName())
	}
	return nil
}

// RoleChoices are the roles the actor may give the target, most powerful first, its current role
// included; nil when the actor may not change the target's role at all.
func (p MemberPermissions) RoleChoices() []Role {
	var out []Role
	changes := false
	for _, r := range Roles {
		if p.ChangeRole(r) == nil {
			out = append(out, r)
			changes = changes || r != p.Target.Role
		} else if r == p.Target.Role {
			return nil
		}
	}
	if !changes {
		return nil
	}
	return out
}

// Remove answers nil when the actor may take the target out of the workspace, else the refusal.
// Admins remove admins, members and viewers; only an owner removes an owner, and never the only
// one; removing yourself is leaving.
func (p MemberPermissions) Remove() error {
	if !p.Actor.Role.Can(ActManageMembers) {
		return Errorf(ErrForbidden, "Only owners and admins remove members.")
	}
	if p.self() {
		return Errorf(ErrForbidden, "To remove yourself, use Leave workspace.")
	}
	if p.targetOwner() && !p.Actor.Role.Can(ActManageOwners) {
		return Errorf(ErrForbidden, "Only an owner can remove an owner.")
	}
	return p.keepsAnOwner()
}

// Leave answers nil when the actor (the target) may leave; the only owner hands over first.
func (p MemberPermissions) Leave() error {
	if !p.self() {
		return Errorf(ErrForbidden, "Only you can leave for yourself.")
	}
	return p.keepsAnOwner()
}

func (p MemberPermissions) keepsAnOwner() error {
	if p.targetOwner() && p.Owners <= 1 {
		return Errorf(ErrConflict, "%s is the only owner. Transfer ownership or make someone else owner first.", p.targetName())
	}
	return nil
}

// Transfer answers nil when the actor may hand ownership to the target: only an owner may, to a
// member who is not an owner already (not to themself).
func (p MemberPermissions) Transfer() error {
	if !p.Actor.Role.Can(ActManageOwners) {
		return Errorf(ErrForbidden, "Only an owner can transfer ownership.")
	}
	if p.self() {
		return Errorf(ErrConflict, "You already own this workspace. Choose another member.")
	}
	if p.targetOwner() {
		return Errorf(ErrConflict, "%s is already an owner. Choose a member who is not.", p.targetName())
	}
	return nil
}

// MembersPageData is what the members page shows, read in one statement by ReadMembersPage.
type MembersPageData struct {
	Listing *MemberListing
	// Owners counts the workspace's owners; Self is the viewer's own membership.
	Owners int
	Self   *Member
	// Seats counts members plus invitations pending at the time given.
	Seats int64
	// Pending and Expired count the open invitations (not accepted or revoked) that have not
	// expired, and that have, at the time given (the invitations list shows them).
	Pending, Expired int
}

type pageUserJSON struct {
	ID          uuid.UUID  `json:"id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	StaffRole   string     `json:"staff_role"`
	CreatedAt   time.Time  `json:"created_at"`
	LastLoginAt *time.Time `json:"last_login_at"`
	DisabledAt  *time.Time `json:"disabled_at"`
}

type pageMemberJSON struct {
	UserID     uuid.UUID    `json:"user_id"`
	Role       Role         `json:"role"`
	CreatedAt  time.Time    `json:"created_at"`
	LastSeenAt *time.Time   `json:"last_seen_at"`
	User       pageUserJSON `json:"user"`
	TwoFactor  bool         `json:"two_factor"`
}

func (j pageMemberJSON) member(ws uuid.UUID) Member {
	u := User{ID: j.User.ID, Email: j.User.Email, Name: j.User.Name, StaffRole: j.User.StaffRole, CreatedAt: j.User.CreatedAt,
		LastLoginAt: j.User.LastLoginAt, DisabledAt: j.User.DisabledAt}
	return Member{Scoped: Scoped{WorkspaceID: ws}, UserID: j.UserID, Role: j.Role, CreatedAt: j.CreatedAt, LastSeenAt: j.LastSeenAt, User: &u,
		TwoFactor: j.TwoFactor}
}

// pageMemberColumns is a member row with its user as JSON (members m, users u).
const pageMemberColumns = `jsonb_build_object('user_id', m.user_id, 'role', m.role, 'created_at', m.created_at,
	'two_factor', atrium_has_second_factor(m.user_id),
	'last_seen_at', m.last_seen_at, 'user', jsonb_build_object('id', u.id, 'email', u.email, 'name', u.name,
	'staff_role', u.staff_role, 'created_at', u.created_at, 'last_login_at', u.last_login_at, 'disabled_at', u.disabled_at))`

// ReadMembersPage reads the members page for a search and a page, in the default order.
func ReadMembersPage(ctx context.Context, tn *Tenant, self uuid.UUID, query string, page int, now time.Time) (*MembersPageData, error) {
	return ReadMembersPageBy(ctx, tn, self, MemberFilter{Query: query, Page: page}, now)
}

// membersPageSQL is ReadMembersPageBy's statement and its arguments.
func membersPageSQL(ws, self uuid.UUID, f MemberFilter, now time.Time) (string, []any) {
	query := strings.TrimSpace(f.Query)
	page := min(max(f.Page, 1), math.MaxInt32) // beyond the last page is the last page
	// Parameters follow the fixed five only when used: a prepared statement cannot leave a
	// parameter unused.
	args := []any{ws, self, page, MemberPageSize, now}
	filter, searchJoin := "", ""
	if query != "" {
		args = append(args, "%"+likeEscaper.Replace(query)+"%")
		n := fmt.Sprint(len(args))
		filter, searchJoin = ` AND (u.email ILIKE $`+n+` OR u.name ILIKE $`+n+`)`, ` JOIN users AS u ON u.id = m.user_id`
	}
	if f.Role != "" {
		args = append(args, string(f.Role))
		filter += ` AND m.role = $` + fmt.Sprint(len(args)) + `::member_role`
	}
	// Without a filter the listing's count is the members' count, which the seats need too: both
	// are the count workspace_member_counts keeps (one row, not every member through row-level
	// security's policy, which is not free).
	counted := `SELECT coalesce((SELECT members FROM workspace_member_counts WHERE workspace_id = $1), 0)::int AS n`
	memberCount := `p.total::bigint`
	if filter != "" {
		memberCount = `coalesce((SELECT members FROM workspace_member_counts WHERE workspace_id = $1), 0)`
		counted = `SELECT count(*)::int AS n FROM workspace_members AS m` + searchJoin + `
		  WHERE m.workspace_id = $1` + filter
	}
	order := f.orderBy()
	// One row per listed member, the page's figures repeated on each (and one row of figures with
	// no member when the page is empty): scanned as columns, not decoded from JSON. The members
	// come in the index's order, numbered as they come (ord), so no sort follows the index's.
	return `WITH paging AS (
		  SELECT n AS total, greatest(1, (n + $4::int - 1) / $4::int) AS pages FROM (` + counted + `) AS c
		), paged AS (
		  SELECT total, pages, least(greatest($3::int, 1), pages) AS page FROM paging
		), open AS (
		  SELECT count(*) FILTER (WHERE expires_at > $5)::int AS pending, count(*) FILTER (WHERE expires_at <= $5)::int AS expired
		  FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL
		), head AS (
		  SELECT p.total, p.page, p.pages,
		    (SELECT count(*)::int FROM workspace_members WHERE workspace_id = $1 AND role = 'owner') AS owners,
		    ` + memberCount + ` + o.pending AS seats, o.pending, o.expired,
		    (SELECT ` + pageMemberColumns + ` FROM workspace_members AS m JOIN users AS u ON u.id = m.user_id
		       WHERE m.workspace_id = $1 AND m.user_id = $2) AS self
		  FROM paged AS p, open AS o
		), listed AS MATERIALIZED (
		  SELECT m.*, row_number() OVER () AS ord FROM (
		    SELECT m.* FROM workspace_members AS m` + searchJoin + `
		    WHERE m.workspace_id = $1` + filter + `
		    ORDER BY ` + order + ` LIMIT $4::int OFFSET ((SELECT page FROM head) - 1) * $4::int
		  ) AS m
		), f AS (SELECT array(SELECT atrium_second_factor_users(array(SELECT user_id FROM listed))) AS users)
		SELECT h.total, h.page, h.pages, h.owners, h.seats, h.pending, h.expired, h.self,
		  m.ord, m.user_id, m.role::text, m.created_at, m.user_id = ANY (f.users), m.last_seen_at,
		  u.id, u.email::text, u.name, u.staff_role, u.created_at, u.last_login_at, u.disabled_at
		FROM head AS h CROSS JOIN f
		LEFT JOIN listed AS m ON true
		LEFT JOIN LATERAL (SELECT * FROM users AS u WHERE u.id = m.user_id) AS u ON true`, args
}

// ReadMembersPageBy reads, in one statement, what the members page shows: the page of members f
// chooses (as ListMembersBy), the owners (CountOwners), the viewer's own membership
// (MemberByUserID), the seats used at now (SeatsUsed) and the counts of open invitations, pending
// and expired. It runs inside the workspace's transaction.
//
// The page is read in the order of an index: workspace_members_page_idx (role, then the sort keys
// each membership keeps of its user's name and email) for the default order, and one index per
// other order whose columns follow workspace_id in the ORDER BY's order, ending in a unique
// tie-break (by name, date joined, last active); the other direction reads the same index
// backwards. So without a search it reads only the rows up to the page's end, not every member:
// under row-level security the index's condition is workspace_id alone, a leakproof comparison,
// and the order is the index's. A role filter compares an enum, which is not leakproof: it is a
// filter on the index's rows (reading on until the page is full), unless a partial index per value
// carries it, as workspace_members_owners_idx does for the owner count. A search (query) reads
// every member's name and email, as a search must.
func ReadMembersPageBy(ctx context.Context, tn *Tenant, self uuid.UUID, f MemberFilter, now time.Time) (*MembersPageData, error) {
	query, args := membersPageSQL(tn.ws, self, f, now)
	rows, err := tn.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("members page: %w", err)
	}
	defer rows.Close()
	var out *MembersPageData
	var selfJSON []byte
	type listed struct {
		ord int64
		m   Member
	}
	var page []listed
	for rows.Next() {
		var h MembersPageData
		var l MemberListing
		var self []byte
		var (
			ord                                  *int64
			userID, uid                          *uuid.UUID
			role, email, name, staff             *string
			joined, seen, created, login, disabl *time.Time
			twoFactor                            *bool
		)
		if err := rows.Scan(&l.Total, &l.Page, &l.Pages, &h.Owners, &h.Seats, &h.Pending, &h.Expired, &self,
			&ord, &userID, &role, &joined, &twoFactor, &seen,
			&uid, &email, &name, &staff, &created, &login, &disabl); err != nil {
			return nil, fmt.Errorf("members page: %w", err)
		}
		if out == nil {
			h.Listing = &MemberListing{Total: l.Total, Page: l.Page, Pages: l.Pages}
			out, selfJSON = &h, self
		}
		if ord == nil {
			continue // the empty page's one row of figures
		}
		m := Member{Scoped: Scoped{WorkspaceID: tn.ws}, UserID: *userID, Role: Role(*role), CreatedAt: *joined, LastSeenAt: seen,
			TwoFactor: *twoFactor}
		if uid != nil {
			m.User = &User{ID: *uid, Email: *email, Name: *name, StaffRole: *staff, CreatedAt: *created, LastLoginAt: login,
				DisabledAt: disabl}
		}
		page = append(page, listed{*ord, m})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("members page: %w", err)
	}
	if out == nil {
		return nil, errors.New("members page: no row")
	}
	slices.SortFunc(page, func(a, b listed) int { return cmp.Compare(a.ord, b.ord) })
	for _, l := range page {
		out.Listing.Members = append(out.Listing.Members, l.m)
	}
	rows.Close()
	if out.Listing.LastActive, err = LastActive(ctx, tn, out.Listing.Members); err != nil {
		return nil, err
	}
	if len(selfJSON) == 0 {
		return nil, Errorf(ErrNotFound, "member not found")
	}
	var me pageMemberJSON
	if err := json.Unmarshal(selfJSON, &me); err != nil {
		return nil, fmt.Errorf("members page: %w", err)
	}
	m := me.member(tn.ws)
	out.Self = &m
	return out, nil
}

// emitMember emits a member event about m; role is the role after the change ("" when removed).
func emitMember(ctx context.Context, tn *Tenant, typ string, m *Member, role Role, now time.Time) error {
	data := map[string]any{"user_id": m.UserID.String(), "role": role, "previous_role": m.Role}
	if m.User != nil {
		data["email"] = m.User.Email
	}
	if role == "" {
		data["role"] = nil
	}
	return EmitEvent(ctx, tn, typ, data, now)
}
