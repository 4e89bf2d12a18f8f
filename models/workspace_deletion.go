package models

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// DeletionGrace is how long a deleted workspace can be restored by its owners; after it the
// retention job erases it for good.
const DeletionGrace = 30 * 24 * time.Hour

// RestoreBy is the last moment a workspace deleted at deletedAt can be restored.
func RestoreBy(deletedAt time.Time) time.Time { return deletedAt.Add(DeletionGrace) }

// DeletionMail composes the email that tells an owner how to restore a workspace just deleted;
// nil sends none (mail not configured).
type DeletionMail func(ws *Workspace, to string, restoreBy time.Time) *Mail

// DeleteWorkspace schedules the tenant's workspace for deletion at now: it disappears for its
// members, its API keys stop working (the key lookup refuses it, and the change notifies every
// process's key cache at commit), its address stays taken, and its owners may restore it until
// RestoreBy(now); after that the retention job erases it (EraseDeletedWorkspaces). Only an owner
// may, and only with the workspace's address typed as confirm. Every owner is mailed how to
// restore it, in the same transaction (mail may be nil). It runs in the workspace's transaction.
func DeleteWorkspace(ctx context.Context, tn *Tenant, actor Actor, confirm string, now time.Time, mail DeletionMail) (*Workspace, error) {
	ws, _, err := lockAs(ctx, tn, actor, ActManageTier, "Only owners delete the workspace.")
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(confirm) != ws.Slug {
		return nil, &ValidationError{Fields: map[string]string{"confirm": "Type the workspace's address, " + ws.Slug + ", to confirm."}}
	}
	now = now.UTC()
	ws.DeletedAt, ws.DeletedBy = &now, &actor.UserID
	if _, err := tn.db().NewUpdate().Model(ws).Column("deleted_at", "deleted_by").WherePK().Exec(ctx); err != nil {
		return nil, fmt.Errorf("schedule workspace deletion: %w", err)
	}
	// Nobody lands in it any more (as the erasure's ON DELETE SET NULL would do).
	if _, err := tn.db().NewRaw("UPDATE users SET last_workspace_id = NULL WHERE last_workspace_id = ?", ws.ID).Exec(ctx); err != nil {
		return nil, fmt.Errorf("forget the last workspace: %w", err)
	}
	restoreBy := RestoreBy(now)
	if err := Record(ctx, tn, Event{At: now, ActorUserID: actor.UserID, Action: "workspace.delete_scheduled", Target: ws.Slug,
		Details: map[string]any{"name": ws.Name, "restore_by": restoreBy.Format(time.RFC3339)}}); err != nil {
		return nil, err
	}
	if err := EmitEvent(ctx, tn, "workspace.deleted", map[string]any{"id": ws.ID.String(), "slug": ws.Slug, "name": ws.Name,
		"restore_by": restoreBy.Format(time.RFC3339)}, now); err != nil {
		return nil, err
	}
	if mail == nil {
		return ws, nil
	}
	var owners []struct {
		ID    uuid.UUID `bun:"id"`
		Email string    `bun:"email"`
	}
	if err := tn.db().NewRaw(`SELECT u.id, u.email::text AS email FROM workspace_members AS m JOIN users AS u ON u.id = m.user_id
		WHERE m.workspace_id = ? AND m.role = 'owner' ORDER BY u.email`, ws.ID).Scan(ctx, &owners); err != nil {
		return nil, fmt.Errorf("owners to tell: %w", err)
	}
	for _, o := range owners {
		m := mail(ws, o.Email, restoreBy)
		if m == nil {
			continue
		}
		key := "workspace-deleted:" + ws.ID.String() + ":" + now.Format(time.RFC3339Nano) + ":" + o.ID.String()
		if err := QueueWorkspaceMail(ctx, tn, key, *m, now); err != nil {
			return nil, err
		}
	}
	return ws, nil
}

// DeletedWorkspace is a workspace scheduled for deletion, as one of its owners sees it.
type DeletedWorkspace struct {
	ID        uuid.UUID `bun:"id"`
	Name      string    `bun:"name"`
	Slug      string    `bun:"slug"`
	Tier      Tier      `bun:"tier"`
	Role      Role      `bun:"role"`
	DeletedAt time.Time `bun:"deleted_at"`
}

// RestoreBy is the last moment it can be restored.
func (d *DeletedWorkspace) RestoreBy() time.Time { return RestoreBy(d.DeletedAt) }

// Restorable reports whether it can still be restored at now.
func (d *DeletedWorkspace) Restorable(now time.Time) bool { return now.Before(d.RestoreBy()) }

// DeletedWorkspaces lists the workspaces scheduled for deletion that userID owns, newest deletion
// first (their workspace list offers to restore them).
func DeletedWorkspaces(ctx context.Context, db bun.IDB, userID uuid.UUID) ([]DeletedWorkspace, error) {
	var out []DeletedWorkspace
	err := db.NewRaw("SELECT * FROM atrium_user_deleted_workspaces(?)", userID).Scan(ctx, &out)
	return out, err
}

