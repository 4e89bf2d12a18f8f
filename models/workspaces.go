package models

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Workspace is the tenant. Its row is guarded by row-level security on its id.
type Workspace struct {
	bun.BaseModel `bun:"table:workspaces,alias:w"`

	ID        uuid.UUID `bun:"id,pk,type:uuid"`
	Name      string    `bun:"name"`
	Slug      string    `bun:"slug"`
	Tier      Tier      `bun:"tier"`
	CreatedAt time.Time `bun:"created_at,nullzero,notnull"`
	// RequireTwoFactor sends members without a second factor to set one up before they open the
	// workspace.
	RequireTwoFactor bool `bun:"require_two_factor"`
	// DeletedAt is when an owner deleted the workspace: from then it is hidden from its members,
	// its keys are refused, and after DeletionGrace it is erased. DeletedBy is that owner.
	DeletedAt *time.Time `bun:"deleted_at"`
	DeletedBy *uuid.UUID `bun:"deleted_by,type:uuid"`
	// NotifySupportAccess mails the owners each time support staff are granted access.
	NotifySupportAccess bool `bun:"notify_support_access"`
}

// Member is a user's membership in a workspace (the memo's UserWorkspace).
type Member struct {
	bun.BaseModel `bun:"table:workspace_members,alias:m"`
	Scoped

	UserID     uuid.UUID  `bun:"user_id,pk,type:uuid"`
	Role       Role       `bun:"role"`
	CreatedAt  time.Time  `bun:"created_at,nullzero,notnull"`
	LastSeenAt *time.Time `bun:"last_seen_at"`

	User *User `bun:"rel:belongs-to,join:user_id=id"`
	// TwoFactor is whether the member has a second factor (the members page and MemberByUserID
	// only).
	TwoFactor bool `bun:"-"`
}

// Membership is a workspace as one user sees it: the workspace and their role in it.
type Membership struct {
	ID       uuid.UUID `bun:"id"`
	Name     string    `bun:"name"`
	Slug     string    `bun:"slug"`
	Tier     Tier      `bun:"tier"`
	Role     Role      `bun:"role"`
	JoinedAt time.Time `bun:"joined_at"` // UserWorkspaces only
	// LastSeenAt is when the member last opened the workspace (ResolveMembership only).
	LastSeenAt *time.Time `bun:"last_seen_at"`
	// RequireTwoFactor is the workspace's setting (ResolveMembership only).
	RequireTwoFactor bool `bun:"require_two_factor"`
	// NotifySupportAccess is the workspace's setting (ResolveMembership only).
	NotifySupportAccess bool `bun:"notify_support_access"`
}

var slugRe = regexp.MustCompile(`^[a-z0-9-]{3,40}$`)

// reservedSlugs would read as console paths or confuse people.
var reservedSlugs = map[string]bool{"new": true, "api": true, "admin": true, "support": true, "static": true}

// CheckSlug returns a user-facing reason the slug is not acceptable, or "".
func CheckSlug(slug string) string {
	switch {
	case !slugRe.MatchString(slug):
		return "Use 3–40 lower-case letters, digits or hyphens."
	case strings.HasPrefix(slug, "-") || strings.HasSuffix(slug, "-"):
		return "Don't start or end with a hyphen."
	case reservedSlugs[slug]:
		return "This address is reserved."
	}
	return ""
}

// CheckWorkspaceName returns a user-facing reason the name is not acceptable, or "".
func CheckWorkspaceName(name string) string {
	if msg := TextProblem(name, false); msg != "" {
		return msg
	}
	n := utf8.RuneCountInString(strings.TrimSpace(name))
	if n < 1 || n > 80 {
		return "Use 1–80 characters."
	}
	return ""
}

// SlugTaken reports whether any workspace uses slug (a lookup across tenants by nature).
func SlugTaken(ctx context.Context, db bun.IDB, slug string) (bool, error) {
	var taken bool
	err := db.NewRaw("SELECT atrium_slug_taken(?)", slug).Scan(ctx, &taken)
	return taken, err
}

