package models

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// InvitationLifetime is how long an invitation link stays valid.
const InvitationLifetime = 7 * 24 * time.Hour

// Invitation asks someone by email to join a workspace. Only the token's hash is stored.
type Invitation struct {
	bun.BaseModel `bun:"table:invitations,alias:inv"`
	Scoped

	ID         uuid.UUID  `bun:"id,pk,type:uuid"`
	Email      string     `bun:"email"`
	Role       Role       `bun:"role"`
	TokenHash  string     `bun:"token_hash"`
	InvitedBy  *uuid.UUID `bun:"invited_by,type:uuid"`
	CreatedAt  time.Time  `bun:"created_at,nullzero,notnull"`
	ExpiresAt  time.Time  `bun:"expires_at"`
	AcceptedAt *time.Time `bun:"accepted_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
}

// InvitationState is where an invitation stands.
type InvitationState string

// The states of an invitation.
const (
	InvitationPending  InvitationState = "pending"
	InvitationExpired  InvitationState = "expired"
	InvitationRevoked  InvitationState = "revoked"
	InvitationAccepted InvitationState = "accepted"
)

// invitationState is the state of an invitation with these timestamps at now.
func invitationState(expires time.Time, accepted, revoked *time.Time, now time.Time) InvitationState {
	switch {
	case accepted != nil:
		return InvitationAccepted
	case revoked != nil:
		return InvitationRevoked
	case !now.Before(expires):
		return InvitationExpired
	}
	return InvitationPending
}

// State is where the invitation stands at now.
func (i *Invitation) State(now time.Time) InvitationState {
	return invitationState(i.ExpiresAt, i.AcceptedAt, i.RevokedAt, now)
}

// newInvitationToken returns a fresh token for the link and the hash that is stored.
func newInvitationToken() (token, hash string) {
	b := make([]byte, 32)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashInvitationToken(token)
}

// HashInvitationToken is the stored form of a token: SHA-256, hex.
func HashInvitationToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// plausibleToken rejects strings that cannot be a token before any lookup.
func plausibleToken(token string) bool {
	if len(token) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil
}

// IssuedInvitation is an invitation with its token, which exists only until the link is sent or shown.
type IssuedInvitation struct {
	*Invitation
	Token string
}

// PendingInvitations lists the tenant's workspace invitations that are neither accepted nor
// revoked (expired ones included, so they can be resent), newest first.
func PendingInvitations(ctx context.Context, tn *Tenant) ([]Invitation, error) {
	var out []Invitation
	err := tn.db().NewSelect().Model(&out).Where("accepted_at IS NULL AND revoked_at IS NULL").
		Order("created_at DESC").Limit(500).Scan(ctx)
	return out, err
}

// InviterNames maps the inviters of invs to their display names.
func InviterNames(ctx context.Context, tn *Tenant, invs []Invitation) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	var ids []uuid.UUID
	for _, inv := range invs {
		if inv.InvitedBy != nil {
			ids = append(ids, *inv.InvitedBy)
		}
	}
	if len(ids) == 0 {
		return out, nil
	}
	var users []User
	if err := tn.db().NewSelect().Model(&users).Where("id IN (?)", bun.List(ids)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("inviter names: %w", err)
	}
	for _, u := range users {
		out[u.ID] = u.DisplayName()
	}
	return out, nil
}

// CreateInvitation invites email to the tenant's workspace with role. Admins invite admins,
// members and viewers; only an owner invites an owner. The invitation holds a seat of the tier's
// member limit until it is accepted, revoked or expires.
func CreateInvitation(ctx context.Context, tn *Tenant, actor Actor, email string, role Role, now time.Time) (*IssuedInvitation, error) {
	var v ValidationError
	email, ok := NormalizeEmail(email)
	if !ok {
		v.Add("email", "Enter a valid email address.")
	}
	if role.Rank() < 0 {
		v.Add("role", "Choose owner, admin, member or viewer.")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	ws, me, err := lockAs(ctx, tn, actor, ActManageMembers, "Only owners and admins invite people.")
	if err != nil {
		return nil, err
	}
	if err := (InvitationPermissions{Role: me.Role}).Invite(role); err != nil {
		return nil, err
	}
	var members int
	if err := tn.db().NewSelect().Model((*Member)(nil)).ColumnExpr("count(*)").
		Join(`JOIN users AS u ON u.id = m.user_id`).Where("u.email = ?", email).Scan(ctx, &members); err != nil {
		return nil, err
	}
	if members > 0 {
		v.Add("email", email+" is already a member of this workspace.")
		return nil, &v
	}
	// One open invitation per address (a unique index says so too). An expired one is replaced.
	old := new(Invitation)
	err = tn.db().NewSelect().Model(old).Where("email = ? AND accepted_at IS NULL AND revoked_at IS NULL", email).Scan(ctx)
	replaced := ""
	switch {
	case err == nil && old.State(now) == InvitationPending:
		v.Add("email", email+" is already invited. Resend that invitation from the list instead.")
		return nil, &v
	case err == nil:
		if _, err := tn.db().NewUpdate().Model(old).Set("revoked_at = ?", now).WherePK().Exec(ctx); err != nil {
			return nil, err
		}
		replaced = old.ID.String()
	case !errors.Is(notFound(err, "invitation"), ErrNotFound):
		return nil, err
	}
	if err := checkSeat(ctx, tn, ws, 1, now); err != nil {
		return nil, err
	}
	token, hash := newInvitationToken()
	inv := &Invitation{ID: NewID(), Email: email, Role: role, TokenHash: hash, InvitedBy: &actor.UserID,
		CreatedAt: now, ExpiresAt: now.Add(InvitationLifetime)}
	if _, err := tn.db().NewInsert().Model(inv).Exec(ctx); err != nil {
		return nil, fmt.Errorf("create invitation: %w", err)
	}
	if err := seatAlert(ctx, tn, ws.Tier, now); err != nil {
		return nil, err
	}
	details := map[string]any{"invitation_id": inv.ID.String(), "before": nil,
		"after": map[string]any{"email": email, "role": role, "expires_at": inv.ExpiresAt}}
	if replaced != "" {
		details["replaces_expired"] = replaced
	}
	if err := Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "invitation.create", Target: email, Details: details}); err != nil {
		return nil, err
	}
	if err := emitInvitation(ctx, tn, "invitation.created", inv, now); err != nil {
		return nil, err
	}
	return &IssuedInvitation{Invitation: inv, Token: token}, nil
}

// openInvitation loads an invitation of the tenant's workspace that is still open and checks the
// actor may manage it.
func openInvitation(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID) (*Workspace, *Invitation, error) {
	ws, me, err := lockAs(ctx, tn, actor, ActManageMembers, "Only owners and admins manage invitations.")
	if err != nil {
		return nil, nil, err
	}
	inv := new(Invitation)
	if err := tn.db().NewSelect().Model(inv).Where("id = ?", id).Scan(ctx); err != nil {
		return nil, nil, notFound(err, "invitation")
	}
	if err := (InvitationPermissions{Role: me.Role}).Manage(inv); err != nil {
		return nil, nil, err
	}
	switch {
	case inv.AcceptedAt != nil:
		return nil, nil, Errorf(ErrConflict, "%s has already accepted this invitation.", inv.Email)
	case inv.RevokedAt != nil:
		return nil, nil, Errorf(ErrConflict, "This invitation was already revoked.")
	}
	return ws, inv, nil
}

// ManagedInvitation loads an open invitation the actor may manage, changing nothing: for the
// page that asks before it is revoked.
func ManagedInvitation(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID) (*Invitation, error) {
	_, inv, err := openInvitation(ctx, tn, actor, id)
	return inv, err
}

// ResendInvitation issues a fresh link valid for another seven days; the old link stops working.
// An expired invitation takes its seat back, so the member limit is checked again.
func ResendInvitation(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, now time.Time) (*IssuedInvitation, error) {
	ws, inv, err := openInvitation(ctx, tn, actor, id)
	if err != nil {
		return nil, err
	}
	before := inv.ExpiresAt
	if inv.State(now) == InvitationExpired {
		if err := checkSeat(ctx, tn, ws, 1, now); err != nil {
			return nil, err
		}
	}
	token, hash := newInvitationToken()
	inv.TokenHash, inv.ExpiresAt = hash, now.Add(InvitationLifetime)
	if _, err := tn.db().NewUpdate().Model(inv).Column("token_hash", "expires_at").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("resend invitation: %w", err)
	}
	if err := Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "invitation.resend", Target: inv.Email,
		Details: map[string]any{"invitation_id": inv.ID.String(), "before": map[string]any{"expires_at": before},
			"after": map[string]any{"expires_at": inv.ExpiresAt}}}); err != nil {
		return nil, err
	}
	return &IssuedInvitation{Invitation: inv, Token: token}, nil
}

// RevokeInvitation withdraws an invitation; its link stops working and its seat is free.
func RevokeInvitation(ctx context.Context, tn *Tenant, actor Actor, id uuid.UUID, now time.Time) (*Invitation, error) {
	_, inv, err := openInvitation(ctx, tn, actor, id)
	if err != nil {
		return nil, err
	}
	inv.RevokedAt = &now
	if _, err := tn.db().NewUpdate().Model(inv).Column("revoked_at").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("revoke invitation: %w", err)
	}
	if err := emitInvitation(ctx, tn, "invitation.revoked", inv, now); err != nil {
		return nil, err
	}
	return inv, Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "invitation.revoke", Target: inv.Email,
		Details: map[string]any{"invitation_id": inv.ID.String(), "before": map[string]any{"state": InvitationPending, "role": inv.Role},
			"after": map[string]any{"state": InvitationRevoked}}})
}

// InvitationInfo is what an invitation link shows before its workspace is known to the request.
type InvitationInfo struct {
	ID            uuid.UUID  `bun:"id"`
	WorkspaceID   uuid.UUID  `bun:"workspace_id"`
	Email         string     `bun:"email"`
	Role          Role       `bun:"role"`
	ExpiresAt     time.Time  `bun:"expires_at"`
	AcceptedAt    *time.Time `bun:"accepted_at"`
	RevokedAt     *time.Time `bun:"revoked_at"`
	WorkspaceName string     `bun:"workspace_name"`
	WorkspaceSlug string     `bun:"workspace_slug"`
	InviterName   string     `bun:"inviter_name"`
}

// State is where the invitation stands at now.
func (i *InvitationInfo) State(now time.Time) InvitationState {
	return invitationState(i.ExpiresAt, i.AcceptedAt, i.RevokedAt, now)
}

// IsFor reports whether the invitation was sent to u's email.
func (i *InvitationInfo) IsFor(u *User) bool {
	return u != nil && strings.EqualFold(i.Email, u.Email)
}

// InvitationByToken finds the invitation a link's token belongs to, across workspaces (through
// the narrow SECURITY DEFINER lookup). An unknown token is ErrNotFound.
func InvitationByToken(ctx context.Context, db bun.IDB, token string) (*InvitationInfo, error) {
	if !plausibleToken(token) {
		return nil, Errorf(ErrNotFound, "invitation not found")
	}
	var out []InvitationInfo
	if err := db.NewRaw("SELECT * FROM atrium_invitation_by_token(?)", HashInvitationToken(token)).Scan(ctx, &out); err != nil {
		return nil, fmt.Errorf("find invitation: %w", err)
	}
	if len(out) == 0 {
		return nil, Errorf(ErrNotFound, "invitation not found")
	}
	return &out[0], nil
}

// AcceptInvitation makes user a member of the invitation's workspace with the invited role. The
// link works once, for seven days, and only for the invited email. It finds the workspace by the
// token and then runs in that workspace's transaction, under its lock.
func AcceptInvitation(ctx context.Context, db bun.IDB, user *User, token string, now time.Time) (*Membership, error) {
	info, err := InvitationByToken(ctx, db, token)
	if err != nil {
		return nil, err
	}
	var out *Membership
	err = InWorkspace(ctx, db, info.WorkspaceID, func(ctx context.Context, tn *Tenant) error {
		ws, err := lockWorkspace(ctx, tn)
		if err != nil {
			return err
		}
		inv := new(Invitation)
		err = tn.db().NewSelect().Model(inv).Where("id = ? AND token_hash = ?", info.ID, HashInvitationToken(token)).Scan(ctx)
		if err != nil {
			// Resent in the meantime: this link was replaced by a newer one.
			return Errorf(ErrConflict, "This invitation link was replaced by a newer one. Use the latest email, or ask for a new link.")
		}
		if !strings.EqualFold(inv.Email, user.Email) {
			return Errorf(ErrForbidden, "This invitation is for %s, but you are logged in as %s. Log out, then log in or sign up as %s to accept it.",
				inv.Email, user.Email, inv.Email)
		}
		switch inv.State(now) {
		case InvitationAccepted:
			return Errorf(ErrConflict, "This invitation has already been used.")
		case InvitationRevoked:
			return Errorf(ErrConflict, "This invitation was withdrawn. Ask a workspace admin for a new one.")
		case InvitationExpired:
			return Errorf(ErrConflict, "This invitation expired on %s. Ask a workspace admin to resend it.", inv.ExpiresAt.UTC().Format("Jan 2, 2006"))
		}
		if _, err := memberOf(ctx, tn, user.ID); err == nil {
			return Errorf(ErrConflict, "You are already a member of %s.", ws.Name)
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		// The pending invitation already holds its seat: accepting moves it, never adds one. The check
		// still refuses when a downgrade left the workspace over its limit.
		if err := checkSeat(ctx, tn, ws, 0, now); err != nil {
			return err
		}
		m := &Member{UserID: user.ID, Role: inv.Role, CreatedAt: now}
		if _, err := tn.db().NewInsert().Model(m).Exec(ctx); err != nil {
			return fmt.Errorf("add member: %w", err)
		}
		inv.AcceptedAt = &now
		if _, err := tn.db().NewUpdate().Model(inv).Column("accepted_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
		if err := seatAlert(ctx, tn, ws.Tier, now); err != nil {
			return err
		}
		// The link reached the invited inbox: that address is confirmed.
		if err := markVerifiedBy(ctx, tn.db(), user, inv.Email, now); err != nil {
			return err
		}
		out = &Membership{ID: ws.ID, Name: ws.Name, Slug: ws.Slug, Tier: ws.Tier, Role: inv.Role, JoinedAt: now}
		if err := emitInvitation(ctx, tn, "invitation.accepted", inv, now); err != nil {
			return err
		}
		err = EmitEvent(ctx, tn, "member.added", map[string]any{"user_id": user.ID.String(), "email": user.Email, "role": inv.Role,
			"invitation_id": inv.ID.String()}, now)
		if err != nil {
			return err
		}
		return Record(ctx, tn, Event{At: now, ActorUserID: user.ID, Action: "invitation.accept", Target: user.Email,
			Details: map[string]any{"invitation_id": inv.ID.String(), "user_id": user.ID.String(), "before": nil,
				"after": map[string]any{"role": inv.Role}}})
	})
	return out, err
}

// InvitationPermissions is what a member of role Role may do with invitations. It is the one
// statement of the invitation rules: CreateInvitation, ResendInvitation and RevokeInvitation refuse
// with its answers, and the members page offers exactly what it allows.
type InvitationPermissions struct {
	Role Role
}

// Invite answers nil when the member may invite someone as role, else the refusal. Owners and
// admins invite; only an owner invites an owner.
func (p InvitationPermissions) Invite(role Role) error {
	if !p.Role.Can(ActManageMembers) {
		return Errorf(ErrForbidden, "Only owners and admins invite people.")
	}
	if role == RoleOwner && !p.Role.Can(ActManageOwners) {
		return Errorf(ErrForbidden, "Only an owner can invite an owner.")
	}
	return nil
}

// InviteRoles are the roles the member may invite as, most powerful first; nil when they may not
// invite at all.
func (p InvitationPermissions) InviteRoles() []Role {
	var out []Role
	for _, r := range Roles {
		if p.Invite(r) == nil {
			out = append(out, r)
		}
	}
	return out
}

// Manage answers nil when the member may resend or revoke inv, else the refusal. Owners and
// admins manage invitations; only an owner manages an invitation to become owner.
func (p InvitationPermissions) Manage(inv *Invitation) error {
	if !p.Role.Can(ActManageMembers) {
		return Errorf(ErrForbidden, "Only owners and admins manage invitations.")
	}
	if inv.Role == RoleOwner && !p.Role.Can(ActManageOwners) {
		return Errorf(ErrForbidden, "Only an owner can manage an invitation to become owner.")
	}
	return nil
}

// InvitationPageSize is how many invitations one page of the list shows.
const InvitationPageSize = 50

// InvitationListing is one page of a workspace's open invitations (neither accepted nor
// revoked) of one state, with the counts of both states.
type InvitationListing struct {
	Invitations []Invitation
	// InviterNames maps the listed invitations' inviters to their display names.
	InviterNames     map[uuid.UUID]string
	Pending, Expired int
	// Total counts the listed state's invitations; Page and Pages number its pages from 1.
	Total, Page, Pages int
}

// ListInvitations reads, in one statement, page (from 1) of the tenant's workspace's open
// invitations that are pending at now, or that have expired (expired), newest first, with the
// inviters' names and both states' counts. It reads invitations_open_idx: accepted and revoked
// invitations are not in it.
func ListInvitations(ctx context.Context, tn *Tenant, expired bool, page int, now time.Time) (*InvitationListing, error) {
	page = min(max(page, 1), 1<<30)
	state := `i.expires_at > $2`
	if expired {
		state = `i.expires_at <= $2`
	}
	var row struct {
		Pending, Expired int
		Rows             []byte
	}
	err := tn.queryRow(ctx, `WITH counts AS (
		  SELECT count(*) FILTER (WHERE expires_at > $2)::int AS pending, count(*) FILTER (WHERE expires_at <= $2)::int AS expired
		  FROM invitations WHERE workspace_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL
		)
		SELECT c.pending, c.expired,
		  (SELECT coalesce(jsonb_agg(jsonb_build_object('id', i.id, 'email', i.email, 'role', i.role, 'invited_by', i.invited_by,
		       'created_at', i.created_at, 'expires_at', i.expires_at, 'inviter_name', u.name, 'inviter_email', u.email)
		       ORDER BY i.created_at DESC, i.id), '[]')
		   FROM (SELECT * FROM invitations AS i
		     WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND `+state+`
		     ORDER BY i.created_at DESC, i.id LIMIT $3::int
		     OFFSET (least($4::int, greatest(1, (CASE WHEN $5::bool THEN c.expired ELSE c.pending END + $3::int - 1) / $3::int)) - 1) * $3::int) AS i
		   LEFT JOIN users AS u ON u.id = i.invited_by) AS rows
		FROM counts AS c`, tn.ws, now, InvitationPageSize, page, expired).Scan(&row.Pending, &row.Expired, &row.Rows)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	out := &InvitationListing{Pending: row.Pending, Expired: row.Expired, InviterNames: map[uuid.UUID]string{}}
	out.Total = out.Pending
	if expired {
		out.Total = out.Expired
	}
	out.Pages = max(1, (out.Total+InvitationPageSize-1)/InvitationPageSize)
	out.Page = min(page, out.Pages)
	var invs []struct {
		ID          uuid.UUID  `json:"id"`
		Email       string     `json:"email"`
		Role        Role       `json:"role"`
		InvitedBy   *uuid.UUID `json:"invited_by"`
		CreatedAt   time.Time  `json:"created_at"`
		ExpiresAt   time.Time  `json:"expires_at"`
		InviterName *string    `json:"inviter_name"`
		InviterMail *string    `json:"inviter_email"`
	}
	if err := json.Unmarshal(row.Rows, &invs); err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	for _, j := range invs {
		out.Invitations = append(out.Invitations, Invitation{Scoped: Scoped{WorkspaceID: tn.ws}, ID: j.ID, Email: j.Email, Role: j.Role,
			InvitedBy: j.InvitedBy, CreatedAt: j.CreatedAt, ExpiresAt: j.ExpiresAt})
		if j.InvitedBy != nil && j.InviterMail != nil {
			name := ""
			if j.InviterName != nil {
				name = *j.InviterName
			}
			out.InviterNames[*j.InvitedBy] = (&User{Name: name, Email: *j.InviterMail}).DisplayName()
		}
	}
	return out, nil
}

// emitInvitation emits an invitation event about inv.
func emitInvitation(ctx context.Context, tn *Tenant, typ string, inv *Invitation, now time.Time) error {
	return EmitEvent(ctx, tn, typ, map[string]any{"invitation_id": inv.ID.String(), "email": inv.Email, "role": inv.Role,
		"expires_at": inv.ExpiresAt.UTC().Format(time.RFC3339)}, now)
}
