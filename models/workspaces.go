package models

import (
	"context"
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
	CreatedAt time.Time `bun:"created_at,nullzero,notnull,default:current_timestamp"`
}

// Member is a user's membership in a workspace (the memo's UserWorkspace).
type Member struct {
	bun.BaseModel `bun:"table:workspace_members,alias:m"`
	Scoped

	UserID     uuid.UUID  `bun:"user_id,pk,type:uuid"`
	Role       Role       `bun:"role"`
	CreatedAt  time.Time  `bun:"created_at,nullzero,notnull,default:current_timestamp"`
	LastSeenAt *time.Time `bun:"last_seen_at"`

	User *User `bun:"rel:belongs-to,join:user_id=id"`
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
func CreateWorkspace(ctx context.Context, db bun.IDB, creator *User, name, slug string) (*Workspace, error) {
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
	ws := &Workspace{ID: NewID(), Name: name, Slug: slug, Tier: TierFree}
	err := InWorkspace(ctx, db, ws.ID, func(ctx context.Context, tn *Tenant) error {
		if _, err := tn.db().NewInsert().Model(ws).Exec(ctx); err != nil {
			return err
		}
		m := &Member{UserID: creator.ID, Role: RoleOwner}
		if _, err := tn.db().NewInsert().Model(m).Exec(ctx); err != nil {
			return err
		}
		return Record(ctx, tn, Event{ActorUserID: creator.ID, Action: "workspace.create", Target: slug,
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