// CreateWorkspace makes a workspace on the free tier with creator as its owner.
func CreateWorkspace(ctx context.Context, db bun.IDB, creator *User, name, slug string, now time.Time) (*Workspace, error) {
	name = strings.TrimSpace(name)
	slug = strings.ToLower(strings.TrimSpace(slug))
	var v ValidationError
	if msg := CheckWorkspaceName(name); msg != "" {
		v.Add("name", msg)
	}
	if msg := CheckSlug(slug); msg != "" {
		v.Add("slug", msg)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	ws := &Workspace{ID: NewID(), Name: name, Slug: slug, Tier: TierFree, CreatedAt: now}
	err := InWorkspace(ctx, db, ws.ID, func(ctx context.Context, tn *Tenant) error {
		if _, err := tn.db().NewInsert().Model(ws).Exec(ctx); err != nil {
			return err
		}
		m := &Member{UserID: creator.ID, Role: RoleOwner, CreatedAt: now}
		if _, err := tn.db().NewInsert().Model(m).Exec(ctx); err != nil {
			return err
		}
		return Record(ctx, tn, Event{At: now, ActorUserID: creator.ID, Action: "workspace.create", Target: slug,
			Details: map[string]any{"name": name}})
	})
	if isUniqueViolation(err) {
		v.Add("slug", "This address is taken.")
		return nil, &v
	}
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// UserWorkspaces lists the workspaces a user belongs to, with their role, by name.
func UserWorkspaces(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]Membership, error) {
	var out []Membership
	err := db.NewRaw("SELECT * FROM atrium_user_workspaces(?)", userID).Scan(ctx, &out)
	return out, err
}

// ResolveMembership finds the workspace with slug among the user's; a workspace the user does not
// belong to is ErrNotFound, exactly like one that does not exist.
func ResolveMembership(ctx context.Context, db bun.IDB, slug string, userID uuid.UUID) (*Membership, error) {
	var out []Membership
	if err := db.NewRaw("SELECT * FROM atrium_member_workspace(?, ?)", slug, userID).Scan(ctx, &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, Errorf(ErrNotFound, "workspace not found")
	}
	return &out[0], nil
}

// WorkspaceByID loads the workspace the transaction is bound to.
func WorkspaceByID(ctx context.Context, tn *Tenant, id uuid.UUID) (*Workspace, error) {
	ws := new(Workspace)
	err := tn.db().NewSelect().Model(ws).Where("id = ?", id).Scan(ctx)
	return ws, notFound(err, "workspace")
}

// TouchMember notes that the user is in the tenant's workspace now; it writes only when the last
// note is a minute old or more.
func TouchMember(ctx context.Context, tn *Tenant, userID uuid.UUID, now time.Time) error {
	_, err := tn.db().NewUpdate().Model((*Member)(nil)).Set("last_seen_at = ?", now).
		Where("user_id = ?", userID).
		Where("last_seen_at IS NULL OR last_seen_at < ?", now.Add(-time.Minute)).Exec(ctx)
	return err
}

// RequestFrame is what a signed-in request needs before its handler runs, read in one query: the
// user, the user's membership of the workspace the URL names, and the user's workspaces for the
// switcher.
type RequestFrame struct {
	User *User
	// Membership is nil when the request names no workspace, or one the user does not belong to
	// (which is then ErrNotFound for the route, exactly like one that does not exist).
	Membership *Membership
	// Workspaces is the switcher's list; nil unless it was asked for.
	Workspaces []Membership
	// SecondFactor reports whether the user has a second factor in use (atrium_has_second_factor).
	SecondFactor bool
}

// frameMembership is a membership as the frame query returns it (JSON of the lookup functions' rows).
type frameMembership struct {
	ID         uuid.UUID  `json:"id"`
	Name       string     `json:"name"`
	Slug       string     `json:"slug"`
	Tier       Tier       `json:"tier"`
	Role       Role       `json:"role"`
	JoinedAt   time.Time  `json:"joined_at"`
	LastSeenAt *time.Time `json:"last_seen_at"`
	// RequireTwoFactor is the workspace's setting (the membership lookup only).
	RequireTwoFactor bool `json:"require_two_factor"`
	// NotifySupportAccess is the workspace's setting (the membership lookup only).
	NotifySupportAccess bool `json:"notify_support_access"`
}

func (f frameMembership) membership() Membership {
	return Membership(f)
}

// frameRow is the frame query's row: the user and the lookups as JSON.
type frameRow struct {
	User         `bun:",extend"`
	Member       []byte `bun:"frame_member"`
	List         []byte `bun:"frame_switcher"`
	SecondFactor bool   `bun:"frame_second_factor"`
}

// frameColumns are the frame query's columns beside the user's (alias u): whether the user has a
// second factor, the membership of the workspace named by slug (an SQL expression: a quoted
// literal or a parameter; "" for none), and the switcher's list when it is wanted. LoadFrame and
// the session store's frame query share them.
func frameColumns(slug string, switcher bool) string {
	var b strings.Builder
	b.WriteString(`coalesce(atrium_has_second_factor(u.id), false) AS frame_second_factor, `)
	if slug != "" {
		b.WriteString(`(SELECT to_jsonb(m) FROM atrium_member_workspace(` + slug + `, u.id) AS m LIMIT 1) AS frame_member`)
	} else {
		b.WriteString(`NULL::jsonb AS frame_member`)
	}
	if switcher {
		b.WriteString(`, (SELECT coalesce(jsonb_agg(to_jsonb(w) ORDER BY lower(w.name), w.slug), '[]')
			FROM atrium_user_workspaces(u.id) AS w) AS frame_switcher`)
	} else {
		b.WriteString(`, NULL::jsonb AS frame_switcher`)
	}
	return b.String()
}

// frameSlug is the slug as frameColumns takes it: a quoted literal, or "" for a slug that cannot
// be one (no workspace, and not sent).
func frameSlug(slug string) string {
	if !slugRe.MatchString(slug) {
		return ""
	}
	return quoteText(slug)
}

// quoteText quotes a checked slug (lower-case letters, digits, hyphens) as an SQL literal.
func quoteText(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// LoadFrame reads the user, the membership of the workspace slug (when slug is set) and, when
// switcher is true, the user's workspaces, in one round trip, through the same cross-tenant
// lookups as ResolveMembership and UserWorkspaces. A user that does not exist is ErrNotFound.
func LoadFrame(ctx context.Context, db bun.IDB, userID uuid.UUID, slug string, switcher bool) (*RequestFrame, error) {
	var row frameRow
	err := db.NewSelect().Model(&row).Where("u.id = ?", userID).
		ColumnExpr("u.*").ColumnExpr(frameColumns(frameSlug(slug), switcher)).
		Scan(ctx)
	if err != nil {
		return nil, notFound(err, "user")
	}
	return row.frame(switcher)
}

func (row *frameRow) frame(switcher bool) (*RequestFrame, error) {
	f := &RequestFrame{User: &row.User, SecondFactor: row.SecondFactor}
	if len(row.Member) > 0 {
		var m frameMembership
		if err := json.Unmarshal(row.Member, &m); err != nil {
			return nil, fmt.Errorf("frame membership: %w", err)
		}
		mm := m.membership()
		f.Membership = &mm
	}
	if switcher {
		var ws []frameMembership
		if err := json.Unmarshal(row.List, &ws); err != nil {
			return nil, fmt.Errorf("frame workspaces: %w", err)
		}
		f.Workspaces = make([]Membership, 0, len(ws))
		for _, w := range ws {
			f.Workspaces = append(f.Workspaces, w.membership())
		}
	}
	return f, nil
}