// RestoreWorkspace takes the workspace slug back from its deletion: members, keys and everything
// in it work again at once. Only an owner may, and only until RestoreBy of its deletion, at now;
// for anybody else the workspace does not exist (ErrNotFound). Restoring one that is not
// scheduled (restored a moment ago) changes nothing.
func RestoreWorkspace(ctx context.Context, db bun.IDB, user *User, slug string, now time.Time) (*Workspace, error) {
	var found []DeletedWorkspace
	if err := db.NewRaw("SELECT * FROM atrium_user_deleted_workspaces(?) WHERE slug = ?", user.ID, slug).Scan(ctx, &found); err != nil {
		return nil, fmt.Errorf("find deleted workspace: %w", err)
	}
	if len(found) == 0 {
		return nil, Errorf(ErrNotFound, "workspace not found")
	}
	var ws *Workspace
	err := InWorkspace(ctx, db, found[0].ID, func(ctx context.Context, tn *Tenant) error {
		var err error
		if ws, err = lockAnyWorkspace(ctx, tn); err != nil {
			return err
		}
		if ws.DeletedAt == nil {
			return nil
		}
		if _, err := confirmActor(ctx, tn, Actor{UserID: user.ID, Role: RoleOwner}); err != nil {
			return Errorf(ErrNotFound, "workspace not found")
		}
		if !now.Before(RestoreBy(*ws.DeletedAt)) {
			return Errorf(ErrConflict, "%s can no longer be restored: the 30 days to restore it ended on %s.",
				ws.Name, RestoreBy(*ws.DeletedAt).UTC().Format("Jan 2, 2006 15:04 UTC"))
		}
		deletedAt := *ws.DeletedAt
		ws.DeletedAt, ws.DeletedBy = nil, nil
		if _, err := tn.db().NewUpdate().Model(ws).Column("deleted_at", "deleted_by").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("restore workspace: %w", err)
		}
		return Record(ctx, tn, Event{At: now, ActorUserID: user.ID, Action: "workspace.restore", Target: ws.Slug,
			Details: map[string]any{"deleted_at": deletedAt.UTC().Format(time.RFC3339)}})
	})
	if err != nil {
		return nil, err
	}
	return ws, nil
}

// EraseDeletedWorkspaces erases for good, at now, the workspaces deleted more than DeletionGrace
// ago, with everything in them: members, invitations, API keys, agents, tasks, usage and their
// audit log. Each goes in its own transaction, and a platform event remembers it (its own audit
// log goes with it). The retention job runs it; it answers how many it erased.
func EraseDeletedWorkspaces(ctx context.Context, db bun.IDB, now time.Time) (int, error) {
	before := now.Add(-DeletionGrace)
	erased := 0
	for range RetentionMaxBatches {
		var ids []uuid.UUID
		if err := db.NewRaw("SELECT * FROM atrium_workspaces_to_erase(?, ?)", before, 100).Scan(ctx, &ids); err != nil {
			return erased, fmt.Errorf("workspaces to erase: %w", err)
		}
		for _, id := range ids {
			err := InWorkspace(ctx, db, id, func(ctx context.Context, tn *Tenant) error {
				ws, err := lockAnyWorkspace(ctx, tn)
				if err != nil {
					return err
				}
				if ws.DeletedAt == nil || !ws.DeletedAt.Before(before) {
					return nil // restored meanwhile
				}
				var by uuid.UUID
				if ws.DeletedBy != nil {
					by = *ws.DeletedBy
				}
				if err := RecordPlatform(ctx, tn.db(), Event{At: now, ActorUserID: by, Action: "workspace.delete", Target: ws.Slug,
					Details: map[string]any{"workspace_id": ws.ID.String(), "name": ws.Name, "tier": ws.Tier,
						"deleted_at": ws.DeletedAt.UTC().Format(time.RFC3339)}}); err != nil {
					return err
				}
				if _, err := tn.db().NewDelete().Model(ws).WherePK().Exec(ctx); err != nil {
					return fmt.Errorf("erase workspace: %w", err)
				}
				erased++
				return nil
			})
			if err != nil {
				return erased, err
			}
		}
		if len(ids) < 100 {
			break
		}
	}
	return erased, nil
}

// SupportDeletion is a workspace scheduled for deletion, as support sees it.
type SupportDeletion struct {
	Name      string     `bun:"name"`
	Slug      string     `bun:"slug"`
	Tier      Tier       `bun:"tier"`
	DeletedAt time.Time  `bun:"deleted_at"`
	DeletedBy *uuid.UUID `bun:"deleted_by"`
	ByEmail   string     `bun:"by_email"`
	Total     int        `bun:"total"`
}

// EraseAfter is when the retention job erases it.
func (d *SupportDeletion) EraseAfter() time.Time { return RestoreBy(d.DeletedAt) }

// SupportDeletions is one page (from 1) of the workspaces scheduled for deletion, the most
// recent deletion first, with who deleted each, and how many there are. Only support staff may
// read it (anyone else: ErrNotFound); it reads across tenants in a read-only transaction.
func SupportDeletions(ctx context.Context, db bun.IDB, viewer *User, page int) ([]SupportDeletion, int, error) {
	if viewer == nil || !viewer.IsSupport() {
		return nil, 0, Errorf(ErrNotFound, "not found")
	}
	page = min(max(page, 1), maxListPage)
	var rows []SupportDeletion
	err := ReadAcrossTenants(ctx, db, "support: scheduled deletions", func(ctx context.Context, all *AllTenants) error {
		return all.db().NewRaw(`SELECT w.name, w.slug, w.tier, w.deleted_at, w.deleted_by, coalesce(u.email::text, '') AS by_email,
			count(*) OVER () AS total
			FROM workspaces AS w LEFT JOIN users AS u ON u.id = w.deleted_by
			WHERE w.deleted_at IS NOT NULL ORDER BY w.deleted_at DESC, w.slug LIMIT ? OFFSET ?`,
			SupportPageSize, (page-1)*SupportPageSize).Scan(ctx, &rows)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("scheduled deletions: %w", err)
	}
	total := 0
	if len(rows) > 0 {
		total = rows[0].Total
	}
	return rows, total, nil
}
